// What a joining member is sent from the history, right after its welcome and
// before any live message (CONTRACT.md, "History and resume"): the missed
// messages of a resume, or the latest N. Pure; the server writes the frames.

import { Opcode, type DataOpcode } from '../frames/opcodes';
import type { ResumePoint } from '../handshake/join-params';
import { jsonMessageBody } from '../rooms/delivery';
import type { MemberMode } from '../rooms/member';
import type { RoomLog } from './room-log';

export interface ReplayPlan {
  /** For the JSON welcome: epoch, latest seq, and `recovered` when a resume was asked. */
  welcome: { epoch: string; seq: number; recovered?: boolean };
  frames: { opcode: DataOpcode; payload: Buffer }[];
}

/**
 * JSON mode: a resume that is recovered replays exactly the messages after
 * `since`; one that is not replays none of them (history=N, if also asked, then
 * sends the latest N as on a first join). Raw mode has no welcome to say whether
 * a resume worked, so only history=N applies there.
 */
export function planReplay(log: RoomLog, mode: MemberMode, resume: ResumePoint | null, history: number | null, now: number): ReplayPlan {
  const welcome: ReplayPlan['welcome'] = { epoch: log.epoch, seq: log.lastSeq };
  let entries = history === null ? [] : log.latest(history, now);
  if (mode === 'json' && resume !== null) {
    const answer = log.resume(resume.since, resume.epoch, now);
    welcome.recovered = answer.recovered;
    if (answer.recovered) entries = answer.entries;
  }
  const frames = entries.map((entry) =>
    mode === 'raw' ? { opcode: entry.opcode, payload: entry.payload } : { opcode: Opcode.Text, payload: jsonMessageBody(entry) },
  );
  return { welcome, frames };
}
