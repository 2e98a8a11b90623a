// Keeps the spill journal (DATA_DIR/pending-writes.json, journal.ts) in step with the
// room store's queue: replayed at open, rewritten during an outage before a write is
// acknowledged, deleted once all it holds is durable, written with what a stop still owes.

import type { PendingJournal } from './journal';
import { settle, type BatchItem, type PendingWrites, type Waiter } from './pending';
import { StoreCloseError, type PendingOp, type StoreLog } from './types';
import { describeError, type WriteBehind } from './write-behind';

/** Callers told 'queued' once the journal holds the room's op put as seq. */
export interface JournalCaller {
  room: string;
  seq: number;
  waiters: Waiter[];
}

/** The parts of the room store the journal follows. */
export interface JournaledStore {
  /** the data the backend writes to: a journal owed to another store is refused */
  readonly identity: string;
  readonly description: string;
  readonly queue: PendingWrites;
  readonly behind: WriteBehind;
  readonly log: StoreLog;
  isClosed(): boolean;
  /** starts writing the queue (callers were put back in it) */
  flush(): void;
}

type Kept = Map<string, { op: PendingOp; seq: number }>;

/**
 * With keptWhileDown (MariaDB), the journal is kept up to date during an outage,
 * so that a crash (kill -9) loses nothing either: a write that enters the queue
 * while the store is down (or whose write to the store failed) is told 'queued'
 * only once a rewrite of the journal holding it is durable (group commit: one
 * rewrite of the whole coalesced queue for every write of one turn of the event
 * loop, and for those arriving while it runs). If that rewrite fails, the write
 * is taken back out of the queue and told 'refused'. While the store is up and no
 * journal file exists, the journal is never touched. While one exists (after an
 * outage, until the queue has drained), a write to the store of a room whose op
 * in the file is older is preceded by a rewrite, so that replaying the file after
 * a crash never rolls a room back. Without keptWhileDown (the file store, whose
 * outages are disk errors the journal would share) it is written only at close.
 */
export class OutageJournal {
  /** the journal is rewritten during an outage, not only at close */
  readonly keptWhileDown: boolean;
  /** what the file holds (as replayed or last written): each room's op and its seq; null = no file */
  private journaled: Kept | null = null;
  /** the snapshot a rewrite in progress is putting into the file (it may be there already) */
  private writing: Kept | null = null;
  /** rooms of the file that may still be queued; the file is deleted once none is */
  private owed = new Set<string>();
  /** the file still exists although nothing in it is owed (a failed delete): retried only at close */
  private stale = false;
  /** callers waiting for the next rewrite (writes queued while down) */
  private callers: JournalCaller[] = [];
  /** writes to the store waiting for the next rewrite (see catchUp) */
  private barriers: ((ok: boolean) => void)[] = [];
  private failLogged = false;
  /** the worker: rewrites and deletes, one after another */
  private work: Promise<void> | null = null;

  constructor(
    private readonly journal: PendingJournal | null,
    keptWhileDown: boolean,
    private readonly store: JournaledStore,
  ) {
    this.keptWhileDown = keptWhileDown && journal !== null;
  }

  /** Queues the writes a previous stop could not make, as the store's first writes. */
  async replay(): Promise<PendingOp[]> {
    const journal = this.journal;
    if (!journal) return [];
    const ops = await journal.read(this.store.identity);
    if (ops.length === 0) return [];
    // Past the bound if need be: these rooms were promised already.
    const kept: Kept = new Map();
    for (const op of ops) {
      this.store.queue.put(op);
      kept.set(op.room, this.store.queue.current(op.room)!);
    }
    this.journaled = kept;
    this.owed = new Set(kept.keys());
    this.store.log('warn', 'store.journal_replayed', { store: this.store.description, journal: journal.path, writes: ops.length });
    return ops;
  }

  /** Deletes the file once every write it held is durable (or refused for good by the database). */
  retire(): void {
    if (this.journaled === null || this.stale || this.store.isClosed() || !this.journal) return;
    if (this.owedLeft()) return;
    this.kick();
  }

  /** Callers of writes queued while down hear 'queued' once the journal holds them (keptWhileDown). */
  queuedOnceJournaled(callers: JournalCaller[]): void {
    if (callers.length === 0) return;
    this.callers.push(...callers);
    this.kick();
  }

  /**
   * True if the file holds an older op of a room in batch than the one about to
   * be written: replayed after a crash, it would roll the room back (a removed
   * room revived), so the file is rewritten first (catchUp).
   */
  isBehind(batch: readonly BatchItem[]): boolean {
    if (!this.keptWhileDown) return false;
    // A rewrite in progress counts too: its snapshot may be in the file any moment.
    for (const kept of [this.journaled, this.writing]) {
      if (kept === null) continue;
      for (const item of batch) {
        const inFile = kept.get(item.op.room);
        if (inFile !== undefined && inFile.seq < item.seq) return true;
      }
    }
    return false;
  }

  /** Resolves once a rewrite of the file started after this call is done. */
  async catchUp(): Promise<void> {
    const ok = await new Promise<boolean>((resolve) => {
      this.barriers.push(resolve);
      this.kick();
    });
    if (!ok) this.store.log('warn', 'store.journal_behind', { store: this.store.description, journal: this.journal?.path });
  }

  /**
   * At close: what is still owed (every queued room's latest op, including a write
   * abandoned in flight) goes to the file; with nothing owed, a file that is no
   * longer needed is deleted. Throws StoreCloseError if the owed writes are lost.
   */
  async spill(waitedMs: number): Promise<void> {
    while (this.work) await this.work;
    const journal = this.journal;
    const owed = this.store.queue.ops();
    const { description, log } = this.store;
    if (owed.length === 0) {
      if (journal && this.journaled !== null) {
        await journal.discard().catch((err: unknown) => log('error', 'store.journal_delete_failed', { journal: journal.path, error: describeError(err) }));
      }
      return;
    }
    const fields = { store: description, pendingWrites: owed.length, waitedMs };
    if (!journal) {
      log('error', 'store.close_unflushed', fields);
      return;
    }
    try {
      await journal.write(this.store.identity, owed);
    } catch (err) {
      const why = describeError(err);
      log('error', 'store.close_unflushed', { ...fields, journal: journal.path, error: why });
      throw new StoreCloseError(
        `${owed.length} room write(s) owed to ${description} were lost: the store is down and they could not be saved to ${journal.path} either (${why}). ` +
          `The rooms they belong to may be missing or out of date after the next start.`,
      );
    }
    log('warn', 'store.pending_spilled', { ...fields, journal: journal.path });
  }

  /** True while a room of the file is still queued (forgets those that are not). */
  private owedLeft(): boolean {
    for (const room of this.owed) {
      if (this.store.queue.has(room)) return true;
      this.owed.delete(room);
    }
    return false;
  }

  /** Starts the worker unless it runs (it picks up whatever is asked meanwhile). */
  private kick(): void {
    const journal = this.journal;
    if (this.work || !journal) return;
    this.work = (async () => {
      try {
        // Group commit: every write queued in this turn of the event loop goes into one
        // rewrite. (A delete alone starts at once.)
        if (this.waiting()) await new Promise<void>((resolve) => setImmediate(resolve));
        await this.loop(journal);
      } finally {
        this.work = null;
      }
      if (this.waiting()) this.kick();
    })();
  }

  private waiting(): boolean {
    return this.callers.length > 0 || this.barriers.length > 0;
  }

  private async loop(journal: PendingJournal): Promise<void> {
    for (;;) {
      if (this.waiting()) {
        await this.rewrite(journal);
        continue;
      }
      if (this.journaled !== null && !this.stale && !this.store.isClosed() && !this.owedLeft()) {
        try {
          await journal.discard();
          this.journaled = null;
          this.owed.clear();
          this.store.log('info', 'store.journal_written', { store: this.store.description, journal: journal.path });
        } catch (err) {
          this.stale = true;
          this.store.log('error', 'store.journal_delete_failed', { journal: journal.path, error: describeError(err) });
        }
        continue;
      }
      return;
    }
  }

  /** One rewrite of the whole coalesced queue for everyone waiting now. */
  private async rewrite(journal: PendingJournal): Promise<void> {
    const callers = this.callers;
    const barriers = this.barriers;
    this.callers = [];
    this.barriers = [];
    if (this.store.isClosed()) {
      // close() spills the whole queue itself, and fails loudly if it cannot.
      for (const c of callers) settle(c.waiters, 'queued');
      for (const b of barriers) b(false);
      return;
    }
    // Every room's latest op, in flight or not.
    const snapshot = this.store.queue.snapshot();
    const writing: Kept | null = snapshot.length > 0 ? new Map(snapshot.map((e) => [e.op.room, e])) : null;
    this.writing = writing;
    try {
      if (writing) await journal.write(this.store.identity, snapshot.map((e) => e.op));
    } catch (err) {
      this.store.behind.failed(err, journal.path);
      if (!this.failLogged) {
        // Once until a rewrite succeeds again: under load every group would log it.
        this.failLogged = true;
        this.store.log('error', 'store.journal_write_failed', { store: this.store.description, journal: journal.path, error: describeError(err), refused: callers.length });
      }
      this.failed(callers);
      for (const b of barriers) b(false);
      return;
    } finally {
      // A failed rewrite left the previous file in place (temp file, then rename).
      this.writing = null;
    }
    if (writing) {
      this.journaled = writing;
      this.owed = new Set(writing.keys());
      this.stale = false;
    }
    this.failLogged = false;
    for (const c of callers) settle(c.waiters, 'queued');
    for (const b of barriers) b(true);
  }

  /**
   * The file could not be rewritten: nothing is promised that is durable
   * nowhere. While the store is still down, each caller's op is taken back (the
   * room returns to what the file still holds for it, or leaves the queue) and
   * the caller hears 'refused'. If the store is up again by now, the callers
   * wait for the store instead.
   */
  private failed(callers: readonly JournalCaller[]): void {
    const up = this.store.behind.isUp && !this.store.isClosed();
    const queue = this.store.queue;
    let requeued = false;
    // Newest first: a room's later op is taken back before an earlier one is looked at.
    for (let i = callers.length - 1; i >= 0; i--) {
      const c = callers[i]!;
      if (up) {
        if (queue.rewait(c.room, c.waiters)) requeued = true;
        // Nothing queued for the room any more: written meanwhile.
        else settle(c.waiters, 'durable');
        continue;
      }
      queue.revert(c.room, c.seq, this.journaled?.get(c.room));
      settle(c.waiters, 'refused');
    }
    if (requeued) this.store.flush();
  }
}
