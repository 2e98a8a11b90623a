// Database outages against a throwaway MariaDB of our own (temp folder, free
// port), never the shared one: stopped, crashed, hung, and down at start. The
// store must queue, say it is down, and write everything once it is back.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createStore, type RoomRecord, type RoomStore } from '../../src/persistence/store';
import { startThrowawayMariadb, withConnection, type ThrowawayMariadb } from '../helpers/mariadb';

let db: ThrowawayMariadb;
const stores: RoomStore[] = [];
const DATABASE = 'rooms_outage';

test.before(async () => {
  db = await startThrowawayMariadb();
});
test.after(async () => {
  for (const s of stores) await s.close().catch(() => undefined);
  await db?.destroy();
});

function open(extra: { closeTimeoutMs?: number } = {}): RoomStore {
  const store = createStore({
    mariadbUrl: db.url(DATABASE),
    dataDir: '/nonexistent-not-used',
    backoff: { minMs: 100, maxMs: 800 },
    heartbeatMs: 200,
    writeTimeoutMs: 1000,
    closeTimeoutMs: extra.closeTimeoutMs ?? 3000,
  });
  stores.push(store);
  return store;
}

const rec = (room: string, owner = 'ann'): RoomRecord => ({ room, owner, createdAt: 1_700_000_000_321, status: 'live', lastActivity: 1_700_000_000_654 });

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<number> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return Date.now() - t0;
}

async function storedRooms(): Promise<Record<string, string>> {
  const rows = await withConnection(db.url(DATABASE), DATABASE, (c) => c.query<{ room_key: string; owner: string }[]>('SELECT room_key, owner FROM rooms'));
  return Object.fromEntries(rows.map((r) => [r.room_key, r.owner]));
}

test('stopped database: writes are queued, health is down, everything is written once it is back', async () => {
  const store = open();
  assert.equal(await store.open(), []);
  assert.is(await store.save(rec('before')), 'durable');
  assert.is(await store.save(rec('doomed')), 'durable');

  await db.stop();
  // The idle liveness check notices without any write.
  await until('store notices the outage', () => store.health().state === 'down', 5000);
  const t0 = Date.now();
  assert.is(await store.save(rec('during-1')), 'queued');
  assert.is(await store.save(rec('during-2')), 'queued');
  assert.is(await store.save(rec('during-1', 'changed')), 'queued');
  assert.is(await store.remove('doomed'), 'queued');
  assert.ok(Date.now() - t0 < 100, 'writes while down answer at once');
  const h = store.health();
  assert.is(h.state, 'down');
  assert.is(h.pendingWrites, 3);
  assert.ok(h.errors >= 1 && h.lastError !== null);

  await db.start();
  const took = await until('pending writes drain', () => store.health().pendingWrites === 0 && store.health().state === 'up');
  assert.ok(took < 5000, `drained in ${took} ms`);
  assert.equal(await storedRooms(), { before: 'ann', 'during-1': 'changed', 'during-2': 'ann' });
  assert.is(await store.save(rec('after')), 'durable');
  await store.close();
});

test('down at start: [] and down, then onLateLoad hands over the stored rooms', async () => {
  await db.kill(); // a crash this time; InnoDB recovers on the next start
  const store = open();
  const late: RoomRecord[][] = [];
  store.onLateLoad((records) => late.push(records));
  const t0 = Date.now();
  assert.equal(await store.open(), []);
  assert.ok(Date.now() - t0 < 3000, `open took ${Date.now() - t0} ms`);
  assert.is(store.health().state, 'down');
  assert.is(await store.save(rec('while-down', 'dora')), 'queued');

  await db.start();
  await until('late load', () => late.length === 1);
  assert.equal(late[0]!.map((r) => r.room).sort(), ['after', 'before', 'during-1', 'during-2', 'while-down']);
  const during = late[0]!.find((r) => r.room === 'during-1')!;
  assert.equal(during, rec('during-1', 'changed'));
  assert.is(store.health().state, 'up');
  assert.is(store.health().pendingWrites, 0);
  await store.close();
});

test('hung database (SIGSTOP): the write gives up quickly, queued; it drains after SIGCONT', async () => {
  const store = open();
  await store.open();
  db.pause();
  try {
    const t0 = Date.now();
    const outcome = await store.save(rec('hung'));
    const took = Date.now() - t0;
    assert.is(outcome, 'queued');
    assert.ok(took < 3000, `gave up after ${took} ms`);
    assert.is(store.health().state, 'down');
  } finally {
    db.resume();
  }
  await until('drain after the hang', () => store.health().pendingWrites === 0 && store.health().state === 'up');
  assert.is((await storedRooms()).hung, 'ann');
  await store.close();
});

test('close waits for the database to come back and flushes (bounded)', async () => {
  const store = open({ closeTimeoutMs: 8000 });
  await store.open();
  await db.stop();
  await until('store notices the outage', () => store.health().state === 'down', 5000);
  assert.is(await store.save(rec('at-shutdown')), 'queued');
  const restart = db.start();
  await store.close();
  await restart;
  assert.is((await storedRooms())['at-shutdown'], 'ann');
});

test.run();
