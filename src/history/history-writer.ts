// Write-behind of the rooms' history: the relay only marks a room "changed";
// a timer later sends every changed room's new messages to the store, grouped
// (a slice of rooms per store write, so no turn of the event loop holds the
// relay long). The memory it needs is the rooms' rings, whatever the store
// does: a slow or down store delays writes, and a room whose unwritten messages
// fell out of its ring meanwhile is rewritten whole (its kept suffix), so the
// stored history never has a hole under an epoch. Timers, backoff and health are
// the machinery it shares with the room store (persistence/write-behind.ts).

import { Deadline, DEFAULT_BACKOFF, within, WriteBehind, type BackoffOptions } from '../persistence/write-behind';
import type { HistoryOp, HistoryStore, StoredHistory, WriteOp } from './history-store';
import type { HistorySink, RoomHistory } from './room-history';
import type { RoomLog } from './room-log';

/**
 * How long changes gather before a grouped write. A write costs per room it
 * touches (a record header, the room's queueing) as well as per message: with
 * 500 rooms at 10,000 messages/s, 50 ms gave about one message per room per write,
 * 200 ms gives four, and what keeping and writing cost per message went from 4.8
 * to 2.5 µs (bench/history-writer.ts, --per-write 500 against 2000). A crash loses what was not written yet, and the
 * next start gives those rooms a new epoch either way (never a wrong message).
 */
const FLUSH_DELAY_MS = 200;
/**
 * Messages read from the rings and encoded in one turn of the event loop (one
 * store write): about half a millisecond, so a busy moment's grouped write delays
 * the relay by that much at most, not by all of it.
 */
const SLICE_MESSAGES = 1000;

export interface HistoryWriterOptions {
  /** delay that groups writes (default FLUSH_DELAY_MS) */
  flushDelayMs?: number;
  /** retries after a failed write (default 250 ms doubling to 10 s, with jitter) */
  backoff?: BackoffOptions;
  /** messages per store write (default SLICE_MESSAGES; small in tests, to see a grouped write in several slices) */
  sliceMessages?: number;
  /** how often expired messages are pruned from the store (default 60 s) */
  pruneEveryMs?: number;
  log?: (level: 'info' | 'warn', event: string, fields: Record<string, unknown>) => void;
}

/** The rooms that changed since the last write, in the order they first did (each log once: its `queued` flag). */
class ChangedRooms {
  rooms: string[] = [];
  logs: RoomLog[] = [];

  add(room: string, log: RoomLog): void {
    log.queued = true;
    this.rooms.push(room);
    this.logs.push(log);
  }

  get size(): number {
    return this.logs.length;
  }

  clear(): void {
    this.rooms.length = 0;
    this.logs.length = 0;
  }

  /** The rooms still owed a write: a log released meanwhile is owed a drop instead (counted there). */
  owed(): number {
    let n = 0;
    for (const log of this.logs) if (!log.released) n++;
    return n;
  }
}

/** What a room owes the store: what follows the store's last seq, or (store state unknown, or a hole) all it keeps, replacing. */
function writeOp(room: string, log: RoomLog, now: number): WriteOp {
  if (log.storedSeq >= 0) {
    // Only what the store does not have yet is read.
    const next = log.runAfter(log.storedSeq, now);
    // The first unwritten message is no longer kept: the store cannot be continued without a hole.
    const hole = next.length > 0 && next.firstSeq !== log.storedSeq + 1;
    return { kind: 'write', room, epoch: log.epoch, lastSeq: log.lastSeq, replace: hole, messages: hole ? log.keptRun(now) : next };
  }
  return { kind: 'write', room, epoch: log.epoch, lastSeq: log.lastSeq, replace: true, messages: log.keptRun(now) };
}

export interface HistoryWriterHealth {
  state: 'up' | 'down';
  /** rooms with history not yet written */
  pendingRooms: number;
  errors: number;
}

export class HistoryWriter implements HistorySink {
  // What the store holds of a room, as far as this writer knows, is its log's `storedSeq` (room-log.ts):
  // a relayed message reaches the writer as one flag check, with no lookup by room key.
  private dirty = new ChangedRooms();
  /** The list `dirty` was before the last write took it (giveBack). */
  private spareDirty = new ChangedRooms();
  private drops = new Set<string>();
  private pruneTimer: NodeJS.Timeout | null = null;
  private flushing: Promise<boolean> | null = null;
  private readonly behind: WriteBehind;
  private closed = false;
  private readonly opts: Required<Omit<HistoryWriterOptions, 'log'>> & Pick<HistoryWriterOptions, 'log'>;

  constructor(
    private readonly store: HistoryStore,
    private readonly history: RoomHistory,
    options: HistoryWriterOptions = {},
  ) {
    this.opts = { flushDelayMs: FLUSH_DELAY_MS, backoff: DEFAULT_BACKOFF, sliceMessages: SLICE_MESSAGES, pruneEveryMs: 60_000, ...options };
    this.behind = new WriteBehind(this.opts.backoff, 'up');
    history.attach(this);
  }

  /** Loads the store's history into `history` for the rooms `live` accepts; starts pruning. */
  async open(live: (room: string) => boolean): Promise<{ rooms: number; renewed: number }> {
    let stored: StoredHistory[] = [];
    try {
      stored = await this.store.load(this.history.now());
    } catch (error) {
      // Unreadable now: every room begins a new epoch, and its first write replaces what is stored.
      this.behind.failed(error);
      this.opts.log?.('warn', 'history_load_failed', { error: String(error) });
    }
    const renewed = this.history.adopt(stored, live);
    for (const history of stored) {
      const log = this.history.get(history.room);
      if (log?.epoch === history.epoch) log.storedSeq = history.lastSeq;
    }
    // Renewed epochs are written at once, so the store never names kept messages by the old one again.
    for (const room of renewed) this.changed(room, this.history.get(room)!);
    this.pruneTimer = setInterval(() => void this.prune(), this.opts.pruneEveryMs);
    this.pruneTimer.unref();
    return { rooms: stored.length, renewed: renewed.length };
  }

  changed(room: string, log: RoomLog): void {
    if (log.queued) return;
    this.dirty.add(room, log);
    this.scheduleFlush();
  }

  /** The room's log was released (history.removed or created): a write skips it; the drop goes first. */
  dropped(room: string): void {
    this.drops.add(room);
    this.scheduleFlush();
  }

  health(): HistoryWriterHealth {
    const { state, errors } = this.behind.health();
    return { state, pendingRooms: this.dirty.owed() + this.drops.size, errors };
  }

  /** One grouped write of everything owed; true when nothing is owed afterwards (for this write). */
  flush(): Promise<boolean> {
    this.flushing ??= this.writeOwed().finally(() => (this.flushing = null));
    return this.flushing;
  }

  /** Final writes (retried until `deadlineMs`), then the clean mark if nothing is left owed. */
  async close(deadlineMs = 5000): Promise<boolean> {
    this.closed = true;
    this.behind.cancel();
    if (this.pruneTimer !== null) clearInterval(this.pruneTimer);
    // A hung store (a frozen database) must not hold the stop: every wait ends at the deadline.
    const deadline = new Deadline(deadlineMs);
    let ok = false;
    for (;;) {
      ok = await deadline.race(this.flushing ?? this.flush(), false);
      if (ok && this.flushing === null) ok = await deadline.race(this.flush(), false);
      if ((ok && !this.owesWrites()) || deadline.passed) break;
      await deadline.pause(250);
    }
    ok = ok && this.flushing === null && !this.owesWrites();
    if (ok) {
      try {
        // A mark that does not land in time is no mark: the next start renews the epochs, which is safe.
        ok = await within(this.store.markClean().then(() => true), Math.max(1000, deadline.left), false);
      } catch (error) {
        ok = false;
        this.opts.log?.('warn', 'history_not_marked_clean', { error: String(error) });
      }
    } else {
      // Not all written: the next start gives these rooms new epochs (never a wrong message under an old one).
      this.opts.log?.('warn', 'history_unwritten_at_stop', { rooms: this.dirty.owed() + this.drops.size });
    }
    await deadline.race(this.store.close().catch(() => undefined), undefined);
    return ok;
  }

  private owesWrites(): boolean {
    return this.dirty.size > 0 || this.drops.size > 0;
  }

  /** The next grouped write: flushDelayMs from now, or after the backoff's delay when the last one failed. */
  private scheduleFlush(after: 'delay' | 'backoff' = 'delay'): void {
    if (this.flushing !== null || this.closed) return;
    if (after === 'backoff') this.behind.retry(this.flushDue);
    else this.behind.schedule(this.opts.flushDelayMs, this.flushDue);
  }

  /** Made once: scheduleFlush runs for every relayed message, and a closure made there each time was about half of what the relay path allocated for history (an allocation profile of many rooms). */
  private readonly flushDue = (): void => {
    void this.flush().then((ok) => {
      if (!ok) this.scheduleFlush('backoff');
      else if (this.owesWrites()) this.scheduleFlush();
    });
  };

  private async writeOwed(): Promise<boolean> {
    const now = this.history.now();
    if (this.store.needsCompaction?.() === true) return this.compact(now);
    if (!this.owesWrites()) return true;
    const dirty = this.takeDirty();
    let drops: Set<string> | null = this.drops;
    this.drops = new Set();
    /** The next changed room not yet in a slice. */
    let next = 0;
    let wrote = false;
    // Slice by slice, each a store write of its own, read from the rings and encoded in one turn:
    // the relay waits for one slice at most, however many rooms changed.
    for (;;) {
      const ops: HistoryOp[] = [];
      for (const room of drops ?? []) ops.push({ kind: 'drop', room });
      const slice = { drops, written: [] as { room: string; log: RoomLog; lastSeq: number }[] };
      drops = null;
      let messages = 0;
      while (next < dirty.logs.length && messages < this.opts.sliceMessages) {
        const log = dirty.logs[next]!;
        const room = dirty.rooms[next]!;
        next++;
        // Released: its room was removed or created again, and a drop (then the new log's write) is owed instead.
        if (log.released || log.storedSeq === log.lastSeq) continue;
        const op = writeOp(room, log, now);
        ops.push(op);
        slice.written.push({ room, log, lastSeq: log.lastSeq });
        messages += op.messages.length + 1;
      }
      if (ops.length === 0) break;
      try {
        await this.store.write(ops, now);
      } catch (error) {
        if (this.behind.down(error)) this.opts.log?.('warn', 'history_write_failed', { error: String(error) });
        // What landed of this slice is unknown: its rooms are written whole next time; its drops are repeated first.
        for (const room of slice.drops ?? []) this.drops.add(room);
        for (const { room, log } of slice.written) {
          log.storedSeq = -1;
          this.requeue(room, log);
        }
        // The rooms of later slices were not written: owed as they were.
        for (; next < dirty.logs.length; next++) this.requeue(dirty.rooms[next]!, dirty.logs[next]!);
        this.giveBack(dirty);
        return false;
      }
      wrote = true;
      // A log released while the write ran has moved on: its room's next log writes with replace.
      for (const { log, lastSeq } of slice.written) if (!log.released) log.storedSeq = lastSeq;
    }
    this.giveBack(dirty);
    if (!wrote) return true;
    if (this.behind.up()) this.opts.log?.('info', 'history_writes_resumed', {});
    this.behind.resetBackoff();
    return true;
  }

  /** The changed rooms, now owed by the caller (who gives the list back); appends from here on queue their logs again. */
  private takeDirty(): ChangedRooms {
    const dirty = this.dirty;
    this.dirty = this.spareDirty;
    for (const log of dirty.logs) log.queued = false;
    return dirty;
  }

  /** A taken list, done with: emptied and kept for the next take, so a grouped write allocates no list. */
  private giveBack(taken: ChangedRooms): void {
    taken.clear();
    this.spareDirty = taken;
  }

  /** A room whose write did not happen is owed again (unless it is gone, or already queued by a newer message). */
  private requeue(room: string, log: RoomLog): void {
    if (!log.released && !log.queued) this.dirty.add(room, log);
  }

  /** What the store holds of every room is unknown: each room's next write replaces. */
  private forgetStored(): void {
    for (const [, log] of this.history.rooms()) log.storedSeq = -1;
  }

  /**
   * The whole state, written as the store's new content; everything owed is in it.
   * Each room is read when the store comes to it (not all up front, which made
   * every kept message into an entry at once), so a room may include messages
   * relayed while the compaction runs: what was written for it is noted as it goes.
   */
  private async compact(now: number): Promise<boolean> {
    const history = this.history;
    /** Each log written, and the last seq the compacted store holds of it. */
    const compacted: [RoomLog, number][] = [];
    const rooms = [...history.rooms()].map(([room]) => room);
    function* snapshot(): Generator<WriteOp> {
      for (const room of rooms) {
        const log = history.get(room);
        if (log === undefined) continue;
        compacted.push([log, log.lastSeq]);
        yield { kind: 'write', room, epoch: log.epoch, lastSeq: log.lastSeq, replace: true, messages: log.keptRun(now) };
      }
    }
    const dirty = this.takeDirty();
    const drops = this.drops;
    this.drops = new Set();
    try {
      await this.store.compact!(snapshot());
    } catch (error) {
      this.behind.down(error);
      this.opts.log?.('warn', 'history_compaction_failed', { error: String(error) });
      // The log may or may not have been replaced by the snapshot (a rename that landed, then a failed
      // directory sync): what the store holds of any room is unknown.
      this.forgetStored();
      for (const room of drops) this.drops.add(room);
      for (let i = 0; i < dirty.logs.length; i++) this.requeue(dirty.rooms[i]!, dirty.logs[i]!);
      this.giveBack(dirty);
      return false;
    }
    this.giveBack(dirty);
    this.behind.up();
    // The store is now exactly the snapshot: what it holds of each room is what was compacted, nothing else.
    this.forgetStored();
    for (const [log, lastSeq] of compacted) if (!log.released) log.storedSeq = lastSeq;
    return true;
  }

  private async prune(): Promise<void> {
    if (this.closed || !this.behind.isUp) return;
    try {
      // Small batches until a short one: never one long delete holding locks.
      for (let i = 0; i < 100 && (await this.store.prune(this.history.now())); i++);
    } catch (error) {
      this.behind.failed(error);
      this.opts.log?.('warn', 'history_prune_failed', { error: String(error) });
    }
  }
}
