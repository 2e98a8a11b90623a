// The bounded, per-room coalescing queue of writes owed to the store (sans-I/O).
// It decides what is written next and who is told when; it never touches a
// database or a file, so its rules can be tested exhaustively in memory.

import type { PendingOp, WriteOutcome } from './types';

export type Waiter = (outcome: WriteOutcome) => void;

interface Entry {
  op: PendingOp;
  /** bumps on every new op for the room, so an older write's ack cannot erase a newer op */
  seq: number;
  /** callers waiting for this op to be durable */
  waiters: Waiter[];
}

/** One op handed to the backend; its waiters are settled by ack/fail/drop. */
export interface BatchItem {
  op: PendingOp;
  seq: number;
  waiters: Waiter[];
}

export class PendingWrites {
  // Map keeps first-queued order: a long outage drains oldest rooms first, and a
  // room that changes again keeps its place (only its latest op is written).
  private readonly entries = new Map<string, Entry>();
  // Rooms with a caller awaiting durability go first, so a join does not wait
  // behind an outage's backlog while that backlog drains.
  private readonly urgent = new Set<string>();
  private nextSeq = 1;

  constructor(readonly limit: number) {}

  get size(): number {
    return this.entries.size;
  }

  has(room: string): boolean {
    return this.entries.has(room);
  }

  /** The room's latest op, if it has one queued (or in flight). */
  opOf(room: string): PendingOp | undefined {
    return this.entries.get(room)?.op;
  }

  /** Every room's latest op, first-queued first: what is still owed (for the spill at close). */
  ops(): PendingOp[] {
    return [...this.entries.values()].map((entry) => entry.op);
  }

  /** True when a room not yet queued would exceed the bound. */
  isFullFor(room: string): boolean {
    return !this.entries.has(room) && this.entries.size >= this.limit;
  }

  /**
   * Queues op as the room's latest; the caller checks isFullFor first when the bound applies.
   * A save that supersedes a remove (or a save that itself replaced one) of the
   * same room is a new incarnation of the room: it is marked `replaces`, so it is
   * written over the old row rather than merged into it. This holds even when the
   * remove is in flight: writing the new room as a replacement twice is harmless.
   */
  put(op: PendingOp, waiter?: Waiter): number {
    const seq = this.nextSeq++;
    const entry = this.entries.get(op.room);
    if (entry && op.kind === 'save' && op.replaces !== true && (entry.op.kind === 'remove' || entry.op.replaces === true)) {
      op = { ...op, replaces: true };
    }
    if (entry) {
      entry.op = op;
      entry.seq = seq;
      if (waiter) entry.waiters.push(waiter);
    } else {
      this.entries.set(op.room, { op, seq, waiters: waiter ? [waiter] : [] });
    }
    if (waiter) this.urgent.add(op.room);
    return seq;
  }

  /** The room's latest op and its seq, if queued. */
  current(room: string): { op: PendingOp; seq: number } | undefined {
    const entry = this.entries.get(room);
    return entry && { op: entry.op, seq: entry.seq };
  }

  /** Every room's latest op with its seq, first-queued first (what the outage journal is rewritten with). */
  snapshot(): { op: PendingOp; seq: number }[] {
    return [...this.entries.values()].map((entry) => ({ op: entry.op, seq: entry.seq }));
  }

  /**
   * Takes back the op put as `seq`, if it is still the room's latest: the room
   * returns to `to` (an op kept elsewhere, with its seq) or leaves the queue.
   * Used when a write could not be made durable anywhere and was refused.
   */
  revert(room: string, seq: number, to: { op: PendingOp; seq: number } | undefined): boolean {
    const entry = this.entries.get(room);
    if (!entry || entry.seq !== seq) return false;
    if (to) {
      entry.op = to.op;
      entry.seq = to.seq;
    } else {
      // Only an op without callers is taken back (they were told already), so none is lost here.
      this.entries.delete(room);
      this.urgent.delete(room);
    }
    return true;
  }

  /**
   * The room's latest op is to be written again with these callers waiting on it
   * (first): a new seq, so the ack of a write already in flight does not forget it.
   * False if the room has nothing queued.
   */
  rewait(room: string, waiters: readonly Waiter[]): boolean {
    const entry = this.entries.get(room);
    if (!entry) return false;
    entry.seq = this.nextSeq++;
    entry.waiters.push(...waiters);
    if (entry.waiters.length > 0) this.urgent.add(room);
    return true;
  }

  /**
   * Up to max ops to write now, waiting callers first. Entries stay queued until
   * acked, so a failed write loses nothing; the waiters move to the batch, so
   * callers that arrive meanwhile wait for the next write of their room.
   */
  takeBatch(max: number): BatchItem[] {
    const out: BatchItem[] = [];
    const taken = new Set<string>();
    const take = (room: string, entry: Entry) => {
      out.push({ op: entry.op, seq: entry.seq, waiters: entry.waiters });
      entry.waiters = [];
      taken.add(room);
      this.urgent.delete(room);
    };
    for (const room of this.urgent) {
      if (out.length >= max) break;
      const entry = this.entries.get(room);
      if (entry) take(room, entry);
      else this.urgent.delete(room);
    }
    for (const [room, entry] of this.entries) {
      if (out.length >= max) break;
      if (!taken.has(room)) take(room, entry);
    }
    return out;
  }

  /** The batch is durable: forget ops not superseded meanwhile, tell their callers. */
  ack(items: readonly BatchItem[]): void {
    for (const item of items) {
      this.forgetIfCurrent(item);
      settle(item.waiters, 'durable');
    }
  }

  /** The batch was not written (store down): ops stay queued, callers hear 'queued'. */
  fail(items: readonly BatchItem[]): void {
    for (const item of items) settle(item.waiters, 'queued');
  }

  /** The database rejected this op's data for good: it is not retried. */
  drop(item: BatchItem): void {
    this.forgetIfCurrent(item);
    settle(item.waiters, 'refused');
  }

  /** Takes every waiting caller off its entry (with the room and the seq it waits for), ops kept. */
  detachWaiters(): { room: string; seq: number; waiter: Waiter }[] {
    const out: { room: string; seq: number; waiter: Waiter }[] = [];
    for (const [room, entry] of this.entries) {
      for (const waiter of entry.waiters) out.push({ room, seq: entry.seq, waiter });
      entry.waiters = [];
    }
    this.urgent.clear();
    return out;
  }

  /** Tells every waiting caller outcome without forgetting their ops (used at close). */
  releaseWaiters(outcome: WriteOutcome): void {
    for (const entry of this.entries.values()) {
      settle(entry.waiters, outcome);
      entry.waiters = [];
    }
    this.urgent.clear();
  }

  private forgetIfCurrent(item: BatchItem): void {
    const entry = this.entries.get(item.op.room);
    if (entry && entry.seq === item.seq) {
      // A caller that arrived after the take came with a new op and so a new seq:
      // an entry whose seq still matches has no waiters left.
      this.entries.delete(item.op.room);
      this.urgent.delete(item.op.room);
    }
  }
}

export function settle(waiters: readonly Waiter[], outcome: WriteOutcome): void {
  for (const w of waiters) w(outcome);
}
