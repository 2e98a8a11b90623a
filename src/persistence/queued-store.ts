// The RoomStore behaviour shared by both backends: up/down state, the pending
// queue, group commit, reconnect with backoff, the late load, the flush at close
// and the spill journal (journal.ts) for what a stop still owes. A Backend only
// knows how to connect, load and write one batch.

import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff';
import type { PendingJournal } from './journal';
import { PendingWrites, type BatchItem } from './pending';
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
  /** rooms replayed from the journal whose writes are not durable yet; the file is deleted once none is left */
  private journalRooms: Set<string> | null = null;
  /** the journal file still exists although nothing in it is owed (a failed delete) */
  private journalStale = false;
  /** journal file operations, one after another */
  private journalChain: Promise<void> = Promise.resolve();
  /** while a late load runs: rooms removed (or removed and created again) meanwhile, whose loaded row is stale */
  private loadGuard: Set<string> | null = null;

  constructor(
    private readonly backend: Backend,
    private readonly options: QueuedStoreOptions,
  ) {
    this.kind = backend.kind;
    this.description = backend.description;
    this.queue = new PendingWrites(options.maxPendingWrites);
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
    for (const op of ops) this.queue.put(op);
    this.journalRooms = new Set(ops.map((op) => op.room));
    this.options.log('warn', 'store.journal_replayed', { store: this.description, journal: journal.path, writes: ops.length });
    return ops;
  }

  /** Deletes the journal once every write it held is durable (or refused for good by the database). */
  private retireJournal(): void {
    const rooms = this.journalRooms;
    const journal = this.options.journal;
    if (!rooms || !journal || this.closed) return;
    for (const room of rooms) {
      if (this.queue.has(room)) return;
      rooms.delete(room);
    }
    this.journalRooms = null;
    this.journalChain = this.journalChain
      .then(() => journal.discard())
      .then(
        () => this.options.log('info', 'store.journal_written', { store: this.description, journal: journal.path }),
        (err: unknown) => {
          this.journalStale = true;
          this.options.log('error', 'store.journal_delete_failed', { journal: journal.path, error: describeError(err) });
        },
      );
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
    await this.journalChain;
    const journal = this.options.journal;
    const owed = this.queue.ops();
    if (owed.length === 0) {
      if (journal && (this.journalRooms !== null || this.journalStale)) {
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
      this.queue.put(op);
      return 'queued';
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
    const result = await this.timedWrite(batch.map((item) => item.op));
    if (result === 'ok') {
      this.queue.ack(batch);
      this.attempt = 0;
      this.refusedLogged = false;
      this.retireJournal();
      return;
    }
    if (this.backend.classify(result.error) === 'transient') {
      this.queue.fail(batch);
      this.markDown(result.error, 'store.down');
      this.scheduleRetry();
      return;
    }
    if (batch.length > 1) {
      // One bad row fails the whole transaction: find it by writing one at a time.
      for (let i = 0; i < batch.length; i++) {
        if (this.state !== 'up') {
          this.queue.fail(batch.slice(i));
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
    // failed) hear 'queued' now rather than whenever the database comes back.
    this.queue.releaseWaiters('queued');
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
