// One room's history: its epoch, the last seq given out, and a ring of the
// latest HISTORY_SIZE messages none older than HISTORY_TTL. Pure (time is passed
// in); the resume rule of CONTRACT.md ("History and resume") lives here.

import type { DataOpcode } from '../frames/opcodes';

export interface HistoryEntry {
  seq: number;
  opcode: DataOpcode;
  from: string;
  /** ms since the epoch */
  ts: number;
  payload: Buffer;
}

export interface HistoryLimits {
  /** messages kept per room; 0 keeps none (seq still counts) */
  size: number;
  /** ms a message is kept */
  ttlMs: number;
}

/** What every room's kept messages add up to, shared by all RoomLogs of a process. */
export interface HistoryBudget {
  bytes: number;
  entries: number;
}

/** Memory a kept message costs, roughly: its payload, its sender's name, and the entry itself. */
export function entryBytes(entry: HistoryEntry): number {
  return entry.payload.length + 2 * entry.from.length + 96;
}

/**
 * The payload itself when it (nearly) fills its memory: nothing writes into a
 * relayed payload once it is a message, and a large one is not copied again. A
 * view into a much larger socket chunk is copied, so a kept message never pins
 * more than a third beyond what the memory bound counts.
 */
function ownable(payload: Buffer): Buffer {
  return payload.length * 4 >= payload.buffer.byteLength * 3 ? payload : Buffer.from(payload);
}

/** The answer to `?since=SEQ&epoch=EPOCH`: all missed messages, or none. */
export type Resume = { recovered: true; entries: HistoryEntry[] } | { recovered: false };

export class RoomLog {
  /**
   * Kept messages, oldest first, from `head` on; their seqs are consecutive and end
   * at lastSeq when any is kept. Dropping the oldest only moves `head` (a ring's cost,
   * not a shift of every kept message per append); the dropped slots are cut off
   * once they outnumber the kept ones, or when the kept list is handed out.
   */
  private entries: HistoryEntry[];
  private head = 0;

  constructor(
    /** Names one unbroken history: a (epoch, seq) pair never names two messages. */
    readonly epoch: string,
    /** The latest seq given out in this epoch; 0 before the first message. */
    private last: number,
    entries: HistoryEntry[],
    private readonly limits: HistoryLimits,
    private readonly budget: HistoryBudget = { bytes: 0, entries: 0 },
  ) {
    const whole = consecutiveTail(entries, last);
    this.entries = limits.size > 0 ? whole.slice(Math.max(0, whole.length - limits.size)) : [];
    for (const entry of this.entries) this.count(entry, 1);
  }

  /** The bytes this room's kept messages cost (see entryBytes). */
  bytes = 0;
  /** The room's history ended (room gone, or created again under a new epoch): nothing of it is kept any more. */
  released = false;

  get lastSeq(): number {
    return this.last;
  }

  /** Gives `message` the next seq and keeps it; returns that seq. */
  append(opcode: DataOpcode, from: string, payload: Buffer, ts: number): number {
    const seq = ++this.last;
    if (this.limits.size > 0) {
      const entry = { seq, opcode, from, ts, payload: ownable(payload) };
      this.entries.push(entry);
      this.count(entry, 1);
      const kept = this.entries.length - this.head;
      if (kept > this.limits.size) this.dropOldest(kept - this.limits.size);
    }
    return seq;
  }

  /** What is kept at `now`, oldest first (expired messages are dropped first). */
  kept(now: number): readonly HistoryEntry[] {
    this.expire(now);
    this.cutDropped();
    return this.entries;
  }

  /** The latest `n` kept messages, oldest first. */
  latest(n: number, now: number): HistoryEntry[] {
    const kept = this.kept(now);
    return n <= 0 ? [] : kept.slice(Math.max(0, kept.length - n));
  }

  /**
   * All-or-nothing: recovered only when every message after `since` is still
   * kept under the same epoch (or there is none), so a client never gets a
   * replay with a hole in it and believes it whole.
   */
  resume(since: number, epoch: string, now: number): Resume {
    if (epoch !== this.epoch || since > this.last) return { recovered: false };
    if (since === this.last) return { recovered: true, entries: [] };
    const kept = this.kept(now);
    const oldest = kept[0];
    if (oldest === undefined || oldest.seq > since + 1) return { recovered: false };
    return { recovered: true, entries: kept.slice(since + 1 - oldest.seq) };
  }

  /** The oldest kept seq, or null when nothing is kept. */
  get oldestSeq(): number | null {
    return this.entries[this.head]?.seq ?? null;
  }

  /** Drops the kept messages up to `seq` (the process-wide memory bound evicting the oldest). */
  dropThrough(seq: number): void {
    let drop = 0;
    while (this.head + drop < this.entries.length && this.entries[this.head + drop]!.seq <= seq) drop++;
    this.dropOldest(drop);
  }

  /** This room's messages leave the budget (the room is gone). */
  release(): void {
    this.released = true;
    this.dropOldest(this.entries.length - this.head);
  }

  private expire(now: number): void {
    const cutoff = now - this.limits.ttlMs;
    let drop = 0;
    while (this.head + drop < this.entries.length && this.entries[this.head + drop]!.ts < cutoff) drop++;
    this.dropOldest(drop);
  }

  private dropOldest(n: number): void {
    if (n <= 0) return;
    const entries = this.entries as (HistoryEntry | undefined)[];
    for (let i = this.head; i < this.head + n; i++) {
      this.count(entries[i]!, -1);
      entries[i] = undefined; // its payload is freed now, not when the slot is cut
    }
    this.head += n;
    if (this.head > 32 && this.head * 2 > this.entries.length) this.cutDropped();
  }

  private cutDropped(): void {
    if (this.head === 0) return;
    this.entries = this.entries.slice(this.head);
    this.head = 0;
  }

  private count(entry: HistoryEntry, sign: 1 | -1): void {
    const bytes = sign * entryBytes(entry);
    this.bytes += bytes;
    this.budget.bytes += bytes;
    this.budget.entries += sign;
  }
}

/**
 * The longest run of entries with consecutive seqs ending at `last`: what a store
 * hands back is trusted only as far as it is provably whole.
 */
function consecutiveTail(entries: HistoryEntry[], last: number): HistoryEntry[] {
  const sorted = [...entries].sort((a, b) => a.seq - b.seq);
  let start = sorted.length;
  let expected = last;
  while (start > 0 && sorted[start - 1]!.seq === expected) {
    start--;
    expected--;
  }
  return sorted.slice(start);
}
