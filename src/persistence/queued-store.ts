// The RoomStore every backend is used through: writes queued per room (pending.ts) and
// written in groups, up/down with reconnect (write-behind.ts), the flush at close. The
// spill journal is outage-journal.ts, the late load late-load.ts; a Backend only writes.

import { pingWithin, writeWithin, type Backend } from './backend';
import type { PendingJournal } from './journal';
import { LateLoad } from './late-load';
import { OutageJournal } from './outage-journal';
import { PendingWrites, type BatchItem } from './pending';
import {
  StoreStartError,
  type PendingOp,
  type RoomRecord,
  type RoomStore,
  type StoreHealth,
  type StoreKind,
  type StoreLog,
  type WriteOutcome,
} from './types';
import { Deadline, DEFAULT_BACKOFF, describeError, within, WriteBehind, type BackoffOptions } from './write-behind';

export interface QueuedStoreOptions {
  /** rooms the queue may hold while the store is down; see save() */
  maxPendingWrites: number;
  log: StoreLog;
  backoff: BackoffOptions;
  /** how long close() waits for pending writes */
  closeTimeoutMs: number;
  /** idle liveness check period while up, so /healthz notices an outage without traffic */
  heartbeatMs: number;
  /**
   * Where close() spills the writes it still owes and open() replays them from
   * (DATA_DIR/pending-writes.json). null only in tests: what close() cannot write
   * is then logged and dropped.
   */
  journal: PendingJournal | null;
  /**
   * Keep the journal up to date while the store is down (outage-journal.ts), so a
   * crash during an outage loses no write either. MariaDB only; needs a journal.
   * Default false: the journal is written only at close.
   */
  journalWhileDown?: boolean;
}

export const DEFAULT_MAX_PENDING_WRITES = 100_000;

export class QueuedStore implements RoomStore {
  readonly kind: StoreKind;
  readonly description: string;

  private opened = false;
  private closing = false;
  private closed = false;
  private loaded = false; // the rooms stored before this process have been handed over
  private readonly queue: PendingWrites;
  private readonly behind: WriteBehind;
  private readonly journal: OutageJournal;
  private flushing: Promise<void> | null = null;
  private readonly lateLoad: LateLoad;
  private refusedLogged = false;
  private reconnecting = false;

  constructor(
    private readonly backend: Backend,
    private readonly options: QueuedStoreOptions,
  ) {
    this.kind = backend.kind;
    this.description = backend.description;
    this.queue = new PendingWrites(options.maxPendingWrites);
    this.behind = new WriteBehind(options.backoff, 'down');
    this.lateLoad = new LateLoad(options.log, backend.description);
    this.journal = new OutageJournal(options.journal, options.journalWhileDown === true, {
      identity: backend.identity,
      description: backend.description,
      queue: this.queue,
      behind: this.behind,
      log: options.log,
      isClosed: () => this.closed,
      flush: () => this.kickFlush(),
    });
  }

  /**
   * The stored rooms. Writes a previous stop spilled to the journal are queued
   * first and written before the load, so the load already holds them; if the
   * store is unreachable, the rooms those writes save are returned instead (the
   * stored ones follow with the late load).
   */
  async open(): Promise<RoomRecord[]> {
    if (this.opened) throw new Error('store already opened');
    this.opened = true;
    let owed: PendingOp[];
    try {
      this.backend.checkSettings?.();
      owed = await this.journal.replay();
    } catch (err) {
      this.closed = true;
      await this.backend.close().catch(() => undefined);
      throw err;
    }
    try {
      await this.backend.connect();
      if (this.queue.size > 0) {
        this.markUp(false);
        while (this.flushing) await this.flushing;
        // Down again while writing them: as if unreachable at start (the retry is scheduled).
        if (!this.behind.isUp) return savedRecords(owed);
      }
      const records = await this.backend.load();
      this.loaded = true;
      this.markUp(false);
      this.options.log('info', 'store.opened', { store: this.description, rooms: records.length });
      return records;
    } catch (err) {
      if (err instanceof StoreStartError) {
        this.closed = true;
        await this.backend.close().catch(() => undefined);
        throw err;
      }
      // Unreachable at start: serve from memory, write what we owe once it answers.
      this.markDown(err, 'store.unreachable_at_start');
      this.scheduleRetry();
      return savedRecords(owed);
    }
  }

  onLateLoad(listener: (records: RoomRecord[]) => void): void {
    this.lateLoad.listen(listener);
  }

  save(record: RoomRecord): Promise<WriteOutcome> {
    return this.enqueue({ kind: 'save', room: record.room, record: { ...record } });
  }

  remove(room: string): Promise<WriteOutcome> {
    return this.enqueue({ kind: 'remove', room });
  }

  /**
   * The row of `room` as stored now, or null when there is none or the store
   * cannot say (down, or the backend cannot read one room). For a cluster: two
   * nodes that created one key at once adopt what the store kept.
   */
  async read(room: string): Promise<RoomRecord | null> {
    if (!this.behind.isUp || this.backend.read === undefined) return null;
    try {
      return await this.backend.read(room);
    } catch {
      return null;
    }
  }

  health(): StoreHealth {
    const { state, errors, lastError } = this.behind.health();
    return { kind: this.kind, state, pendingWrites: this.queue.size, errors, lastError, description: this.description };
  }

  /**
   * Flushes what is pending, waiting up to closeTimeoutMs for a store that is
   * down; what is still owed then is spilled to the journal for the next start.
   * Rejects with StoreCloseError only if that fails too (writes were lost).
   */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.behind.stopHeartbeat();
    const deadline = new Deadline(this.options.closeTimeoutMs);
    if (!this.behind.isUp && this.queue.size > 0 && this.opened && !this.reconnecting) {
      // One more try right now rather than whenever the backoff says.
      this.behind.cancel();
      void this.reconnect();
    }
    // Poll rather than wire events: the queue can empty through the flusher, a
    // reconnect or a drop, and close is rare enough that 20 checks a second are free.
    while (this.queue.size > 0 && !deadline.passed) {
      this.kickFlush();
      await deadline.pause(50);
    }
    this.closed = true;
    this.behind.cancel();
    this.queue.releaseWaiters('queued');
    if (this.flushing) {
      this.backend.abort();
      await within(this.flushing.catch(() => undefined), 1000, undefined);
    }
    try {
      await this.journal.spill(this.options.closeTimeoutMs);
    } finally {
      await within(this.backend.close().catch(() => undefined), 2000, undefined);
    }
  }

  // --- writes -------------------------------------------------------------

  private async enqueue(op: PendingOp): Promise<WriteOutcome> {
    if (this.closed) return 'refused';
    if (op.kind === 'remove') this.lateLoad.removed(op.room);
    if (!this.behind.isUp) {
      // The bound: a long outage must not eat memory, and each queued room costs
      // one entry however often it changes. When it is full, a room that is not
      // queued yet is refused instead of accepted-and-lost; the caller turns
      // that into a 503 for the join that would have created it. (While up, each
      // new entry has a caller waiting on it, so the queue can pass the bound
      // only by the writes in flight, e.g. joins arriving during a drain.)
      if (this.queue.isFullFor(op.room)) {
        if (!this.refusedLogged) {
          this.refusedLogged = true;
          this.options.log('error', 'store.queue_full', { store: this.description, limit: this.queue.limit });
        }
        return 'refused';
      }
      const seq = this.queue.put(op);
      if (!this.journal.keptWhileDown) return 'queued';
      // Not 'queued' before it is durable locally: a crash now must not lose it.
      return new Promise<WriteOutcome>((resolve) => this.journal.queuedOnceJournaled([{ room: op.room, seq, waiters: [resolve] }]));
    }
    return new Promise<WriteOutcome>((resolve) => {
      this.queue.put(op, resolve);
      this.kickFlush();
    });
  }

  private kickFlush(): void {
    if (this.flushing || !this.behind.isUp) return;
    this.flushing = (async () => {
      try {
        await this.flushLoop();
      } finally {
        this.flushing = null;
      }
      // An op queued after the loop's last look but before `flushing` cleared
      // would otherwise wait for the next write.
      if (this.behind.isUp && this.queue.size > 0) this.kickFlush();
    })();
  }

  /** Group commit: whatever queued while a write was in flight goes in the next one. */
  private async flushLoop(): Promise<void> {
    while (this.behind.isUp && this.queue.size > 0) {
      const batch = this.queue.takeBatch(this.backend.maxBatch);
      if (batch.length === 0) break;
      await this.writeBatch(batch);
    }
  }

  private async writeBatch(batch: BatchItem[]): Promise<void> {
    if (this.journal.isBehind(batch)) await this.journal.catchUp();
    const result = await writeWithin(this.backend, batch.map((item) => item.op));
    if (result === 'ok') {
      this.queue.ack(batch);
      this.behind.resetBackoff();
      this.refusedLogged = false;
      this.journal.retire();
      return;
    }
    if (this.backend.classify(result.error) === 'transient') {
      this.failBatch(batch);
      this.markDown(result.error, 'store.down');
      this.scheduleRetry();
      return;
    }
    if (batch.length > 1) {
      // One bad row fails the whole transaction: find it by writing one at a time.
      for (let i = 0; i < batch.length; i++) {
        if (!this.behind.isUp) {
          this.failBatch(batch.slice(i));
          return;
        }
        await this.writeBatch([batch[i]!]);
      }
      return;
    }
    const item = batch[0]!;
    this.behind.failed(result.error);
    this.options.log('error', 'store.write_rejected', { store: this.description, room: item.op.room, op: item.op.kind, error: describeError(result.error) });
    this.queue.drop(item);
    this.journal.retire();
  }

  /** The batch was not written (store down): ops stay queued, callers hear 'queued' (once journaled, with journalWhileDown). */
  private failBatch(items: readonly BatchItem[]): void {
    if (!this.journal.keptWhileDown) {
      this.queue.fail(items);
      return;
    }
    this.journal.queuedOnceJournaled(items.filter((item) => item.waiters.length > 0).map((item) => ({ room: item.op.room, seq: item.seq, waiters: item.waiters })));
  }

  // --- up / down ----------------------------------------------------------

  private markUp(announce: boolean): void {
    this.behind.up();
    if (announce) this.options.log('info', 'store.up', { store: this.description, pendingWrites: this.queue.size });
    this.startHeartbeat();
    this.kickFlush();
  }

  private markDown(err: unknown, event: string): void {
    const wasUp = this.behind.down(err);
    this.behind.stopHeartbeat();
    // Callers still waiting for durability (their write queued behind the one that
    // failed) hear 'queued' now (once journaled) rather than whenever the database comes back.
    if (this.journal.keptWhileDown) {
      this.journal.queuedOnceJournaled(this.queue.detachWaiters().map((d) => ({ room: d.room, seq: d.seq, waiters: [d.waiter] })));
    } else {
      this.queue.releaseWaiters('queued');
    }
    if (wasUp || event === 'store.unreachable_at_start') {
      this.options.log('error', event, { store: this.description, error: describeError(err), pendingWrites: this.queue.size });
    }
  }

  private scheduleRetry(): void {
    if (this.closed) return;
    this.behind.retry(() => void this.reconnect());
  }

  private async reconnect(): Promise<void> {
    if (this.closed || this.behind.isUp) return;
    if (this.reconnecting) {
      // One attempt at a time (two would both load); try again after this one.
      this.scheduleRetry();
      return;
    }
    this.reconnecting = true;
    try {
      await this.reconnectOnce();
    } finally {
      this.reconnecting = false;
    }
  }

  private async reconnectOnce(): Promise<void> {
    try {
      await this.backend.connect();
    } catch (err) {
      this.behind.failed(err);
      // A StoreStartError here (say, access denied once the server is back) cannot
      // stop a running server: it stays down, says why, and keeps trying.
      this.options.log(err instanceof StoreStartError ? 'error' : 'warn', 'store.retry_failed', {
        store: this.description,
        attempt: this.behind.attempts,
        error: describeError(err),
        pendingWrites: this.queue.size,
      });
      this.scheduleRetry();
      return;
    }
    if (this.closed) return;
    if (this.queue.size === 0) this.behind.resetBackoff();
    this.markUp(true);
    // Drain before loading, so rooms removed while down are not handed back.
    if (this.flushing) await this.flushing;
    if (this.loaded || !this.behind.isUp || this.closed) return;
    try {
      await this.lateLoad.run(() => this.backend.load(), this.queue.ops());
      this.loaded = true;
    } catch (err) {
      this.markDown(err, 'store.down');
      this.scheduleRetry();
    }
  }

  private startHeartbeat(): void {
    if (!this.backend.ping) return;
    this.behind.startHeartbeat(this.options.heartbeatMs, () => {
      // Only when idle: a write in flight is its own liveness check.
      if (this.behind.isUp && !this.flushing && !this.closed) void this.pingOnce();
    });
  }

  private async pingOnce(): Promise<void> {
    const err = await pingWithin(this.backend);
    if (err === null || !this.behind.isUp || this.closed) return;
    if (this.backend.classify(err) !== 'transient') return;
    this.markDown(err, 'store.down');
    this.scheduleRetry();
  }
}

/** The rooms that ops save (a journal's, handed to the registry while the store is down). */
function savedRecords(ops: readonly PendingOp[]): RoomRecord[] {
  const records: RoomRecord[] = [];
  for (const op of ops) if (op.kind === 'save') records.push({ ...op.record });
  return records;
}

export const DEFAULT_QUEUED_STORE_OPTIONS: Omit<QueuedStoreOptions, 'log' | 'journal'> = {
  maxPendingWrites: DEFAULT_MAX_PENDING_WRITES,
  backoff: DEFAULT_BACKOFF,
  closeTimeoutMs: 5000,
  heartbeatMs: 5000,
};
