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

/** The answer to `?since=SEQ&epoch=EPOCH`: all missed messages, or none. */
export type Resume = { recovered: true; entries: HistoryEntry[] } | { recovered: false };

export class RoomLog {
  /** Kept messages, oldest first; their seqs are consecutive and end at lastSeq when any is kept. */
  private entries: HistoryEntry[];

  constructor(
    /** Names one unbroken history: a (epoch, seq) pair never names two messages. */
    readonly epoch: string,
    /** The latest seq given out in this epoch; 0 before the first message. */
    private last: number,
    entries: HistoryEntry[],
    private readonly limits: HistoryLimits,
  ) {
    const whole = consecutiveTail(entries, last);
    this.entries = limits.size > 0 ? whole.slice(Math.max(0, whole.length - limits.size)) : [];
  }

  get lastSeq(): number {
    return this.last;
  }

  /** Gives `message` the next seq and keeps it; returns that seq. */
  append(opcode: DataOpcode, from: string, payload: Buffer, ts: number): number {
    const seq = ++this.last;
    if (this.limits.size > 0) {
      // A copy: the relayed payload may be a view into a larger socket chunk we must not pin.
      this.entries.push({ seq, opcode, from, ts, payload: Buffer.from(payload) });
      if (this.entries.length > this.limits.size) this.entries.splice(0, this.entries.length - this.limits.size);
    }
    return seq;
  }

  /** What is kept at `now`, oldest first (expired messages are dropped first). */
  kept(now: number): readonly HistoryEntry[] {
    this.expire(now);
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

  private expire(now: number): void {
    const cutoff = now - this.limits.ttlMs;
    let drop = 0;
    while (drop < this.entries.length && this.entries[drop]!.ts < cutoff) drop++;
    if (drop > 0) this.entries.splice(0, drop);
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
