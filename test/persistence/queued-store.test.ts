// The store's state machine against a scripted backend (no database): outages,
// group commit, the queue bound, late load, timeouts, data errors, close, and the
// spill journal (what a stop during an outage still owes, replayed at the next start),
// kept up to date during an outage with journalWhileDown (MariaDB), so that a crash
// loses nothing: 'queued' only once the journal file holds the write, 'refused' if
// it cannot. The real backends are covered by the mariadb-* and file tests.

import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeJournal, FileJournal, type PendingJournal } from '../../src/persistence/journal';
import type { Backend } from '../../src/persistence/backend';
import { QueuedStore } from '../../src/persistence/queued-store';
import { applySave, StoreCloseError, StoreStartError, type PendingOp, type RoomRecord, type WriteOutcome } from '../../src/persistence/types';

const rec = (room: string, owner = 'ann'): RoomRecord => ({ room, owner, createdAt: 1_700_000_000_123, status: 'live', lastActivity: 1_700_000_000_456 });

class Outage extends Error {}
class BadData extends Error {}

class FakeBackend implements Backend {
  readonly kind = 'mariadb' as const;
  readonly description = 'fake';
  readonly identity = 'fake';
  maxBatch = 100;
  writeTimeoutMs = 500;
  up = true;
  startError: StoreStartError | null = null;
  db = new Map<string, RoomRecord>();
  batches: PendingOp[][] = [];
  events: string[] = [];
  bad = new Set<string>();
  gate: Promise<void> | null = null;
  /** load() reads the rows, then waits for this before answering (a slow SELECT) */
  loadGate: Promise<void> | null = null;
  hang = false;
  aborted = 0;
  private unhang: (() => void) | null = null;
  pings = 0;

  async connect(): Promise<void> {
    if (this.startError) throw this.startError;
    if (!this.up) throw new Outage('ECONNREFUSED');
    this.events.push('connect');
  }
  async load(): Promise<RoomRecord[]> {
    this.events.push('load');
    const rows = [...this.db.values()];
    if (this.loadGate) await this.loadGate;
    return rows;
  }
  async write(ops: readonly PendingOp[]): Promise<void> {
    if (this.gate) await this.gate;
    if (this.hang) {
      // like a destroyed socket: the hung write fails once aborted
      await new Promise<void>((r) => (this.unhang = r));
      throw new Outage('connection destroyed');
    }
    if (!this.up) throw new Outage('connection lost');
    if (ops.some((op) => this.bad.has(op.room))) throw new BadData('data too long');
    this.batches.push([...ops]);
    this.events.push(`write:${ops.length}`);
    for (const op of ops) {
      if (op.kind === 'save') this.db.set(op.room, applySave(this.db.get(op.room), op));
      else this.db.delete(op.room);
    }
  }
  classify(err: unknown): 'transient' | 'data' {
    return err instanceof BadData ? 'data' : 'transient';
  }
  async ping(): Promise<void> {
    this.pings++;
    if (!this.up) throw new Outage('ping failed');
  }
  abort(): void {
    this.aborted++;
    this.hang = false;
    this.unhang?.();
    this.unhang = null;
  }
  async close(): Promise<void> {
    this.events.push('close');
  }
}

/** The journal in memory; its file operations are logged into the backend's events, for order. */
class FakeJournal implements PendingJournal {
  readonly path = '/data/pending-writes.json';
  file: { store: string; ops: PendingOp[] } | null = null;
  failWrite = false;
  /** a rewrite waits for this before it lands */
  gate: Promise<void> | null = null;
  /** every content written, in order */
  history: PendingOp[][] = [];
  constructor(private readonly events: string[]) {}
  async read(store: string): Promise<PendingOp[]> {
    if (!this.file) return [];
    if (this.file.store !== store) throw new StoreStartError(`owed to ${this.file.store}`);
    return this.file.ops.map((op) => ({ ...op }));
  }
  async write(store: string, ops: readonly PendingOp[]): Promise<void> {
    if (this.gate) await this.gate;
    if (this.failWrite) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
    this.file = { store, ops: ops.map((op) => ({ ...op })) };
    this.history.push(ops.map((op) => ({ ...op })));
    this.events.push(`journal:write:${ops.length}`);
  }
  async discard(): Promise<void> {
    this.file = null;
    this.events.push('journal:discard');
  }
}

/** A real FileJournal that can be made to play dead: a crashed process touches no file any more. */
class CrashableJournal implements PendingJournal {
  dead = false;
  constructor(private readonly inner: FileJournal) {}
  get path(): string {
    return this.inner.path;
  }
  read(store: string): Promise<PendingOp[]> {
    return this.inner.read(store);
  }
  async write(store: string, ops: readonly PendingOp[]): Promise<void> {
    if (!this.dead) await this.inner.write(store, ops);
  }
  async discard(): Promise<void> {
    if (!this.dead) await this.inner.discard();
  }
}

function makeStore(
  backend: FakeBackend,
  extra: { maxPendingWrites?: number; closeTimeoutMs?: number; heartbeatMs?: number; journal?: PendingJournal; journalWhileDown?: boolean } = {},
) {
  const logs: string[] = [];
  const store = new QueuedStore(backend, {
    maxPendingWrites: extra.maxPendingWrites ?? 1000,
    log: (_level, event) => logs.push(event),
    backoff: { minMs: 10, maxMs: 40 },
    closeTimeoutMs: extra.closeTimeoutMs ?? 1000,
    heartbeatMs: extra.heartbeatMs ?? 0,
    journal: extra.journal ?? null,
    journalWhileDown: extra.journalWhileDown ?? false,
  });
  return { store, logs };
}

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

test('up: save is durable once written, remove too', async () => {
  const b = new FakeBackend();
  b.db.set('old', rec('old'));
  const { store } = makeStore(b);
  assert.equal(await store.open(), [rec('old')]);
  assert.is(store.health().state, 'up');
  assert.is(await store.save(rec('a')), 'durable');
  assert.equal(b.db.get('a'), rec('a'));
  assert.is(await store.remove('old'), 'durable');
  assert.not.ok(b.db.has('old'));
  assert.is(store.health().pendingWrites, 0);
  await store.close();
});

test('group commit: writes arriving during a write go into one next write', async () => {
  const b = new FakeBackend();
  const { store } = makeStore(b);
  await store.open();
  let release!: () => void;
  b.gate = new Promise((r) => (release = r));
  const first = store.save(rec('first'));
  await new Promise((r) => setTimeout(r, 5));
  const rest = Array.from({ length: 50 }, (_, i) => store.save(rec(`r${i}`)));
  b.gate = null;
  release();
  const outcomes = await Promise.all([first, ...rest]);
  assert.ok(outcomes.every((o) => o === 'durable'));
  assert.equal(
    b.batches.map((x) => x.length),
    [1, 50],
  );
  await store.close();
});

test('a StoreStartError stops open()', async () => {
  const b = new FakeBackend();
  b.startError = new StoreStartError('access denied, grant it');
  const { store } = makeStore(b);
  try {
    await store.open();
    assert.unreachable('open should throw');
  } catch (err) {
    assert.instance(err, StoreStartError);
  }
  assert.is(await store.save(rec('a')), 'refused');
});

test('down at start: [] and queued writes, then drain before the late load', async () => {
  const b = new FakeBackend();
  b.up = false;
  b.db.set('stored', rec('stored', 'bob'));
  b.db.set('gone', rec('gone'));
  const { store, logs } = makeStore(b);
  const late: RoomRecord[][] = [];
  store.onLateLoad((r) => late.push(r));
  assert.equal(await store.open(), []);
  assert.is(store.health().state, 'down');
  assert.is(await store.save(rec('new')), 'queued');
  assert.is(await store.remove('gone'), 'queued');
  assert.is(store.health().pendingWrites, 2);
  b.up = true;
  await until(() => late.length === 1);
  assert.is(store.health().state, 'up');
  assert.is(store.health().pendingWrites, 0);
  // the removal was written before the load, so "gone" is not handed back
  assert.equal(late[0]!.map((r) => r.room).sort(), ['new', 'stored']);
  assert.ok(b.events.indexOf('write:2') < b.events.lastIndexOf('load'));
  assert.ok(logs.includes('store.unreachable_at_start') && logs.includes('store.late_load'));
  await new Promise((r) => setTimeout(r, 50));
  assert.is(late.length, 1, 'late load happens once');
  await store.close();
});

test('a late load that happens before anyone listens is kept for the first listener', async () => {
  const b = new FakeBackend();
  b.up = false;
  b.db.set('stored', rec('stored'));
  const { store } = makeStore(b);
  await store.open();
  b.up = true;
  await until(() => store.health().state === 'up');
  await new Promise((r) => setTimeout(r, 20));
  let got: RoomRecord[] | null = null;
  store.onLateLoad((r) => (got = r));
  assert.equal(got, [rec('stored')]);
  await store.close();
});

test('outage mid-run: failed write is queued, later ones coalesce, reconnect writes the latest', async () => {
  const b = new FakeBackend();
  const { store } = makeStore(b);
  await store.open();
  b.up = false;
  assert.is(await store.save(rec('a', 'v1')), 'queued');
  assert.is(store.health().state, 'down');
  assert.is(store.health().errors >= 1, true);
  assert.is(await store.save(rec('a', 'v2')), 'queued');
  assert.is(await store.save(rec('b')), 'queued');
  assert.is(store.health().pendingWrites, 2);
  b.up = true;
  await until(() => store.health().pendingWrites === 0 && store.health().state === 'up');
  assert.equal(b.db.get('a')!.owner, 'v2');
  assert.ok(b.db.has('b'));
  // v1 was never written after v2
  const writesOfA = b.batches.flat().filter((op) => op.room === 'a');
  assert.is(writesOfA.length, 1);
  await store.close();
});

test('callers queued behind a failing write hear queued, not silence', async () => {
  const b = new FakeBackend();
  const { store } = makeStore(b);
  await store.open();
  let release!: () => void;
  b.gate = new Promise((r) => (release = r));
  const first = store.save(rec('a'));
  await new Promise((r) => setTimeout(r, 5));
  const second = store.save(rec('b'));
  b.up = false;
  b.gate = null;
  release();
  assert.equal(await Promise.all([first, second]), ['queued', 'queued']);
  b.up = true;
  await until(() => store.health().pendingWrites === 0);
  await store.close();
});

test('the bound: down and full refuses new rooms only', async () => {
  const b = new FakeBackend();
  b.up = false;
  const { store, logs } = makeStore(b, { maxPendingWrites: 2 });
  await store.open();
  assert.is(await store.save(rec('a')), 'queued');
  assert.is(await store.save(rec('b')), 'queued');
  assert.is(await store.save(rec('c')), 'refused');
  assert.is(await store.save(rec('a', 'again')), 'queued');
  assert.is(await store.remove('b'), 'queued');
  assert.is(store.health().pendingWrites, 2);
  assert.ok(logs.includes('store.queue_full'));
  b.up = true;
  await until(() => store.health().pendingWrites === 0);
  assert.equal([...b.db.keys()], ['a']);
  assert.is(await store.save(rec('c')), 'durable');
  await store.close();
});

test('a bad row is refused alone; the rest of its batch is durable', async () => {
  const b = new FakeBackend();
  const { store, logs } = makeStore(b);
  await store.open();
  b.bad.add('bad');
  let release!: () => void;
  b.gate = new Promise((r) => (release = r));
  const first = store.save(rec('first'));
  await new Promise((r) => setTimeout(r, 5));
  const many = [store.save(rec('x')), store.save(rec('bad')), store.save(rec('y'))];
  b.gate = null;
  release();
  assert.equal(await Promise.all([first, ...many]), ['durable', 'durable', 'refused', 'durable']);
  assert.is(store.health().state, 'up');
  assert.is(store.health().pendingWrites, 0);
  assert.ok(logs.includes('store.write_rejected'));
  await store.close();
});

test('a hung write times out: queued, down, aborted, then retried', async () => {
  const b = new FakeBackend();
  b.writeTimeoutMs = 100;
  const { store } = makeStore(b);
  await store.open();
  b.hang = true;
  const t0 = Date.now();
  assert.is(await store.save(rec('a')), 'queued');
  assert.ok(Date.now() - t0 < 2000, 'the hung write was given up at its timeout, not waited out');
  assert.is(b.aborted, 1);
  await until(() => store.health().pendingWrites === 0 && store.health().state === 'up');
  assert.ok(b.db.has('a'));
  await store.close();
});

test('heartbeat notices an outage without traffic', async () => {
  const b = new FakeBackend();
  const { store } = makeStore(b, { heartbeatMs: 20 });
  await store.open();
  b.up = false;
  await until(() => store.health().state === 'down');
  b.up = true;
  await until(() => store.health().state === 'up');
  await store.close();
});

test('close flushes what is pending once the store is back, then refuses', async () => {
  const b = new FakeBackend();
  const { store } = makeStore(b, { closeTimeoutMs: 2000 });
  await store.open();
  b.up = false;
  assert.is(await store.save(rec('a')), 'queued');
  setTimeout(() => (b.up = true), 100);
  await store.close();
  assert.ok(b.db.has('a'));
  assert.is(b.events[b.events.length - 1], 'close');
  assert.is(await store.save(rec('b')), 'refused');
});

test('close gives up after its bound when the store stays down', async () => {
  const b = new FakeBackend();
  const { store, logs } = makeStore(b, { closeTimeoutMs: 200 });
  await store.open();
  b.up = false;
  assert.is(await store.save(rec('a')), 'queued');
  const t0 = Date.now();
  await store.close();
  assert.ok(Date.now() - t0 < 1000, `close took ${Date.now() - t0} ms`);
  assert.ok(logs.includes('store.close_unflushed'));
});

test('a caller still waiting when close gives up hears queued', async () => {
  const b = new FakeBackend();
  b.writeTimeoutMs = 10_000;
  const { store } = makeStore(b, { closeTimeoutMs: 100 });
  await store.open();
  b.hang = true;
  const pending: Promise<WriteOutcome> = store.save(rec('a'));
  await store.close();
  assert.is(await pending, 'queued');
});

// --- the spill journal -------------------------------------------------------------

test('close while down spills what is owed; the next open replays it while still down, writes it first when back, then deletes it', async () => {
  const b = new FakeBackend();
  const journal = new FakeJournal(b.events);
  b.db.set('stored', rec('stored', 'ann'));
  const first = makeStore(b, { closeTimeoutMs: 100, journal });
  await first.store.open();
  b.up = false;
  assert.is(await first.store.save(rec('owed', 'olga')), 'queued');
  assert.is(await first.store.remove('stored'), 'queued');
  assert.is(await first.store.save(rec('stored', 'zed')), 'queued');
  await first.store.close();
  assert.ok(first.logs.includes('store.pending_spilled'));
  assert.not.ok(first.logs.includes('store.close_unflushed'));
  assert.equal(journal.file, {
    store: 'fake',
    ops: [
      { kind: 'save', room: 'owed', record: rec('owed', 'olga') },
      { kind: 'save', room: 'stored', record: rec('stored', 'zed'), replaces: true },
    ],
  });

  // Restarted with the database still down: the rooms are served at once.
  const second = makeStore(b, { journal });
  const late: RoomRecord[][] = [];
  second.store.onLateLoad((r) => late.push(r));
  assert.equal(await second.store.open(), [rec('owed', 'olga'), rec('stored', 'zed')]);
  assert.is(second.store.health().state, 'down');
  assert.is(second.store.health().pendingWrites, 2);
  assert.ok(second.logs.includes('store.journal_replayed'));
  assert.ok(journal.file !== null, 'kept until written');

  b.up = true;
  await until(() => late.length === 1 && journal.file === null);
  // the re-created room replaced the stored one rather than merging into it
  assert.equal(b.db.get('stored'), rec('stored', 'zed'));
  assert.equal(b.db.get('owed'), rec('owed', 'olga'));
  const written = b.events.lastIndexOf('write:2');
  assert.ok(written !== -1 && written < b.events.indexOf('journal:discard'), `deleted after the write: ${b.events.join(' ')}`);
  assert.equal(late[0]!.map((r) => r.room).sort(), ['owed', 'stored']);
  await second.store.close();
  assert.is(journal.file, null, 'nothing owed at close: no journal');
});

test('a journal found while the store is up is written before the load, then deleted', async () => {
  const b = new FakeBackend();
  const journal = new FakeJournal(b.events);
  b.db.set('gone', rec('gone'));
  journal.file = { store: 'fake', ops: [{ kind: 'save', room: 'owed', record: rec('owed', 'olga') }, { kind: 'remove', room: 'gone' }] };
  const { store } = makeStore(b, { journal });
  assert.equal(await store.open(), [rec('owed', 'olga')]);
  assert.is(store.health().state, 'up');
  assert.ok(b.events.indexOf('write:2') < b.events.indexOf('load'), b.events.join(' '));
  await until(() => journal.file === null);
  await store.close();
});

test('a journal owed to another store stops the start, untouched', async () => {
  const b = new FakeBackend();
  const journal = new FakeJournal(b.events);
  journal.file = { store: 'another', ops: [{ kind: 'remove', room: 'x' }] };
  const { store } = makeStore(b, { journal });
  try {
    await store.open();
    assert.unreachable('open should throw');
  } catch (err) {
    assert.instance(err, StoreStartError);
  }
  assert.equal(journal.file, { store: 'another', ops: [{ kind: 'remove', room: 'x' }] });
  assert.not.ok(b.events.includes('connect'));
});

test('a journal whose writes are interrupted by another outage stays until they are durable; a stop re-spills it', async () => {
  const b = new FakeBackend();
  const journal = new FakeJournal(b.events);
  journal.file = { store: 'fake', ops: [{ kind: 'save', room: 'owed', record: rec('owed', 'olga') }] };
  b.up = false;
  const { store } = makeStore(b, { journal, closeTimeoutMs: 50 });
  assert.equal(await store.open(), [rec('owed', 'olga')]);
  assert.is(await store.save(rec('new', 'nina')), 'queued');
  await store.close();
  assert.equal(journal.file!.ops.map((op) => op.room), ['owed', 'new']);
});

test('a spill that fails: close rejects with StoreCloseError saying what was lost', async () => {
  const b = new FakeBackend();
  const journal = new FakeJournal(b.events);
  journal.failWrite = true;
  const { store, logs } = makeStore(b, { journal, closeTimeoutMs: 50 });
  await store.open();
  b.up = false;
  assert.is(await store.save(rec('a')), 'queued');
  try {
    await store.close();
    assert.unreachable('close should reject');
  } catch (err) {
    assert.instance(err, StoreCloseError);
    assert.match((err as Error).message, /1 room write\(s\) owed to fake were lost/);
    assert.match((err as Error).message, /\/data\/pending-writes\.json/);
    assert.match((err as Error).message, /ENOSPC/);
  }
  assert.ok(logs.includes('store.close_unflushed'));
  assert.is(b.events.at(-1), 'close', 'the backend is closed all the same');
});

test('the late load leaves out a room removed while it ran (its row was read before the removal)', async () => {
  const b = new FakeBackend();
  b.up = false;
  b.db.set('stored', rec('stored'));
  const { store } = makeStore(b);
  const late: RoomRecord[][] = [];
  store.onLateLoad((r) => late.push(r));
  await store.open();
  assert.is(await store.save(rec('brief', 'bea')), 'queued');
  let release!: () => void;
  b.loadGate = new Promise((r) => (release = r));
  b.up = true;
  await until(() => b.events.includes('load'));
  assert.ok(b.db.has('brief'), 'the row was there when the load read it');
  assert.is(await store.remove('brief'), 'durable');
  release();
  await until(() => late.length === 1);
  assert.equal(late[0]!.map((r) => r.room), ['stored']);
  await store.close();
});

// --- the journal kept up to date during an outage (journalWhileDown) -------------

const scratch: string[] = [];
function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rooms-queued-journal-'));
  scratch.push(dir);
  return dir;
}
test.after(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

/** The rooms the journal file on disk holds right now, with their ops. */
function onDisk(path: string): PendingOp[] | null {
  if (!existsSync(path)) return null;
  return decodeJournal(readFileSync(path)).ops;
}

test('down: save resolves queued only once the journal file on disk holds it; a crash then loses nothing, and the file goes once written', async () => {
  const dataDir = scratchDir();
  const path = join(dataDir, 'pending-writes.json');
  const b = new FakeBackend();
  b.up = false;
  const journal = new CrashableJournal(new FileJournal(dataDir));
  const first = makeStore(b, { journal, journalWhileDown: true, closeTimeoutMs: 50 });
  assert.equal(await first.store.open(), []);
  assert.is(first.store.health().state, 'down');

  // What the file held at the very moment each outcome was told.
  const seen: Array<{ outcome: WriteOutcome; rooms: string[] | null }> = [];
  const told = (p: Promise<WriteOutcome>) => p.then((outcome) => (seen.push({ outcome, rooms: onDisk(path)?.map((op) => op.room) ?? null }), outcome));
  assert.is(await told(first.store.save(rec('alpha', 'ann'))), 'queued');
  assert.equal(seen[0], { outcome: 'queued', rooms: ['alpha'] });

  // Many writes in one turn: all queued, the file holds each of them when told.
  const outcomes = await Promise.all(Array.from({ length: 30 }, (_, i) => told(first.store.save(rec(`r${i}`, `o${i}`)))));
  assert.ok(outcomes.every((o) => o === 'queued'));
  for (const s of seen.slice(1)) assert.is(s.rooms?.length, 31, 'the whole queue was in the file when told');
  assert.equal(onDisk(path)![0], { kind: 'save', room: 'alpha', record: rec('alpha', 'ann') });

  // kill -9: the process is gone, nothing closed. The next start (database still down) serves them.
  journal.dead = true;
  const b2 = new FakeBackend();
  b2.up = false;
  b2.db = b.db;
  const second = makeStore(b2, { journal: new FileJournal(dataDir), journalWhileDown: true });
  const back = await second.store.open();
  assert.is(back.length, 31);
  assert.equal(back[0], rec('alpha', 'ann'));
  assert.ok(second.logs.includes('store.journal_replayed'));
  // A room made after the restart joins the same file, the replayed ones stay in it.
  assert.is(await second.store.save(rec('beta', 'bea')), 'queued');
  assert.is(onDisk(path)!.length, 32);

  b2.up = true;
  await until(() => second.store.health().pendingWrites === 0 && second.logs.includes('store.journal_written'));
  assert.not.ok(existsSync(path));
  assert.equal(b2.db.get('alpha'), rec('alpha', 'ann'));
  assert.equal(b2.db.get('beta'), rec('beta', 'bea'));
  assert.is(b2.db.size, 32);
  // Up again: writes are durable, the journal is not touched.
  assert.is(await second.store.save(rec('gamma')), 'durable');
  await new Promise((r) => setTimeout(r, 20));
  assert.not.ok(existsSync(path));
  await second.store.close();
  await first.store.close();
});

test('down: save waits for the journal rewrite; every write of one turn costs one rewrite', async () => {
  const b = new FakeBackend();
  b.up = false;
  const journal = new FakeJournal(b.events);
  const { store } = makeStore(b, { journal, journalWhileDown: true });
  await store.open();
  let release!: () => void;
  journal.gate = new Promise((r) => (release = r));
  let told: WriteOutcome | null = null;
  const first = store.save(rec('a')).then((o) => (told = o));
  await new Promise((r) => setTimeout(r, 30));
  assert.is(told, null, 'not queued before the journal holds it');
  assert.is(journal.file, null);
  // These arrive while the first rewrite runs: they all go into the next one.
  const more = Array.from({ length: 20 }, (_, i) => store.save(rec(`m${i}`)));
  journal.gate = null;
  release();
  await first;
  assert.is(told, 'queued');
  assert.equal(await Promise.all(more), Array.from({ length: 20 }, () => 'queued'));
  assert.equal(
    journal.history.map((ops) => ops.length),
    [1, 21],
  );
  // One turn, fifty writes: one rewrite.
  await Promise.all(Array.from({ length: 50 }, (_, i) => store.save(rec(`n${i}`))));
  assert.equal(
    journal.history.map((ops) => ops.length),
    [1, 21, 71],
  );
  b.up = true;
  await until(() => store.health().pendingWrites === 0 && journal.file === null);
  await store.close();
  assert.is(journal.file, null);
});

test('down: a journal that cannot be written refuses the write and takes it back; an earlier journaled op of the room stays', async () => {
  const b = new FakeBackend();
  b.up = false;
  const journal = new FakeJournal(b.events);
  const { store, logs } = makeStore(b, { journal, journalWhileDown: true });
  await store.open();
  assert.is(await store.save(rec('kept', 'v1')), 'queued');
  journal.failWrite = true;
  assert.is(await store.save(rec('lost', 'lou')), 'refused');
  assert.is(await store.save(rec('kept', 'v2')), 'refused');
  assert.ok(logs.includes('store.journal_write_failed'));
  assert.match(store.health().lastError ?? '', /ENOSPC/);
  assert.is(store.health().pendingWrites, 1, 'only what the journal holds is owed');
  journal.failWrite = false;
  assert.is(await store.save(rec('later', 'lia')), 'queued');
  assert.equal(
    journal.file!.ops.map((op) => (op.kind === 'save' ? `${op.room}:${op.record.owner}` : op.room)),
    ['kept:v1', 'later:lia'],
  );
  b.up = true;
  await until(() => store.health().pendingWrites === 0 && journal.file === null);
  assert.not.ok(b.db.has('lost'), 'a refused write is never written');
  assert.is(b.db.get('kept')!.owner, 'v1');
  assert.ok(b.db.has('later'));
  await store.close();
});

test('a real journal that cannot be written (DATA_DIR under a plain file): refused', async () => {
  const blocked = join(scratchDir(), 'a-file');
  writeFileSync(blocked, 'not a folder\n');
  const b = new FakeBackend();
  b.up = false;
  const { store } = makeStore(b, { journal: new FileJournal(join(blocked, 'data')), journalWhileDown: true });
  await store.open();
  assert.is(await store.save(rec('a')), 'refused');
  assert.is(await store.remove('b'), 'refused');
  assert.is(store.health().pendingWrites, 0);
  b.up = true;
  await until(() => store.health().state === 'up');
  assert.is(await store.save(rec('a')), 'durable', 'while up the journal plays no part');
  await store.close();
});

test('up, then a write fails: its caller hears queued only once journaled, refused if the journal fails too', async () => {
  const b = new FakeBackend();
  const journal = new FakeJournal(b.events);
  const { store } = makeStore(b, { journal, journalWhileDown: true });
  await store.open();
  assert.is(await store.save(rec('happy')), 'durable');
  assert.equal(journal.history, [], 'no journal write on the happy path');
  b.up = false;
  let release!: () => void;
  journal.gate = new Promise((r) => (release = r));
  let told: WriteOutcome | null = null;
  const failing = store.save(rec('a')).then((o) => (told = o));
  await until(() => store.health().state === 'down');
  await new Promise((r) => setTimeout(r, 20));
  assert.is(told, null, 'the failed write is not queued before the journal holds it');
  journal.gate = null;
  release();
  await failing;
  assert.is(told, 'queued');
  assert.equal(journal.file!.ops, [{ kind: 'save', room: 'a', record: rec('a') }]);

  // The same with a journal that fails: that write is refused and not kept.
  b.up = true;
  await until(() => store.health().pendingWrites === 0 && journal.file === null);
  journal.failWrite = true;
  b.up = false;
  assert.is(await store.save(rec('b')), 'refused');
  assert.is(store.health().pendingWrites, 0);
  journal.failWrite = false;
  b.up = true;
  await until(() => store.health().state === 'up');
  await new Promise((r) => setTimeout(r, 20));
  assert.not.ok(b.db.has('b'));
  await store.close();
});

test('while a journal exists, a newer op of a room it holds is journaled before it is written (a replay never rolls back)', async () => {
  const b = new FakeBackend();
  b.up = false;
  const journal = new FakeJournal(b.events);
  const { store } = makeStore(b, { journal, journalWhileDown: true });
  await store.open();
  assert.is(await store.save(rec('r', 'rita')), 'queued');
  assert.is(await store.save(rec('s', 'sam')), 'queued');
  // Back up, the drain held at its first write; meanwhile r is removed (purged).
  let release!: () => void;
  b.gate = new Promise((r) => (release = r));
  b.up = true;
  await until(() => store.health().state === 'up');
  const removed = store.remove('r');
  await new Promise((r) => setTimeout(r, 10));
  b.gate = null;
  release();
  assert.is(await removed, 'durable');
  await until(() => store.health().pendingWrites === 0 && journal.file === null);
  const removeWrite = b.batches.findIndex((ops) => ops.some((op) => op.kind === 'remove'));
  assert.ok(removeWrite > 0, `the remove was written after the drain's first write: ${JSON.stringify(b.batches)}`);
  const rewrite = journal.history.findIndex((ops) => ops.some((op) => op.room === 'r' && op.kind === 'remove'));
  assert.ok(rewrite > 0, `the journal was rewritten with the remove: ${JSON.stringify(journal.history)}`);
  const iRewrite = b.events.indexOf(`journal:write:${journal.history[rewrite]!.length}`, b.events.indexOf('connect'));
  const iRemove = b.events.lastIndexOf(`write:${b.batches[removeWrite]!.length}`);
  assert.ok(iRewrite !== -1 && iRewrite < iRemove, b.events.join(' '));
  assert.not.ok(b.db.has('r'));
  await store.close();
});

test('without journalWhileDown (the file store) the journal is written only at close', async () => {
  const b = new FakeBackend();
  b.up = false;
  const journal = new FakeJournal(b.events);
  const { store } = makeStore(b, { journal, closeTimeoutMs: 50 });
  await store.open();
  assert.is(await store.save(rec('a')), 'queued');
  assert.is(journal.file, null);
  await store.close();
  assert.equal(journal.file!.ops.map((op) => op.room), ['a']);
});

test.run();
