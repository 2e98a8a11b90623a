// The store's state machine against a scripted backend (no database): outages,
// group commit, the queue bound, late load, timeouts, data errors and close.
// The real backends are covered by the mariadb-* and file tests.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { QueuedStore, type Backend } from '../../src/persistence/queued-store';
import { StoreStartError, type PendingOp, type RoomRecord, type WriteOutcome } from '../../src/persistence/types';

const rec = (room: string, owner = 'ann'): RoomRecord => ({ room, owner, createdAt: 1_700_000_000_123, status: 'live', lastActivity: 1_700_000_000_456 });

class Outage extends Error {}
class BadData extends Error {}

class FakeBackend implements Backend {
  readonly kind = 'mariadb' as const;
  readonly description = 'fake';
  maxBatch = 100;
  writeTimeoutMs = 500;
  up = true;
  startError: StoreStartError | null = null;
  db = new Map<string, RoomRecord>();
  batches: PendingOp[][] = [];
  events: string[] = [];
  bad = new Set<string>();
  gate: Promise<void> | null = null;
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
    return [...this.db.values()];
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
      if (op.kind === 'save') this.db.set(op.room, op.record);
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

function makeStore(backend: FakeBackend, extra: { maxPendingWrites?: number; closeTimeoutMs?: number; heartbeatMs?: number } = {}) {
  const logs: string[] = [];
  const store = new QueuedStore(backend, {
    maxPendingWrites: extra.maxPendingWrites ?? 1000,
    log: (_level, event) => logs.push(event),
    backoff: { minMs: 10, maxMs: 40 },
    closeTimeoutMs: extra.closeTimeoutMs ?? 1000,
    heartbeatMs: extra.heartbeatMs ?? 0,
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
  assert.ok(Date.now() - t0 < 400);
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

test.run();
