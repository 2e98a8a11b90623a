// The RoomStore behaviour shared by both backends: up/down state, the pending
// queue, group commit, reconnect with backoff, the late load, the flush at close
// and the spill journal (journal.ts) for what a stop still owes. A Backend only
// knows how to connect, load and write one batch.
//
// With journalWhileDown (MariaDB), the journal is also kept up to date during an
// outage, so that a crash (kill -9) loses nothing either: a write that enters the
// queue while the store is down (or whose write to the store failed) is told
// 'queued' only once a rewrite of the journal holding it is durable (group
// commit: one rewrite of the whole coalesced queue for every write of one turn
// of the event loop, and for those arriving while it runs). If that rewrite
// fails, the write is taken back out of the queue and told 'refused'. While the
// store is up and no journal file exists, the journal is never touched. While
// one exists (after an outage, until the queue has drained), a write to the
// store of a room whose op in the file is older is preceded by a rewrite, so
// that replaying the file after a crash never rolls a room back.

import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './write-behind';
import type { PendingJournal } from './journal';
import { PendingWrites, type BatchItem, type Waiter } from './pending';
import {
  StoreCloseError,
  StoreStartError,
  type PendingOp,
  type RoomRecord,
  type RoomStore,
  type StoreHealth,
  type StoreKind,
  type StoreLog,
  type WriteOutcome,
} from './types';

export interface Backend {
  readonly kind: StoreKind;
  readonly description: string;
  /** the data it writes to, whatever the account ("file", "mariadb HOST:PORT/DATABASE"): a journal owed to another is refused */
  readonly identity: string;
  /** most ops written by one write() (the file store writes everything at once) */
  readonly maxBatch: number;
  /** a write still running after this long counts as an outage (a hung database) */
  readonly writeTimeoutMs: number;
  /**
   * Makes the store usable: the first call validates the settings and applies the
   * schema or reads the file; later calls (after an outage) just reach it again.
   * Throws StoreStartError for what retrying cannot fix; any other error means
   * "unreachable for now".
   */
  connect(): Promise<void>;
  /** throws StoreStartError for settings wrong before anything is read (a malformed URL); optional */
  checkSettings?(): void;
  /** every stored room; only called after connect() succeeded */
  load(): Promise<RoomRecord[]>;
  /** writes the ops in one unit (transaction or snapshot); throws when nothing or not all of it is durable */
  write(ops: readonly PendingOp[]): Promise<void>;
  /** 'data': this op can never be written (retrying is pointless); anything else is an outage */
  classify(err: unknown): 'transient' | 'data';
  /** cheap liveness check while idle; undefined when there is nothing to check */
  ping?(): Promise<void>;
  /** one stored room as the store holds it now (a cluster reads back who won a creation); optional */
  read?(room: string): Promise<RoomRecord | null>;
  /** gives up on the write in flight so that its promise settles soon (timeout) */
  abort(): void;
  close(): Promise<void>;
}

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
   * Keep the journal up to date while the store is down (see the top of this
   * file), so a crash during an outage loses no write either. MariaDB only; needs
   * a journal. Default false: the journal is written only at close.
   */
  journalWhileDown?: boolean;
}

/** Callers told 'queued' once the journal holds the room's op put as seq. */
interface JournalCaller {
  room: string;
  seq: number;
  waiters: Waiter[];
}

export const DEFAULT_MAX_PENDING_WRITES = 100_000;

export class QueuedStore implements RoomStore {
  readonly kind: StoreKind;
  readonly description: string;

  private state: 'up' | 'down' = 'down';
  private opened = false;
  private closing = false;
  private closed = false;
  private loaded = false; // the rooms stored before this process have been handed over
  private readonly queue: PendingWrites;
  private flushing: Promise<void> | null = null;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private errors = 0;
  private lastError: string | null = null;
  private readonly lateListeners: ((records: RoomRecord[]) => void)[] = [];
  private undeliveredLateLoad: RoomRecord[] | null = null;
  private refusedLogged = false;
  private reconnecting = false;
  private readonly journalWhileDown: boolean;
  /** what the journal file holds (as replayed or last written): each room's op and its seq; null = no file */
  private journaled: Map<string, { op: PendingOp; seq: number }> | null = null;
  /** the snapshot a rewrite in progress is putting into the file (it may be there already) */
  private journalWriting: Map<string, { op: PendingOp; seq: number }> | null = null;
  /** rooms of the journal file that may still be queued; the file is deleted once none is */
  private journalOwed = new Set<string>();
  /** the journal file still exists although nothing in it is owed (a failed delete): retried only at close */
  private journalStale = false;
  /** callers waiting for the next journal rewrite (writes queued while down) */
  private journalCallers: JournalCaller[] = [];
  /** writes to the store waiting for the next journal rewrite (see writeBatch) */
  private journalBarriers: ((ok: boolean) => void)[] = [];
  private journalFailLogged = false;
  /** the journal worker: rewrites and deletes, one after another */
  private journalWork: Promise<void> | null = null;
  /** while a late load runs: rooms removed (or removed and created again) meanwhile, whose loaded row is stale */
  private loadGuard: Set<string> | null = null;

  constructor(
    private readonly backend: Backend,
    private readonly options: QueuedStoreOptions,
  ) {
    this.kind = backend.kind;
    this.description = backend.description;
    this.queue = new PendingWrites(options.maxPendingWrites);
    this.journalWhileDown = options.journalWhileDown === true && options.journal !== null;
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
      owed = await this.replayJournal();
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
        if (!this.isUp()) return savedRecords(owed);
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

  /** Queues the writes a previous stop could not make, as this store's first writes. */
  private async replayJournal(): Promise<PendingOp[]> {
    const journal = this.options.journal;
    if (!journal) return [];
    const ops = await journal.read(this.backend.identity);
    if (ops.length === 0) return [];
    // Past the bound if need be: these rooms were promised already.
    const kept = new Map<string, { op: PendingOp; seq: number }>();
    for (const op of ops) {
      this.queue.put(op);
      kept.set(op.room, this.queue.current(op.room)!);
    }
    this.journaled = kept;
    this.journalOwed = new Set(kept.keys());
    this.options.log('warn', 'store.journal_replayed', { store: this.description, journal: journal.path, writes: ops.length });
    return ops;
  }

  /** Deletes the journal once every write it held is durable (or refused for good by the database). */
  private retireJournal(): void {
    if (this.journaled === null || this.journalStale || this.closed || !this.options.journal) return;
    if (this.journalOwedLeft()) return;
    this.kickJournal();
  }

  /** True while a room of the journal file is still queued (forgets those that are not). */
  private journalOwedLeft(): boolean {
    for (const room of this.journalOwed) {
      if (this.queue.has(room)) return true;
      this.journalOwed.delete(room);
    }
    return false;
  }

  /** Starts the journal worker unless it runs (it picks up whatever is asked meanwhile). */
  private kickJournal(): void {
    const journal = this.options.journal;
    if (this.journalWork || !journal) return;
    this.journalWork = (async () => {
      try {
        // Group commit: every write queued in this turn of the event loop goes into one
        // rewrite. (A delete alone starts at once, as it always did.)
        if (this.journalCallers.length > 0 || this.journalBarriers.length > 0) await new Promise<void>((resolve) => setImmediate(resolve));
        await this.journalLoop(journal);
      } finally {
        this.journalWork = null;
      }
      if (this.journalCallers.length > 0 || this.journalBarriers.length > 0) this.kickJournal();
    })();
  }

  private async journalLoop(journal: PendingJournal): Promise<void> {
    for (;;) {
      if (this.journalCallers.length > 0 || this.journalBarriers.length > 0) {
        const callers = this.journalCallers;
        const barriers = this.journalBarriers;
        this.journalCallers = [];
        this.journalBarriers = [];
        if (this.closed) {
          // close() spills the whole queue itself, and fails loudly if it cannot.
          for (const c of callers) settle(c.waiters, 'queued');
          for (const b of barriers) b(false);
          continue;
        }
        // The whole coalesced queue: every room's latest op, in flight or not.
        const snapshot = this.queue.snapshot();
        const writing = snapshot.length > 0 ? new Map(snapshot.map((e) => [e.op.room, e])) : null;
        this.journalWriting = writing;
        try {
          if (writing) await journal.write(this.backend.identity, snapshot.map((e) => e.op));
        } catch (err) {
          this.errors++;
          this.lastError = `${journal.path}: ${describeError(err)}`;
          if (!this.journalFailLogged) {
            // Once until a rewrite succeeds again: under load every group would log it.
            this.journalFailLogged = true;
            this.options.log('error', 'store.journal_write_failed', { store: this.description, journal: journal.path, error: describeError(err), refused: callers.length });
          }
          this.journalFailed(callers);
          for (const b of barriers) b(false);
          continue;
        } finally {
          // A failed rewrite left the previous file in place (temp file, then rename).
          this.journalWriting = null;
        }
        if (writing) {
          this.journaled = writing;
          this.journalOwed = new Set(writing.keys());
          this.journalStale = false;
        }
        this.journalFailLogged = false;
        for (const c of callers) settle(c.waiters, 'queued');
        for (const b of barriers) b(true);
        continue;
      }
      if (this.journaled !== null && !this.journalStale && !this.closed && !this.journalOwedLeft()) {
        try {
          await journal.discard();
          this.journaled = null;
          this.journalOwed.clear();
          this.options.log('info', 'store.journal_written', { store: this.description, journal: journal.path });
        } catch (err) {
          this.journalStale = true;
          this.options.log('error', 'store.journal_delete_failed', { journal: journal.path, error: describeError(err) });
        }
        continue;
      }
      return;
    }
  }

  /**
   * The journal could not be rewritten: nothing is promised that is durable
   * nowhere. While the store is still down, each caller's op is taken back (the
   * room returns to what the journal file still holds for it, or leaves the
   * queue) and the caller hears 'refused'. If the store is up again by now, the
   * callers wait for the store instead.
   */
  private journalFailed(callers: readonly JournalCaller[]): void {
    const up = this.isUp() && !this.closed;
    let requeued = false;
    // Newest first: a room's later op is taken back before an earlier one is looked at.
    for (let i = callers.length - 1; i >= 0; i--) {
      const c = callers[i]!;
      if (up) {
        if (this.queue.rewait(c.room, c.waiters)) requeued = true;
        // Nothing queued for the room any more: written meanwhile.
        else settle(c.waiters, 'durable');
        continue;
      }
      this.queue.revert(c.room, c.seq, this.journaled?.get(c.room));
      settle(c.waiters, 'refused');
    }
    if (requeued) this.kickFlush();
  }

  /** Callers of writes queued while down hear 'queued' once the journal holds them (journalWhileDown). */
  private queuedOnceJournaled(callers: JournalCaller[]): void {
    if (callers.length === 0) return;
    this.journalCallers.push(...callers);
    this.kickJournal();
  }

  /** Resolves once a rewrite of the journal started after this call is done: true if it succeeded. */
  private journalBarrier(): Promise<boolean> {
    return new Promise((resolve) => {
      this.journalBarriers.push(resolve);
      this.kickJournal();
    });
  }

  onLateLoad(listener: (records: RoomRecord[]) => void): void {
    this.lateListeners.push(listener);
    // The database may answer before the registry subscribed: keep the rooms for it.
    if (this.undeliveredLateLoad) {
      const records = this.undeliveredLateLoad;
      this.undeliveredLateLoad = null;
      listener(records);
    }
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
    if (this.state !== 'up' || this.backend.read === undefined) return null;
    try {
      return await this.backend.read(room);
    } catch {
      return null;
    }
  }

  health(): StoreHealth {
    return {
      kind: this.kind,
      state: this.state,
      pendingWrites: this.queue.size,
      errors: this.errors,
      lastError: this.lastError,
      description: this.description,
    };
  }

  /**
   * Flushes what is pending, waiting up to closeTimeoutMs for a store that is
   * down; what is still owed then is spilled to the journal for the next start.
   * Rejects with StoreCloseError only if that fails too (writes were lost).
   */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.stopHeartbeat();
    const deadline = Date.now() + this.options.closeTimeoutMs;
    if (this.state === 'down' && this.queue.size > 0 && this.opened && !this.reconnecting) {
      // One more try right now rather than whenever the backoff says.
      this.clearRetry();
      void this.reconnect();
    }
    // Poll rather than wire events: the queue can empty through the flusher, a
    // reconnect or a drop, and close is rare enough that 20 checks a second are free.
    while (this.queue.size > 0 && Date.now() < deadline) {
      this.kickFlush();
      await sleep(Math.min(50, Math.max(1, deadline - Date.now())));
    }
    this.closed = true;
    this.clearRetry();
    this.queue.releaseWaiters('queued');
    if (this.flushing) {
      this.backend.abort();
      await settleWithin(this.flushing, 1000);
    }
    let lost: StoreCloseError | null = null;
    try {
      await this.settleJournal();
    } catch (err) {
      lost = err as StoreCloseError;
    }
    await settleWithin(this.backend.close(), 2000);
    if (lost) throw lost;
  }

  /**
   * At close: what is still owed (every queued room's latest op, including a write
   * abandoned in flight) goes to the journal; with nothing owed, a journal that
   * is no longer needed is deleted.
   */
  private async settleJournal(): Promise<void> {
    while (this.journalWork) await this.journalWork;
    const journal = this.options.journal;
    const owed = this.queue.ops();
    if (owed.length === 0) {
      if (journal && this.journaled !== null) {
        await journal.discard().catch((err: unknown) => this.options.log('error', 'store.journal_delete_failed', { journal: journal.path, error: describeError(err) }));
      }
      return;
    }
    const fields = { store: this.description, pendingWrites: owed.length, waitedMs: this.options.closeTimeoutMs };
    if (!journal) {
      this.options.log('error', 'store.close_unflushed', fields);
      return;
    }
    try {
      await journal.write(this.backend.identity, owed);
    } catch (err) {
      const why = describeError(err);
      this.options.log('error', 'store.close_unflushed', { ...fields, journal: journal.path, error: why });
      throw new StoreCloseError(
        `${owed.length} room write(s) owed to ${this.description} were lost: the store is down and they could not be saved to ${journal.path} either (${why}). ` +
          `The rooms they belong to may be missing or out of date after the next start.`,
      );
    }
    this.options.log('warn', 'store.pending_spilled', { ...fields, journal: journal.path });
  }

  // --- writes -------------------------------------------------------------

  private async enqueue(op: PendingOp): Promise<WriteOutcome> {
    if (this.closed) return 'refused';
    if (op.kind === 'remove') this.loadGuard?.add(op.room);
    if (this.state === 'down') {
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
      if (!this.journalWhileDown) return 'queued';
      // Not 'queued' before it is durable locally: a crash now must not lose it.
      return new Promise<WriteOutcome>((resolve) => this.queuedOnceJournaled([{ room: op.room, seq, waiters: [resolve] }]));
    }
    return new Promise<WriteOutcome>((resolve) => {
      this.queue.put(op, resolve);
      this.kickFlush();
    });
  }

  private kickFlush(): void {
    if (this.flushing || this.state !== 'up') return;
    this.flushing = (async () => {
      try {
        await this.flushLoop();
      } finally {
        this.flushing = null;
      }
      // An op queued after the loop's last look but before `flushing` cleared
      // would otherwise wait for the next write.
      if (this.isUp() && this.queue.size > 0) this.kickFlush();
    })();
  }

  /** Group commit: whatever queued while a write was in flight goes in the next one. */
  private async flushLoop(): Promise<void> {
    while (this.state === 'up' && this.queue.size > 0) {
      const batch = this.queue.takeBatch(this.backend.maxBatch);
      if (batch.length === 0) break;
      await this.writeBatch(batch);
    }
  }

  private async writeBatch(batch: BatchItem[]): Promise<void> {
    // The journal file must never hold an op older than one written to the store:
    // replayed after a crash, it would roll the room back (a removed room revived).
    if (this.journalBehind(batch) && !(await this.journalBarrier())) {
      this.options.log('warn', 'store.journal_behind', { store: this.description, journal: this.options.journal?.path });
    }
    const result = await this.timedWrite(batch.map((item) => item.op));
    if (result === 'ok') {
      this.queue.ack(batch);
      this.attempt = 0;
      this.refusedLogged = false;
      this.retireJournal();
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
        if (this.state !== 'up') {
          this.failBatch(batch.slice(i));
          return;
        }
        await this.writeBatch([batch[i]!]);
      }
      return;
    }
    const item = batch[0]!;
    this.errors++;
    this.lastError = describeError(result.error);
    this.options.log('error', 'store.write_rejected', { store: this.description, room: item.op.room, op: item.op.kind, error: this.lastError });
    this.queue.drop(item);
    this.retireJournal();
  }

  /** True if the journal file holds an older op of a room in batch than the one about to be written. */
  private journalBehind(batch: readonly BatchItem[]): boolean {
    if (!this.journalWhileDown) return false;
    // A rewrite in progress counts too: its snapshot may be in the file any moment.
    for (const kept of [this.journaled, this.journalWriting]) {
      if (kept === null) continue;
      for (const item of batch) {
        const inFile = kept.get(item.op.room);
        if (inFile !== undefined && inFile.seq < item.seq) return true;
      }
    }
    return false;
  }

  /** The batch was not written (store down): ops stay queued, callers hear 'queued' (once journaled, with journalWhileDown). */
  private failBatch(items: readonly BatchItem[]): void {
    if (!this.journalWhileDown) {
      this.queue.fail(items);
      return;
    }
    this.queuedOnceJournaled(items.filter((item) => item.waiters.length > 0).map((item) => ({ room: item.op.room, seq: item.seq, waiters: item.waiters })));
  }

  private async timedWrite(ops: PendingOp[]): Promise<'ok' | { error: unknown }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<{ error: unknown }>((resolve) => {
      timer = setTimeout(() => resolve({ error: new WriteTimeoutError(this.backend.writeTimeoutMs) }), this.backend.writeTimeoutMs);
    });
    const write = this.backend.write(ops).then(
      () => 'ok' as const,
      (error: unknown) => ({ error }),
    );
    const result = await Promise.race([write, timeout]);
    clearTimeout(timer);
    if (result !== 'ok' && result.error instanceof WriteTimeoutError) {
      // The entries stay queued; whatever the abandoned write does later is
      // harmless because the next write of the same rooms carries their latest op.
      this.backend.abort();
    }
    return result;
  }

  // --- up / down ----------------------------------------------------------

  private markUp(announce: boolean): void {
    this.state = 'up';
    if (announce) this.options.log('info', 'store.up', { store: this.description, pendingWrites: this.queue.size });
    this.startHeartbeat();
    this.kickFlush();
  }

  private markDown(err: unknown, event: string): void {
    const wasUp = this.state === 'up';
    this.state = 'down';
    this.errors++;
    this.lastError = describeError(err);
    this.stopHeartbeat();
    // Callers still waiting for durability (their write queued behind the one that
    // failed) hear 'queued' now (once journaled) rather than whenever the database comes back.
    if (this.journalWhileDown) {
      this.queuedOnceJournaled(this.queue.detachWaiters().map((d) => ({ room: d.room, seq: d.seq, waiters: [d.waiter] })));
    } else {
      this.queue.releaseWaiters('queued');
    }
    if (wasUp || event === 'store.unreachable_at_start') {
      this.options.log('error', event, { store: this.description, error: this.lastError, pendingWrites: this.queue.size });
    }
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.closed) return;
    const delay = backoffDelay(this.attempt++, this.options.backoff);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.reconnect();
    }, delay);
    // A retry alone must not keep a finished process alive; close() holds its own timer.
    this.retryTimer.unref();
  }

  private clearRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private async reconnect(): Promise<void> {
    if (this.closed || this.state === 'up') return;
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
      this.errors++;
      this.lastError = describeError(err);
      // A StoreStartError here (say, access denied once the server is back) cannot
      // stop a running server: it stays down, says why, and keeps trying.
      this.options.log(err instanceof StoreStartError ? 'error' : 'warn', 'store.retry_failed', {
        store: this.description,
        attempt: this.attempt,
        error: this.lastError,
        pendingWrites: this.queue.size,
      });
      this.scheduleRetry();
      return;
    }
    if (this.closed) return;
    if (this.queue.size === 0) this.attempt = 0;
    this.markUp(true);
    // Drain before loading, so rooms removed while down are not handed back.
    if (this.flushing) await this.flushing;
    // (A method call: TypeScript would keep `state` narrowed across the await.)
    if (!this.loaded && this.isUp() && !this.closed) await this.lateLoad();
  }

  private isUp(): boolean {
    return this.state === 'up';
  }

  private async lateLoad(): Promise<void> {
    // A room removed (purged, perhaps created again) while the load runs may come
    // back from it as it was before: those rows are stale, the registry knows better.
    const guard = new Set<string>();
    for (const op of this.queue.ops()) if (op.kind === 'remove' || op.replaces === true) guard.add(op.room);
    this.loadGuard = guard;
    let records: RoomRecord[];
    try {
      records = await this.backend.load();
    } catch (err) {
      this.markDown(err, 'store.down');
      this.scheduleRetry();
      return;
    } finally {
      this.loadGuard = null;
    }
    if (guard.size > 0) records = records.filter((r) => !guard.has(r.room));
    this.loaded = true;
    this.options.log('info', 'store.late_load', { store: this.description, rooms: records.length });
    if (this.lateListeners.length === 0) {
      this.undeliveredLateLoad = records;
      return;
    }
    for (const listener of this.lateListeners) {
      try {
        listener(records);
      } catch (err) {
        this.options.log('error', 'store.late_load_listener_failed', { error: describeError(err) });
      }
    }
  }

  private startHeartbeat(): void {
    const ping = this.backend.ping?.bind(this.backend);
    if (!ping || this.heartbeat || this.options.heartbeatMs <= 0) return;
    this.heartbeat = setInterval(() => {
      // Only when idle: a write in flight is its own liveness check.
      if (this.state !== 'up' || this.flushing || this.closed) return;
      void this.pingOnce(ping);
    }, this.options.heartbeatMs);
    this.heartbeat.unref();
  }

  private async pingOnce(ping: () => Promise<void>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<Error>((resolve) => {
      timer = setTimeout(() => resolve(new WriteTimeoutError(this.backend.writeTimeoutMs)), this.backend.writeTimeoutMs);
    });
    const result = await Promise.race([ping().then(() => null, (err: unknown) => err), timeout]);
    clearTimeout(timer);
    if (result === null || this.state !== 'up' || this.closed) return;
    if (this.backend.classify(result) !== 'transient') return;
    this.markDown(result, 'store.down');
    this.scheduleRetry();
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }
}

/** The rooms that ops save (a journal's, handed to the registry while the store is down). */
function savedRecords(ops: readonly PendingOp[]): RoomRecord[] {
  const records: RoomRecord[] = [];
  for (const op of ops) if (op.kind === 'save') records.push({ ...op.record });
  return records;
}

/** One line for logs and /healthz; errors from our own code already carry no secrets. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    // The connector prefixes "(conn:12, no: 1045, SQLState: 28000) ": keep the words.
    const message = err.message.replace(/^\(conn:[^)]*\)\s*/, '').split('\n')[0]!;
    return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
  }
  return String(err);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits for p (ignoring its outcome) but no longer than ms, leaving no timer behind. */
async function settleWithin(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  await Promise.race([p.then(noop, noop), bound]);
  clearTimeout(timer);
}

function noop(): void {}

function settle(waiters: readonly Waiter[], outcome: WriteOutcome): void {
  for (const w of waiters) w(outcome);
}

/** A write (or liveness check) that hung: treated as an outage. */
export class WriteTimeoutError extends Error {
  constructor(ms: number) {
    super(`the store did not answer within ${ms} ms`);
  }
}

export const DEFAULT_QUEUED_STORE_OPTIONS: Omit<QueuedStoreOptions, 'log' | 'journal'> = {
  maxPendingWrites: DEFAULT_MAX_PENDING_WRITES,
  backoff: DEFAULT_BACKOFF,
  closeTimeoutMs: 5000,
  heartbeatMs: 5000,
};
