// Database outages against a throwaway MariaDB of our own (temp folder, free
// port), never the shared one: stopped, crashed, hung, and down at start. The
// store must queue, say it is down, and write everything once it is back, keep
// a stored room's owner against a server that did not know the room, give a room
// purged and created again its new owner, and spill what a stop still owes to
// the journal, which the next start writes.

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createStore, type RoomRecord, type RoomStore } from '../../src/persistence/store';
import { startThrowawayMariadb, withConnection, type ThrowawayMariadb } from '../helpers/mariadb';

/** Each store gets its own DATA_DIR: a store closed while down spills its pending writes there (pending-writes.json). */
const scratch: string[] = [];
function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rooms-journal-'));
  scratch.push(dir);
  return dir;
}

let db: ThrowawayMariadb;
const stores: RoomStore[] = [];
const DATABASE = 'rooms_outage';

test.before(async () => {
  db = await startThrowawayMariadb();
});
test.after(async () => {
  for (const s of stores) await s.close().catch(() => undefined);
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
  await db?.destroy();
});

function open(extra: { closeTimeoutMs?: number; dataDir?: string } = {}): RoomStore {
  const store = createStore({
    mariadbUrl: db.url(DATABASE),
    dataDir: extra.dataDir ?? scratchDir(),
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
  // Not a speed claim: had any of the four waited on the database, it would have taken a whole write timeout (1 s).
  assert.ok(Date.now() - t0 < 1000, 'writes while down answer without waiting on the database');
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

interface Origin {
  owner: string;
  created_at: bigint | number;
}

async function origins(): Promise<Record<string, [string, number]>> {
  const rows = await withConnection(db.url(DATABASE), DATABASE, (c) => c.query<(Origin & { room_key: string })[]>('SELECT room_key, owner, created_at FROM rooms'));
  return Object.fromEntries(rows.map((r) => [r.room_key, [r.owner, Number(r.created_at)]]));
}

test('across an outage: a stored room keeps its owner against a server that did not know it; a room purged and created again takes its new owner', async () => {
  const at = (room: string, owner: string, createdAt: number): RoomRecord => ({ room, owner, createdAt, status: 'live', lastActivity: createdAt + 1 });
  const a = open();
  await a.open();
  assert.is(await a.save(at('steady', 'ann', 1000)), 'durable');
  assert.is(await a.save(at('phoenix', 'ann', 1000)), 'durable');
  await db.stop();
  await until('store notices the outage', () => a.health().state === 'down', 5000);
  // a: "phoenix" emptied and was purged, then zed created it again
  assert.is(await a.remove('phoenix'), 'queued');
  assert.is(await a.save(at('phoenix', 'zed', 3000)), 'queued');
  // b: started while the database is down, knows nothing of "steady"; bob walks in
  const b = open();
  const late: RoomRecord[][] = [];
  b.onLateLoad((r) => late.push(r));
  assert.equal(await b.open(), []);
  assert.is(await b.save(at('steady', 'bob', 2000)), 'queued');

  await db.start();
  await until('both drained, b loaded', () => a.health().pendingWrites === 0 && b.health().pendingWrites === 0 && late.length === 1, 15_000);
  const rows = await origins();
  assert.equal(rows.steady, ['ann', 1000], 'the stored owner and created_at are kept');
  assert.equal(rows.phoenix, ['zed', 3000], 'the re-created room replaced the purged one');
  assert.equal(late[0]!.find((r) => r.room === 'steady'), { ...at('steady', 'ann', 1000), lastActivity: 2001 }, 'the late load hands over the stored origin');
  await a.close();
  await b.close();
  await withConnection(db.url(DATABASE), DATABASE, (c) => c.query("DELETE FROM rooms WHERE room_key IN ('steady', 'phoenix')"));
});

test('a stop during an outage spills to DATA_DIR/pending-writes.json; the next start serves those rooms while down and writes them once back', async () => {
  const dataDir = scratchDir();
  const journal = join(dataDir, 'pending-writes.json');
  const first = open({ dataDir, closeTimeoutMs: 500 });
  await first.open();
  await db.stop();
  await until('store notices the outage', () => first.health().state === 'down', 5000);
  assert.is(await first.save(rec('spilled', 'sven')), 'queued');
  await first.close();
  assert.ok(existsSync(journal), 'spilled');

  const second = open({ dataDir });
  const back = await second.open();
  assert.equal(back, [rec('spilled', 'sven')], 'the journal\'s rooms, while the database is down');
  assert.is(second.health().pendingWrites, 1);
  await db.start();
  await until('written, journal deleted', () => second.health().pendingWrites === 0 && !existsSync(journal), 15_000);
  assert.is((await storedRooms()).spilled, 'sven');
  await second.close();
  assert.not.ok(existsSync(journal));
});

test.run();
