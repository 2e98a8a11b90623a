// The small interface a history backend implements (embedded log file, MariaDB):
// what it hands back at start, and the grouped writes the writer sends it.
// Nothing here knows about rooms' members or sockets.

import type { DataOpcode } from '../frames/opcodes';
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
 * One message of a run, as it is kept: its payload is `bytes[start, start + length)`,
 * to be copied or written now, not kept; `view`, a DataView over `bytes` when the
 * keeper has one (a slab), else null.
 */
export type MessageVisitor = (seq: number, opcode: DataOpcode, ts: number, from: string, bytes: Buffer, start: number, length: number, view: DataView | null) => void;

/**
 * A room's consecutive messages, read where they are kept (a log's ring), with no
 * object made per message: each grouped write and each compaction
 * encode them straight from there. A run read from a ring holds only until the
 * relay appends again, so a store reads it before its first await.
 */
export interface MessageRun {
  readonly length: number;
  /** The first message's seq (0 when the run is empty). */
  readonly firstSeq: number;
  /** Each message, oldest first. */
  forEach(visit: MessageVisitor): void;
  /** The messages as entries (a store that keeps rows, a test). */
  entries(): HistoryEntry[];
}

/** Entries already made (loaded, or built by a test) as a run. */
export function runOf(entries: readonly HistoryEntry[]): MessageRun {
  return {
    length: entries.length,
    firstSeq: entries[0]?.seq ?? 0,
    forEach: (visit) => {
      for (const e of entries) visit(e.seq, e.opcode, e.ts, e.from, e.payload, 0, e.payload.length, null);
    },
    entries: () => [...entries],
  };
}

/**
 * Writes for one room, in order. `replace`: forget what the store holds for the
 * room (another epoch, or a gap the store can no longer fill) and keep exactly
 * `messages`; otherwise `messages` follow on from the store's last seq.
 */
export type HistoryOp =
  | WriteOp
  | { kind: 'drop'; room: string };

export interface WriteOp {
  kind: 'write';
  room: string;
  epoch: string;
  lastSeq: number;
  replace: boolean;
  messages: MessageRun;
}

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
  compact?(snapshot: Iterable<WriteOp>): Promise<void>;
  /** After a final write that succeeded: the next load may keep the epochs. */
  markClean(): Promise<void>;
  close(): Promise<void>;
}
