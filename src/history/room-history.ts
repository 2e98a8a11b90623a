// Every room's RoomLog by room key: where seqs are given out, epochs are made,
// and a room's history begins (created), ends (removed) or comes back from the
// store (adopt). No I/O: changes are reported to a sink (the writer), which
// persists them later, off the relay path.

import { randomBytes } from 'node:crypto';
import type { DataOpcode } from '../frames/opcodes';
import type { StoredHistory } from './history-store';
import { OldestFirst } from './oldest-first';
import { PayloadSlabs } from './payload-slabs';
import { type HistoryBudget, type HistoryLimits, RoomLog } from './room-log';

/** What the writer is told; `changed` runs for every relayed message and costs a flag check. */
export interface HistorySink {
  changed(room: string, log: RoomLog): void;
  dropped(room: string): void;
}

export interface RoomHistoryOptions extends HistoryLimits {
  /** Bytes all rooms' kept messages may cost together (HISTORY_MAX_BYTES); the oldest anywhere go first. Default: no bound. */
  maxBytes?: number;
  now?: () => number;
  /** A fresh epoch; by default 12 random bytes, base64url (16 characters). */
  newEpoch?: () => string;
}

export interface HistoryMemory {
  messages: number;
  bytes: number;
  slabBytes: number;
}

export function randomEpoch(): string {
  return randomBytes(12).toString('base64url');
}

export class RoomHistory {
  private readonly logs = new Map<string, RoomLog>();
  private sink: HistorySink | null = null;
  readonly limits: HistoryLimits;
  readonly now: () => number;
  private readonly newEpoch: () => string;
  readonly budget: HistoryBudget = { bytes: 0, entries: 0 };
  private readonly maxBytes: number;
  /** The rooms that keep messages, oldest first: the order the memory bound evicts in (oldest-first.ts). */
  private readonly order = new OldestFirst();
  private readonly bounded: boolean;
  /** Every room's small payloads, in one set of slabs. */
  private readonly slabs = new PayloadSlabs();

  constructor(options: RoomHistoryOptions) {
    this.limits = { size: options.size, ttlMs: options.ttlMs };
    this.maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
    this.bounded = options.size > 0 && this.maxBytes !== Number.POSITIVE_INFINITY;
    this.now = options.now ?? Date.now;
    this.newEpoch = options.newEpoch ?? randomEpoch;
  }

  attach(sink: HistorySink): void {
    this.sink = sink;
  }

  get(room: string): RoomLog | undefined {
    return this.logs.get(room);
  }

  rooms(): IterableIterator<[string, RoomLog]> {
    return this.logs.entries();
  }

  /** The room's log, begun now with a fresh epoch if it has none (a room restored without stored history). */
  of(room: string): RoomLog {
    return this.logs.get(room) ?? this.begin(room);
  }

  /** A room was created: whatever history its key had is gone, a new epoch begins. */
  created(room: string): RoomLog {
    const old = this.logs.get(room);
    if (old !== undefined) {
      this.order.remove(old);
      old.release();
      this.sink?.dropped(room);
    }
    return this.begin(room);
  }

  /** A room was purged or closed: its history and its epoch end with it. */
  removed(room: string): void {
    // Told even when this run never loaded a history for the key: the store may hold one.
    const log = this.logs.get(room);
    if (log !== undefined) {
      this.order.remove(log);
      log.release();
    }
    this.logs.delete(room);
    this.sink?.dropped(room);
  }

  /** What the kept messages take: their count, the bytes HISTORY_MAX_BYTES counts, and what the slabs of small payloads hold. */
  memory(): HistoryMemory {
    return { messages: this.budget.entries, bytes: this.budget.bytes, slabBytes: this.slabs.usage.held };
  }

  /** Gives the message its seq (and keeps it, if history is on); returns the seq. */
  append(room: string, opcode: DataOpcode, from: string, payload: Buffer, ts: number): number {
    const log = this.of(room);
    const seq = log.append(opcode, from, payload, ts);
    if (this.bounded) {
      // Only a room's first kept message places it; later ones never come before it.
      if (log.heapAt < 0) this.order.add(log);
      if (this.budget.bytes > this.maxBytes) this.evictOverBudget();
    }
    this.sink?.changed(room, log);
    return seq;
  }

  /** Over HISTORY_MAX_BYTES: the oldest kept messages of any room go first (those rooms then resume less far back). */
  private evictOverBudget(): void {
    while (this.budget.bytes > this.maxBytes) {
      const log = this.order.oldest();
      if (log === null) return;
      log.dropThrough(log.oldestSeq!);
    }
  }

  /**
   * Takes back what the store kept, for the rooms in `live` (others are dropped).
   * A history whose writer did not stop cleanly keeps its messages but gets a new
   * epoch: seqs after the store's last may already name other messages.
   * Returns the rooms whose epoch was renewed.
   */
  adopt(stored: readonly StoredHistory[], live: (room: string) => boolean): string[] {
    const renewed: string[] = [];
    for (const history of stored) {
      if (!live(history.room) || this.logs.has(history.room)) {
        if (!live(history.room)) this.sink?.dropped(history.room);
        continue;
      }
      const epoch = history.clean ? history.epoch : this.newEpoch();
      if (!history.clean) renewed.push(history.room);
      this.logs.set(history.room, new RoomLog(epoch, history.lastSeq, history.entries, this.limits, this.budget, this.slabs));
    }
    if (this.bounded) {
      // What came back joins the eviction order (by time across rooms), and the bound holds from the start.
      for (const log of this.logs.values()) this.order.add(log);
      this.evictOverBudget();
    }
    return renewed;
  }

  private begin(room: string): RoomLog {
    const log = new RoomLog(this.newEpoch(), 0, [], this.limits, this.budget, this.slabs);
    this.logs.set(room, log);
    this.sink?.changed(room, log);
    return log;
  }
}
