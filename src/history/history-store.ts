// The small interface a history backend implements (embedded log file, MariaDB):
// what it hands back at start, and the grouped writes the writer sends it.
// Nothing here knows about rooms' members or sockets.

import type { HistoryEntry } from './room-log';

/** One room's history as the store had it. */
export interface StoredHistory {
  room: string;
  epoch: string;
  lastSeq: number;
  /** Oldest first; only entries written under `epoch`. */
  entries: HistoryEntry[];
  /**
   * True when the process that wrote it stopped cleanly (every seq it gave out
   * is in the store). False after a crash: seqs past the store's may have been
   * given to other messages, so the epoch must not be reused.
   */
  clean: boolean;
}

/**
 * Writes for one room, in order. `replace`: forget what the store holds for the
 * room (another epoch, or a gap the store can no longer fill) and keep exactly
 * `entries`; otherwise `entries` follow on from the store's last seq.
 */
export type HistoryOp =
  | { kind: 'write'; room: string; epoch: string; lastSeq: number; replace: boolean; entries: HistoryEntry[] }
  | { kind: 'drop'; room: string };

export interface HistoryStore {
  readonly kind: 'file' | 'mariadb';
  /** Everything kept; afterwards the store counts as "not cleanly stopped" until markClean(). */
  load(now: number): Promise<StoredHistory[]>;
  /** All or nothing where the backend can (one transaction), else in order; rejects on failure. */
  write(ops: readonly HistoryOp[], now: number): Promise<void>;
  /** Deletes a small batch of expired messages; resolves true when there may be more. */
  prune(now: number): Promise<boolean>;
  /** An append-only backend that has grown well past what it holds asks to be rewritten... */
  needsCompaction?(): boolean;
  /** ...from this snapshot of every room's history (which then is all the store holds), read room by room as it writes. */
  compact?(snapshot: Iterable<StoredHistory>): Promise<void>;
  /** After a final write that succeeded: the next load may keep the epochs. */
  markClean(): Promise<void>;
  close(): Promise<void>;
}
