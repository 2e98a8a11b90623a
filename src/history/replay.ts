// What a joining member is sent from the history, right after its welcome and
// before any live message (CONTRACT.md, "History and resume"): the missed
// messages of a resume, or the latest N, within a byte budget. Pure; the server
// writes the frames.

import { Opcode, type DataOpcode } from '../frames/opcodes';
import type { ResumePoint } from '../handshake/join-params';
import { jsonMessageBody } from '../rooms/delivery';
import type { MemberMode } from '../rooms/member';
import type { HistoryEntry, RoomLog } from './room-log';

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
 *
 * `maxBytes` (MAX_BUFFERED_BYTES, the backlog a receiver is allowed) bounds the
 * frames' payloads: a resume with more to replay is not recovered, and history=N
 * sends the latest of the N that fit. Without it, one join into a room of large
 * messages built ~130 MB of frames in one turn (0.36 s of stall, measured) and
 * was then dropped as a slow receiver, so it could never get in with history.
 */
export function planReplay(log: RoomLog, mode: MemberMode, resume: ResumePoint | null, history: number | null, now: number, maxBytes = Number.POSITIVE_INFINITY): ReplayPlan {
  const welcome: ReplayPlan['welcome'] = { epoch: log.epoch, seq: log.lastSeq };
  if (mode === 'json' && resume !== null) {
    const answer = log.resume(resume.since, resume.epoch, now);
    const frames = answer.recovered ? framesWithin(answer.entries, mode, maxBytes) : null;
    welcome.recovered = frames !== null;
    if (frames !== null) return { welcome, frames };
  }
  return { welcome, frames: history === null ? [] : latestWithin(log.latest(history, now), mode, maxBytes) };
}

type Frame = ReplayPlan['frames'][number];

function frameOf(entry: HistoryEntry, mode: MemberMode): Frame {
  return mode === 'raw' ? { opcode: entry.opcode, payload: entry.payload } : { opcode: Opcode.Text, payload: jsonMessageBody(entry) };
}

/** All of `entries` as frames, or null when they would pass `maxBytes` (all or nothing: a resume). */
function framesWithin(entries: HistoryEntry[], mode: MemberMode, maxBytes: number): Frame[] | null {
  const frames: Frame[] = [];
  let bytes = 0;
  for (const entry of entries) {
    const frame = frameOf(entry, mode);
    bytes += frame.payload.length;
    if (bytes > maxBytes) return null;
    frames.push(frame);
  }
  return frames;
}

/** The newest of `entries` whose frames fit in `maxBytes`, oldest first (history=N). */
function latestWithin(entries: HistoryEntry[], mode: MemberMode, maxBytes: number): Frame[] {
  const frames: Frame[] = [];
  let bytes = 0;
  for (let i = entries.length - 1; i >= 0; i--) {
    const frame = frameOf(entries[i]!, mode);
    bytes += frame.payload.length;
    if (bytes > maxBytes) break;
    frames.push(frame);
  }
  return frames.reverse();
}
