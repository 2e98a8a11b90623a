// MariaDB outages, the server as a child process, against a throwaway MariaDB of
// our own (never the shared one): the database stops for a minute while members
// chat and new rooms are created; nothing is dropped, /healthz and /metrics say
// degraded with writes pending; once it is back the rows are written, and a
// kill -9 and restart prove it. Then a server started while the database is down
// serves degraded and merges the stored rooms in once it comes up (late load),
// keeping a stored room's owner even if someone walked into it first. A SIGTERM
// during an outage spills what it owes to DATA_DIR/pending-writes.json (exit 0),
// the next start serves those rooms while the database is still down and writes
// them once it is back. A room purged and created again during an outage is
// written with its new owner. (A kill -9 during an outage, and a journal that
// cannot be written: outage-crash.test.ts.)

import { existsSync } from 'node:fs';
import { join as joinPath } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startThrowawayMariadb, withConnection, type ThrowawayMariadb } from '../helpers/mariadb';
import { startServerProcess, stopAllServerProcesses, type ServerProcess } from '../helpers/server-process';
import { ADMIN_TOKEN, adminRoomMap, assertRelay, cleanup, eventually, health, join, metric, sleep, tempDataDir, terminateClients, type AdminRoom, type Member, byRoomKey, ROOM_ROWS_SQL, type RoomRow } from './support';

const DATABASE = 'rooms_recovery';
/** the server's defaults: a 5 s liveness check, reconnects backing off to 10 s */
const NOTICE_MS = 20_000;
const RECOVER_MS = 40_000;
const OUTAGE_MS = 60_000;

let tdb: ThrowawayMariadb | null = null;
let srv: ServerProcess;
/** the server's DATA_DIR: with MariaDB it holds only the spill journal */
const DATA_DIR = tempDataDir();
const JOURNAL = joinPath(DATA_DIR, 'pending-writes.json');
/** every room written so far, as /admin/rooms showed it */
const known = new Map<string, AdminRoom>();

test.before(async () => {
  tdb = await startThrowawayMariadb();
});
test.after(async () => {
  cleanup();
  await stopAllServerProcesses();
  await tdb?.destroy();
});


async function rows(): Promise<Map<string, RoomRow>> {
  return byRoomKey(await withConnection(tdb!.url(DATABASE), DATABASE, (c) => c.query<RoomRow[]>(ROOM_ROWS_SQL)));
}

function settings(): Record<string, string> {
  return { MARIADB_URL: tdb!.url(DATABASE), DATA_DIR, ADMIN_TOKEN, JOINS_PER_MINUTE: '1000000' };
}

/** Every message a sends reaches b, in order; returns a stop function that checks it. */
function chatter(a: Member, b: Member): () => Promise<number> {
  let n = 0;
  const timer = setInterval(() => a.send(`${a.name}#${n++}`), 50);
  return async () => {
    clearInterval(timer);
    await eventually(`${b.name} got all ${n} messages of ${a.name}`, () => b.received.length >= n, 10_000, 50);
    const texts = b.received.map((r) => r.data.toString('utf8')).filter((t) => t.startsWith(`${a.name}#`));
    assert.equal(texts, Array.from({ length: n }, (_, i) => `${a.name}#${i}`), `${b.name} got every message of ${a.name} in order`);
    return n;
  };
}

test('a minute-long outage: relay goes on, no WebSocket dropped, rooms created meanwhile are written once it is back and survive kill -9', async () => {
  srv = await startServerProcess({ env: settings() });
  assert.is((await health(srv.httpUrl)).status, 'ok');
  const ann = await join(srv.url, 'steady', 'ann');
  const bob = await join(srv.url, 'steady', 'bob');
  const carl = await join(srv.url, 'quiet', 'carl');
  const dina = await join(srv.url, 'quiet', 'dina');
  const members = [ann, bob, carl, dina];
  const stopChat = chatter(ann, bob);

  await tdb!.stop();
  const downAt = Date.now();
  // Created before the server has noticed: the write fails, is queued, the 101 still comes.
  members.push(await join(srv.url, 'during-0', 'first-in-outage', { timeoutMs: 15_000 }));
  await eventually('/healthz says degraded', async () => (await health(srv.httpUrl)).status === 'degraded', NOTICE_MS);

  // Rooms keep being created through the outage, and one room empties (a status write owed).
  carl.ws.close(1000);
  dina.ws.close(1000);
  let i = 1;
  while (Date.now() - downAt < OUTAGE_MS) {
    const creator = await join(srv.url, `during-${i}`, `owner-${i}`);
    const guest = await join(srv.url, `during-${i}`, `guest-${i}`);
    await assertRelay(guest, creator, `during-${i} while the database is down`);
    members.push(creator, guest);
    i++;
    const h = await health(srv.httpUrl);
    assert.is(h.status, 'degraded');
    assert.is(h.store.reachable, false);
    assert.ok(h.store.pendingWrites > 0, `pending writes while down: ${h.store.pendingWrites}`);
    await sleep(4000);
  }
  const created = i;
  assert.ok(created >= 5, `rooms created during the outage: ${created}`);
  assert.is(await metric(srv.httpUrl, 'rooms_store_up'), 0);
  const pending = await metric(srv.httpUrl, 'rooms_store_pending_writes');
  assert.ok(pending >= created + 1, `rooms_store_pending_writes ${pending} covers ${created} new rooms and the emptied one`);
  assert.ok((await metric(srv.httpUrl, 'rooms_store_errors_total')) > 0, 'store errors counted');
  const during = await adminRoomMap(srv.httpUrl);
  assert.is(during.get('quiet')?.status, 'idle');

  await tdb!.start();
  await eventually(
    '/healthz ok with nothing pending',
    async () => {
      const h = await health(srv.httpUrl);
      return h.status === 'ok' && h.store.reachable && h.store.pendingWrites === 0;
    },
    RECOVER_MS,
  );
  assert.is(await metric(srv.httpUrl, 'rooms_store_up'), 1);
  assert.is(await metric(srv.httpUrl, 'rooms_store_pending_writes'), 0);
  const sent = await stopChat();
  assert.ok(sent > 500, `ann kept talking through the outage (${sent} messages)`);
  for (const m of members.slice(0, 2).concat(members.slice(4))) assert.is(m.closed, null, `${m.name} in ${m.room} was never dropped`);

  const stored = await rows();
  for (const r of during.values()) {
    const row = stored.get(r.room);
    assert.ok(row, `row of ${r.room} written after the outage`);
    assert.is(row!.owner, r.owner, `owner of ${r.room}`);
    assert.is(new Date(Number(row!.created_at)).toISOString(), r.createdAt, `created_at of ${r.room}`);
    known.set(r.room, r);
  }
  assert.is(stored.get('quiet')?.status, 'idle', 'the status change owed during the outage was written');
  assert.is(stored.get('steady')?.status, 'live');

  await srv.kill9();
  terminateClients();
  await srv.restart();
  const after = await adminRoomMap(srv.httpUrl);
  for (const r of during.values()) {
    assert.ok(after.has(r.room), `${r.room} is back after kill -9`);
    assert.is(after.get(r.room)!.owner, r.owner, `owner of ${r.room}`);
    assert.is(after.get(r.room)!.createdAt, r.createdAt, `createdAt of ${r.room}`);
  }
  assert.is(after.size, during.size);
  const x = await join(srv.url, 'during-0', 'someone');
  const y = await join(srv.url, 'during-0', 'first-in-outage');
  await assertRelay(x, y, 'during-0 after the restart');
  assert.is((await adminRoomMap(srv.httpUrl)).get('during-0')?.owner, 'first-in-outage');
  terminateClients();
  assert.is(await srv.term(), 0);
});

test('started while the database is down: it serves, degraded; when the database comes up the stored rooms are merged in', async () => {
  assert.ok(known.size > 3, 'rows from the previous test are in the database');
  await tdb!.stop();
  await srv.restart();
  let h = await health(srv.httpUrl);
  assert.is(h.status, 'degraded');
  assert.is(h.store.reachable, false);
  assert.is(await metric(srv.httpUrl, 'rooms_store_up'), 0);
  assert.is((await adminRoomMap(srv.httpUrl)).size, 0, 'nothing loaded yet');

  const nova = await join(srv.url, 'made-while-down', 'nova');
  const orion = await join(srv.url, 'made-while-down', 'orion');
  await assertRelay(orion, nova, 'made while the database was down');
  h = await health(srv.httpUrl);
  assert.ok(h.store.pendingWrites >= 1, 'its row is owed');
  const mine = (await adminRoomMap(srv.httpUrl)).get('made-while-down')!;

  await tdb!.start();
  await eventually(
    'stored rooms merged in and nothing pending',
    async () => {
      const h2 = await health(srv.httpUrl);
      return h2.status === 'ok' && h2.store.pendingWrites === 0 && (await adminRoomMap(srv.httpUrl)).size === known.size + 1;
    },
    RECOVER_MS,
  );
  const rooms = await adminRoomMap(srv.httpUrl);
  for (const r of known.values()) {
    const got = rooms.get(r.room);
    assert.ok(got, `${r.room} merged in by the late load`);
    assert.is(got!.owner, r.owner, `owner of ${r.room}`);
    assert.is(got!.createdAt, r.createdAt, `createdAt of ${r.room}`);
    assert.is(got!.members, 0);
  }
  assert.equal(rooms.get('made-while-down'), { ...mine }, 'the room made meanwhile is untouched by the merge');
  assert.is((await rows()).get('made-while-down')?.owner, 'nova', 'and its row is written');
  assert.is(nova.closed, null);
  assert.is(orion.closed, null);

  // A late-loaded room can be rejoined; its owner stays.
  const guest = await join(srv.url, 'steady', 'late-guest');
  const bob = await join(srv.url, 'steady', 'bob');
  await assertRelay(guest, bob, 'steady after the late load');
  assert.is((await adminRoomMap(srv.httpUrl)).get('steady')?.owner, 'ann');

  await srv.kill9();
  terminateClients();
  await srv.restart();
  const after = await adminRoomMap(srv.httpUrl);
  assert.is(after.size, known.size + 1);
  assert.is(after.get('made-while-down')?.owner, 'nova');
  assert.is(after.get('made-while-down')?.createdAt, mine.createdAt);
  assert.is(await srv.term(), 0);
});

test('started while the database is down, a stored room rejoined before the late load keeps its stored owner and createdAt', async () => {
  const original = known.get('steady')!;
  assert.is(original.owner, 'ann');
  await tdb!.stop();
  await srv.restart();
  assert.is((await health(srv.httpUrl)).status, 'degraded');
  // The server cannot know yet that "steady" exists: bob walks in first.
  const bob = await join(srv.url, 'steady', 'bob');
  await tdb!.start();
  await eventually(
    'stored rooms merged in and nothing pending',
    async () => {
      const h = await health(srv.httpUrl);
      return h.status === 'ok' && h.store.pendingWrites === 0 && (await adminRoomMap(srv.httpUrl)).has('during-0');
    },
    RECOVER_MS,
  );
  const steady = (await adminRoomMap(srv.httpUrl)).get('steady')!;
  const row = (await rows()).get('steady')!;
  assert.is(bob.closed, null);
  assert.equal(
    { memory: [steady.owner, steady.createdAt], row: [row.owner, new Date(Number(row.created_at)).toISOString()] },
    { memory: [original.owner, original.createdAt], row: [original.owner, original.createdAt] },
    'the owner and creation time the database held are kept, in memory and in the row',
  );
  await srv.kill9();
});

test('SIGTERM while the database is down: what it owes is spilled to DATA_DIR/pending-writes.json (exit 0), served at the next start while still down, written once the database is back', async () => {
  await srv.restart();
  await eventually('/healthz ok', async () => (await health(srv.httpUrl)).status === 'ok', RECOVER_MS);
  await tdb!.stop();
  await join(srv.url, 'owed-at-sigterm', 'olga');
  await eventually('/healthz says degraded', async () => (await health(srv.httpUrl)).status === 'degraded', NOTICE_MS);
  assert.ok((await health(srv.httpUrl)).store.pendingWrites >= 1);
  const owed = (await adminRoomMap(srv.httpUrl)).get('owed-at-sigterm')!;
  terminateClients();
  const code = await srv.term();
  assert.is(code, 0, `a stop that saved what it owed exits 0\n${srv.transcript()}`);
  assert.ok(srv.stdout.some((l) => l.includes('"store.pending_spilled"') && l.includes(JOURNAL)), `the spill is logged with its file\n${srv.stdout.join('\n')}`);
  assert.not.ok(srv.stdout.some((l) => /close_unflushed/.test(l)));
  assert.ok(existsSync(JOURNAL), 'the journal is on disk');

  // Restarted with the database still down: the room is served from the journal at once.
  await srv.restart();
  assert.is((await health(srv.httpUrl)).status, 'degraded');
  assert.ok(srv.stdout.some((l) => l.includes('"store.journal_replayed"')));
  const served = (await adminRoomMap(srv.httpUrl)).get('owed-at-sigterm');
  assert.equal(served && [served.owner, served.createdAt, served.members], [owed.owner, owed.createdAt, 0], `back while the database is down: ${JSON.stringify(served)}`);
  const olga = await join(srv.url, 'owed-at-sigterm', 'olga');
  const pat = await join(srv.url, 'owed-at-sigterm', 'pat');
  await assertRelay(pat, olga, 'rejoined from the journal');
  assert.is((await adminRoomMap(srv.httpUrl)).get('owed-at-sigterm')?.owner, 'olga');
  assert.ok(existsSync(JOURNAL), 'kept until its writes are durable');

  await tdb!.start();
  await eventually('written and the journal gone', async () => (await health(srv.httpUrl)).store.pendingWrites === 0 && !existsSync(JOURNAL), RECOVER_MS);
  const row = (await rows()).get('owed-at-sigterm');
  assert.equal(row && [row.owner, new Date(Number(row.created_at)).toISOString()], [owed.owner, owed.createdAt], 'its row is written');

  await srv.kill9();
  terminateClients();
  await srv.restart();
  const after = (await adminRoomMap(srv.httpUrl)).get('owed-at-sigterm');
  assert.equal(after && [after.owner, after.createdAt], [owed.owner, owed.createdAt], 'still there after kill -9');
  assert.is(await srv.term(), 0);
});

test('ROOM_RETENTION=0: a room purged and created again by someone else while the database is down is written with its new owner', async () => {
  const purger = await startServerProcess({ env: { ...settings(), ROOM_RETENTION: '0', DATA_DIR: tempDataDir() } });
  const ann = await join(purger.url, 'phoenix', 'ann');
  const before = (await rows()).get('phoenix');
  assert.is(before?.owner, 'ann');
  await tdb!.stop();
  ann.ws.close(1000);
  await eventually('purged', async () => !(await adminRoomMap(purger.httpUrl)).has('phoenix'), 10_000);
  const zed = await join(purger.url, 'phoenix', 'zed');
  const reborn = (await adminRoomMap(purger.httpUrl)).get('phoenix')!;
  assert.is(reborn.owner, 'zed');
  await tdb!.start();
  await eventually('written', async () => (await health(purger.httpUrl)).store.pendingWrites === 0 && (await health(purger.httpUrl)).status === 'ok', RECOVER_MS);
  const row = (await rows()).get('phoenix')!;
  assert.equal([row.owner, new Date(Number(row.created_at)).toISOString()], ['zed', reborn.createdAt], 'the new incarnation replaced the purged row');
  assert.is((await adminRoomMap(purger.httpUrl)).get('phoenix')?.owner, 'zed');
  assert.is(zed.closed, null);
  await purger.kill9();
  terminateClients();
  await purger.restart();
  assert.is((await adminRoomMap(purger.httpUrl)).get('phoenix')?.owner, 'zed');
  await purger.kill9();
});

test.run();
