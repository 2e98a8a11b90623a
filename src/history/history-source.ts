// Where a room's seqs, epoch and kept messages come from, as the registry and the
// join path see them: this process's RoomHistory (single process), or Redis, shared
// by every node of a cluster (src/cluster/cluster-history.ts).

import type { ResumePoint } from '../handshake/join-params';
import type { RoomMessage } from '../rooms/delivery';
import type { MemberMode } from '../rooms/member';
import type { Room } from '../rooms/room';
import { type ReplayPlan, planReplay } from './replay';
import type { RoomHistory } from './room-history';
import type { RoomLog } from './room-log';

/**
 * What a joining member is told, taken after the room's traffic reaches this
 * process: the welcome's epoch and seq, the replay, and the live messages that
 * arrived after the view was taken but before the member joined (none when the
 * view is read in the same turn as the join).
 */
export interface JoinView {
  /** `maxBytes`: what the replay's frames may hold together (replay.ts). */
  plan(mode: MemberMode, wanted: ReplayWanted, now: number, maxBytes?: number): ReplayPlan;
  /** Live messages with a seq above the view's, oldest first: sent right after the replay. */
  missed(): RoomMessage[];
  /** The member joined or gave up: stop collecting. Idempotent. */
  done(): void;
}

/**
 * What a join asks to be replayed (CONTRACT.md, "History and resume"): a view
 * read from elsewhere (Redis) need hold only the messages these can use, not the
 * whole history. `resume` only in JSON mode, where it applies.
 */
export interface ReplayWanted {
  resume: ResumePoint | null;
  history: number | null;
}

/** A join that asks for no replay. */
export const NO_REPLAY: ReplayWanted = { resume: null, history: null };

/** What a join's parameters ask replayed: a resume only in JSON mode (raw mode has no welcome to answer it in). */
export function replayWanted(json: boolean, resume: ResumePoint | null | undefined, history: number | null | undefined): ReplayWanted {
  return { resume: json ? (resume ?? null) : null, history: history ?? null };
}

export interface HistorySource {
  /** Gives the message its seq now, or leaves it to the delivery (a cluster sequences in Redis). */
  sequence(room: Room, message: RoomMessage): void;
  /** A room was created: a new history under a new epoch. */
  created(key: string): void;
  /** A room was closed or purged: its history and epoch end. */
  removed(key: string): void;
  /** A view at once, or null when it must be read (call view()). */
  viewNow(room: Room): JoinView | null;
  /** Reads the view, holding at least what `wanted` can use; never rejects (a cluster that cannot read Redis answers from this node). */
  view(room: Room, wanted: ReplayWanted): Promise<JoinView>;
}

/** A view of a log read in the same turn as the join: nothing can come between. */
export function logView(log: RoomLog): JoinView {
  return {
    plan: (mode, wanted, now, maxBytes) => planReplay(log, mode, wanted.resume, wanted.history, now, maxBytes),
    missed: () => [],
    done: () => undefined,
  };
}

/** The single process: seqs, epochs and history in this process (and its history store). */
export class LocalHistorySource implements HistorySource {
  constructor(readonly history: RoomHistory) {}

  sequence(room: Room, message: RoomMessage): void {
    message.seq = this.history.append(room.key, message.opcode, message.from, message.payload, message.ts);
  }

  created(key: string): void {
    this.history.created(key);
  }

  removed(key: string): void {
    this.history.removed(key);
  }

  viewNow(room: Room): JoinView {
    return logView(this.history.of(room.key));
  }

  view(room: Room): Promise<JoinView> {
    // The whole history is in memory: nothing to choose.
    return Promise.resolve(this.viewNow(room));
  }
}
