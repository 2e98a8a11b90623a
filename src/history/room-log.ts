// One room's history: its epoch, the last seq given out, and a ring of the
// latest HISTORY_SIZE messages none older than HISTORY_TTL. Pure (time is passed
// in); the resume rule of CONTRACT.md ("History and resume") lives here.

import type { DataOpcode } from '../frames/opcodes';
import type { MessageRun, MessageVisitor } from './history-store';
import { PayloadSlabs, type Slab, type SlabOwner } from './payload-slabs';

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
  return messageBytes(entry.payload.length, entry.from);
}

function messageBytes(payloadBytes: number, from: string): number {
  return payloadBytes + 2 * from.length + 96;
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

/** Payloads up to this size are copied into the process's slabs; larger ones are kept as they are (few objects, no copy). */
const SLAB_PAYLOAD_MAX = 4096;
const NO_NUMBERS = new Float64Array(0);
const NO_REFS: SlotRef[] = [];
/**
 * A slot's numbers, side by side in `numbers` (NUMBERS_PER_SLOT each): when the
 * message was relayed, its process-wide arrival stamp, where its payload starts in
 * its slab (-1: kept whole), and its length × 16 + opcode. Four doubles are half a
 * cache line, so keeping a message touches one line of numbers and one of refs,
 * not one per field (the rings of 500 rooms do not stay in cache).
 */
const TS = 0;
const STAMP = 1;
const START = 2;
const LENGTH_OPCODE = 3;
const NUMBERS_PER_SLOT = 4;
/** A slot's references, side by side in `refs`: the sender's name, then the payload's slab (or the payload, kept whole). */
const SENDER = 0;
const HOLDER = 1;
const REFS_PER_SLOT = 2;
type SlotRef = string | Slab | Buffer | undefined;
/** Arrival order of kept messages across every room of the process (ties of time in the eviction order). */
let lastStamp = 0;

/**
 * Kept messages live in typed arrays, their small payloads in the process's
 * slabs (payload-slabs.ts), not as an object (and a Buffer) each: a room's ring is
 * a handful of objects however many messages it keeps, so the garbage collector
 * has nothing to copy or mark per message (the many-rooms profile: surviving
 * history objects set the p99). Entries are made when asked for (a write, a
 * replay), and die young.
 */
export class RoomLog implements SlabOwner {
  /** Ring slots allocated (grows by doubling up to HISTORY_SIZE), the oldest kept slot, and how many are kept. */
  private capacity = 0;
  private head = 0;
  private count = 0;
  // Shared empty arrays until the first message (grow() replaces them before anything is written):
  // a room that never hears a message costs no arrays of its own.
  private numbers = NO_NUMBERS;
  private refs = NO_REFS;

  constructor(
    /** Names one unbroken history: a (epoch, seq) pair never names two messages. */
    readonly epoch: string,
    /** The latest seq given out in this epoch; 0 before the first message. */
    private last: number,
    entries: HistoryEntry[],
    private readonly limits: HistoryLimits,
    private readonly budget: HistoryBudget = { bytes: 0, entries: 0 },
    /** Shared by every room of a process (RoomHistory); its own when a log stands alone. */
    private readonly payloadSlabs: PayloadSlabs = new PayloadSlabs(),
  ) {
    const whole = consecutiveTail(entries, last);
    if (limits.size === 0) return;
    // Kept one by one with `last` following, so a seq names its slot at every step: the slabs may
    // ask this log to move a payload while it is still being filled.
    for (const entry of whole.slice(Math.max(0, whole.length - limits.size))) {
      this.last = entry.seq;
      this.keep(entry.seq, entry.opcode, entry.from, entry.payload, entry.ts);
    }
  }

  /** The bytes this room's kept messages cost (see entryBytes). */
  bytes = 0;
  /** The room's history ended (room gone, or created again under a new epoch): nothing of it is kept any more. */
  released = false;
  /** Where the process-wide eviction order (oldest-first.ts) holds this log; -1 when it does not. */
  heapAt = -1;
  /**
   * The history writer's per-room state (history-writer.ts), kept here so the relay
   * path finds it without a lookup: whether the log waits in the writer's list, and
   * the last seq the store holds under this epoch (-1: unknown, the next write replaces).
   */
  queued = false;
  storedSeq = -1;

  get lastSeq(): number {
    return this.last;
  }

  /** Gives `message` the next seq and keeps it; returns that seq. */
  append(opcode: DataOpcode, from: string, payload: Buffer, ts: number): number {
    const seq = ++this.last;
    if (this.limits.size > 0) {
      if (this.count >= this.limits.size) this.dropOldest(this.count - this.limits.size + 1);
      this.keep(seq, opcode, from, payload, ts);
    }
    return seq;
  }

  /** What is kept at `now`, oldest first (expired messages are dropped first), made now: the caller owns the array. */
  kept(now: number): HistoryEntry[] {
    this.expire(now);
    return this.slice(0);
  }

  /** The kept messages after `seq`, read in the ring (history-store.ts, MessageRun): what a write owes when the store has up to `seq`. */
  runAfter(seq: number, now: number): MessageRun {
    this.expire(now);
    return this.run(Math.max(0, seq + 1 - this.oldest()));
  }

  /** Everything kept at `now`, read in the ring: what a write that replaces, or a compaction, holds of this room. */
  keptRun(now: number): MessageRun {
    this.expire(now);
    return this.run(0);
  }

  /** The latest `n` kept messages, oldest first. */
  latest(n: number, now: number): HistoryEntry[] {
    this.expire(now);
    return n <= 0 ? [] : this.slice(Math.max(0, this.count - n));
  }

  /**
   * All-or-nothing: recovered only when every message after `since` is still
   * kept under the same epoch (or there is none), so a client never gets a
   * replay with a hole in it and believes it whole.
   */
  resume(since: number, epoch: string, now: number): Resume {
    if (epoch !== this.epoch || since > this.last) return { recovered: false };
    if (since === this.last) return { recovered: true, entries: [] };
    this.expire(now);
    if (this.count === 0 || this.oldest() > since + 1) return { recovered: false };
    return { recovered: true, entries: this.slice(since + 1 - this.oldest()) };
  }

  /** The oldest kept seq, or null when nothing is kept. */
  get oldestSeq(): number | null {
    return this.count === 0 ? null : this.oldest();
  }

  /** When the oldest kept message was relayed (only meaningful while one is kept). */
  get oldestTs(): number {
    return this.count === 0 ? 0 : this.numbers[this.head * NUMBERS_PER_SLOT + TS]!;
  }

  /** The oldest kept message's process-wide arrival stamp, or -1 when nothing is kept. */
  get oldestStamp(): number {
    return this.count === 0 ? -1 : this.numbers[this.head * NUMBERS_PER_SLOT + STAMP]!;
  }

  /** Drops the kept messages up to `seq` (the process-wide memory bound evicting the oldest). */
  dropThrough(seq: number): void {
    if (this.count > 0) this.dropOldest(Math.min(this.count, seq + 1 - this.oldest()));
  }

  /** This room's messages leave the budget (the room is gone). */
  release(): void {
    this.released = true;
    this.dropOldest(this.count);
  }

  private oldest(): number {
    return this.last - this.count + 1;
  }

  /** The ring slot of the i-th kept message (0: the oldest), for 0 <= i < capacity: a compare, not a division. */
  private slot(i: number): number {
    const at = this.head + i;
    return at < this.capacity ? at : at - this.capacity;
  }

  /** Kept messages `from`..the newest, as they are now; reading it after the ring moved is a bug, and throws. */
  private run(from: number): MessageRun {
    const firstSeq = this.oldest() + from;
    const length = this.count - from;
    const read = (): number => {
      // Seqs only grow, so a run still whole has lost nothing at its start.
      if (this.oldest() > firstSeq) throw new Error('a history run was read after its ring moved on');
      return firstSeq - this.oldest();
    };
    return {
      length,
      firstSeq: length > 0 ? firstSeq : 0,
      forEach: (visit) => this.visit(read(), length, visit),
      entries: () => this.slice(read(), length),
    };
  }

  /** Visits `length` kept messages from the `from`-th, where they are kept. */
  private visit(from: number, count: number, visit: MessageVisitor): void {
    const numbers = this.numbers;
    const refs = this.refs;
    const first = this.oldest();
    for (let i = from; i < from + count; i++) {
      const at = this.slot(i);
      const n = at * NUMBERS_PER_SLOT;
      const start = numbers[n + START]!;
      const lengthOpcode = numbers[n + LENGTH_OPCODE]!;
      const opcode = (lengthOpcode % 16) as DataOpcode;
      const payloadLength = Math.floor(lengthOpcode / 16);
      const sender = refs[at * REFS_PER_SLOT + SENDER] as string;
      const holder = refs[at * REFS_PER_SLOT + HOLDER];
      if (start >= 0) visit(first + i, opcode, numbers[n + TS]!, sender, (holder as Slab).bytes, start, payloadLength, (holder as Slab).view);
      else visit(first + i, opcode, numbers[n + TS]!, sender, holder as Buffer, 0, payloadLength, null);
    }
  }

  /** Entries `from`..the newest (or `count` of them), made now. */
  private slice(from: number, count = this.count - from): HistoryEntry[] {
    const out: HistoryEntry[] = [];
    this.visit(from, count, (seq, opcode, ts, sender, bytes, start, length) => {
      const payload = start === 0 && length === bytes.length ? bytes : bytes.subarray(start, start + length);
      out.push({ seq, opcode, from: sender, ts, payload });
    });
    return out;
  }

  /** Stores message `seq`, the one after the newest kept (room for it was made by the caller). */
  private keep(seq: number, opcode: DataOpcode, from: string, payload: Buffer, ts: number): void {
    if (this.count === this.capacity) this.grow();
    const at = this.slot(this.count);
    const n = at * NUMBERS_PER_SLOT;
    const r = at * REFS_PER_SLOT;
    const numbers = this.numbers;
    numbers[n + TS] = ts;
    numbers[n + STAMP] = ++lastStamp;
    numbers[n + LENGTH_OPCODE] = payload.length * 16 + opcode;
    this.refs[r + SENDER] = from;
    if (payload.length > SLAB_PAYLOAD_MAX) {
      numbers[n + START] = -1;
      this.refs[r + HOLDER] = ownable(payload);
    } else {
      const slab = this.payloadSlabs.put(payload, this, seq);
      numbers[n + START] = slab.end - payload.length;
      this.refs[r + HOLDER] = slab;
    }
    this.count++;
    this.account(payload.length, from, 1);
  }

  private grow(): void {
    const capacity = Math.min(Math.max(this.limits.size, 1), Math.max(8, this.capacity * 2));
    const numbers = new Float64Array(capacity * NUMBERS_PER_SLOT);
    const refs: SlotRef[] = new Array<SlotRef>(capacity * REFS_PER_SLOT);
    for (let i = 0; i < this.count; i++) {
      const at = this.slot(i);
      numbers.set(this.numbers.subarray(at * NUMBERS_PER_SLOT, (at + 1) * NUMBERS_PER_SLOT), i * NUMBERS_PER_SLOT);
      refs[i * REFS_PER_SLOT + SENDER] = this.refs[at * REFS_PER_SLOT + SENDER];
      refs[i * REFS_PER_SLOT + HOLDER] = this.refs[at * REFS_PER_SLOT + HOLDER];
    }
    this.numbers = numbers;
    this.refs = refs;
    this.capacity = capacity;
    this.head = 0;
  }

  /** Moves message `seq`'s payload out of `slab` if it is still kept there (the slabs are cleaning it). */
  evacuate(slab: Slab, seq: number): void {
    const i = seq - this.oldest();
    if (i < 0 || i >= this.count) return;
    const n = this.slot(i) * NUMBERS_PER_SLOT;
    const r = this.slot(i) * REFS_PER_SLOT;
    if (this.refs[r + HOLDER] !== slab) return;
    const start = this.numbers[n + START]!;
    const length = Math.floor(this.numbers[n + LENGTH_OPCODE]! / 16);
    const to = this.payloadSlabs.put(slab.bytes.subarray(start, start + length), this, seq);
    this.numbers[n + START] = to.end - length;
    this.refs[r + HOLDER] = to;
    this.payloadSlabs.free(slab, length);
  }

  private expire(now: number): void {
    const cutoff = now - this.limits.ttlMs;
    let drop = 0;
    while (drop < this.count && this.numbers[this.slot(drop) * NUMBERS_PER_SLOT + TS]! < cutoff) drop++;
    this.dropOldest(drop);
  }

  private dropOldest(n: number): void {
    for (let i = 0; i < n && this.count > 0; i++) {
      const at = this.head;
      const r = at * REFS_PER_SLOT;
      const length = Math.floor(this.numbers[at * NUMBERS_PER_SLOT + LENGTH_OPCODE]! / 16);
      this.account(length, this.refs[r + SENDER] as string, -1);
      if (this.numbers[at * NUMBERS_PER_SLOT + START]! >= 0) this.payloadSlabs.free(this.refs[r + HOLDER] as Slab, length);
      // The slab or a large payload is let go now.
      this.refs[r + HOLDER] = undefined;
      this.head = at + 1 < this.capacity ? at + 1 : 0;
      this.count--;
    }
  }

  private account(payloadBytes: number, from: string, sign: 1 | -1): void {
    const bytes = sign * messageBytes(payloadBytes, from);
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
