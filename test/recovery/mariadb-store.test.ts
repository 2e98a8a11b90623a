// Recovery with MariaDB (the shared server, a fresh database per run), the server
// as a child process: kill -9 in the middle of a busy session (members chatting
// in 20 rooms while new rooms keep being created), restart: every room whose
// creating member got its 101 is back with its owner and creation time, in memory
// and as a row; "Ops" and "ops" are two rows. Rejoin and relay work afterwards.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { freshDatabase, type TestDatabase } from '../helpers/mariadb';
import { startServerProcess, stopAllServerProcesses, type ServerProcess } from '../helpers/server-process';
import { ADMIN_TOKEN, adminRoomMap, assertRelay, cleanup, closedWithin, eventually, health, join, sleep, tempDataDir, terminateClients, type AdminRoom, type Member, byRoomKey, ROOM_ROWS_SQL, type RoomRow } from './support';

let db: TestDatabase | null = null;

test.after(async () => {
  cleanup();
  await stopAllServerProcesses();
  await db?.drop();
});


async function rows(): Promise<Map<string, RoomRow>> {
  return byRoomKey(await db!.query<RoomRow[]>(ROOM_ROWS_SQL));
}

const CHAT_ROOMS = 20;
let srv: ServerProcess;
let before = new Map<string, AdminRoom>();
/** room -> owner of every room created during the busy session whose creator saw its 101 */
const acked = new Map<string, string>();

test('kill -9 during a busy session: every room whose creator got a 101 is back with its owner', async () => {
  db = await freshDatabase();
  srv = await startServerProcess({ env: { MARIADB_URL: db.url, DATA_DIR: tempDataDir(), ADMIN_TOKEN, JOINS_PER_MINUTE: '1000000', LOG_LEVEL: 'warn' } });
  assert.is((await health(srv.httpUrl)).store.kind, 'mariadb');

  // 20 rooms of three, owners first; the case-sensitive pair; a room that emptied (idle).
  const chatters: Member[][] = [];
  for (let i = 0; i < CHAT_ROOMS; i++) {
    const room = `chat-${String(i).padStart(2, '0')}`;
    chatters.push([await join(srv.url, room, `owner-${i}`), await join(srv.url, room, `guest-${i}a`), await join(srv.url, room, `guest-${i}b`)]);
  }
  await join(srv.url, 'Ops', 'upper');
  await join(srv.url, 'ops', 'lower');
  const gone = await join(srv.url, 'emptied', 'leaver');
  gone.ws.close(1000);
  await closedWithin(gone);
  await eventually('emptied is idle', async () => (await adminRoomMap(srv.httpUrl)).get('emptied')?.status === 'idle', 5000, 50);
  before = await adminRoomMap(srv.httpUrl);
  assert.is(before.size, CHAT_ROOMS + 3);

  // Everybody chats...
  let sent = 0;
  const chat = setInterval(() => {
    for (const room of chatters) {
      for (const m of room) {
        if (m.ws.readyState === m.ws.OPEN) {
          m.send(`${m.name} says ${sent}`);
          sent++;
        }
      }
    }
  }, 25);
  // ...while four clients keep creating rooms, one after another each.
  let creating = true;
  let next = 0;
  const creator = async () => {
    while (creating) {
      const i = next++;
      const room = `busy-${i}`;
      const name = `creator-${i}`;
      try {
        await join(srv.url, room, name, { onOpen: () => acked.set(room, name), timeoutMs: 10_000 });
      } catch {
        // joins in flight when the server dies fail; they were never promised anything
      }
    }
  };
  const creators = [creator(), creator(), creator(), creator()];
  try {
    await eventually('40 rooms created during the chat', () => acked.size >= 40, 60_000, 10);
    const heard = chatters.flat().reduce((n, m) => n + m.received.length, 0);
    assert.ok(heard > 100, `the members really were chatting (${heard} messages received)`);
    await srv.kill9();
  } finally {
    creating = false;
    clearInterval(chat);
  }
  await Promise.all(creators);
  for (const m of chatters.flat()) assert.is((await closedWithin(m)).code, 1006, `${m.name} was dropped by the crash`);
  const attempted = next;

  await srv.restart();
  const after = await adminRoomMap(srv.httpUrl);
  for (const [room, owner] of acked) {
    const got = after.get(room);
    assert.ok(got, `${room} (created by ${owner}, 101 received) is back; ${acked.size} acknowledged of ${attempted} attempted`);
    assert.is(got!.owner, owner, `owner of ${room}`);
    assert.is(got!.members, 0);
  }
  for (const r of before.values()) {
    const got = after.get(r.room);
    assert.ok(got, `${r.room} is back`);
    assert.is(got!.owner, r.owner, `owner of ${r.room}`);
    assert.is(got!.createdAt, r.createdAt, `createdAt of ${r.room}, to the ms`);
    assert.is(got!.status, 'idle', `${r.room} is back empty, waiting`);
    assert.is(got!.members, 0);
  }
  // Anything else in memory was at least being created when the server died.
  for (const key of after.keys()) assert.ok(before.has(key) || /^busy-\d+$/.test(key), `unexpected room ${key}`);

  // The rows say the same.
  const stored = await rows();
  for (const [room, owner] of acked) assert.is(stored.get(room)?.owner, owner, `row of ${room}`);
  for (const r of before.values()) {
    const row = stored.get(r.room);
    assert.ok(row, `row of ${r.room}`);
    assert.is(row!.owner, r.owner);
    assert.is(new Date(Number(row!.created_at)).toISOString(), r.createdAt, `created_at of ${r.room} in ms`);
  }
  assert.is(stored.size, after.size, 'one row per room in memory');
});

test('Ops and ops are two rows and two rooms, each with its owner', async () => {
  const cased = await db!.query<RoomRow[]>("SELECT room_key, owner FROM rooms WHERE room_key IN ('Ops', 'ops', 'OPS') ORDER BY owner");
  assert.equal(
    cased.map((r) => [r.room_key, r.owner]),
    [
      ['ops', 'lower'],
      ['Ops', 'upper'],
    ],
  );
  const rooms = await adminRoomMap(srv.httpUrl);
  assert.is(rooms.get('Ops')?.owner, 'upper');
  assert.is(rooms.get('ops')?.owner, 'lower');
  assert.not.ok(rooms.has('OPS'));
  const a = await join(srv.url, 'ops', 'x');
  const b = await join(srv.url, 'ops', 'y');
  const c = await join(srv.url, 'Ops', 'z');
  await assertRelay(a, b, 'lower-case ops');
  await sleep(200);
  assert.is(c.received.length, 0, 'nothing crossed from ops to Ops');
  assert.is((await adminRoomMap(srv.httpUrl)).get('ops')?.owner, 'lower', 'x rejoined first but lower stays the owner');
});

test('after the crash: members rejoin chat rooms and busy rooms, relay works, owners stay', async () => {
  const guest = await join(srv.url, 'chat-07', 'guest-7a');
  const owner = await join(srv.url, 'chat-07', 'owner-7');
  await assertRelay(guest, owner, 'chat-07 after crash');
  await assertRelay(owner, guest, 'chat-07 back');
  const [busyRoom, busyOwner] = [...acked][acked.size - 1]!;
  const stranger = await join(srv.url, busyRoom, 'stranger');
  const creator = await join(srv.url, busyRoom, busyOwner);
  await assertRelay(stranger, creator, `${busyRoom} after crash`);
  const rooms = await adminRoomMap(srv.httpUrl);
  assert.is(rooms.get('chat-07')?.owner, 'owner-7');
  assert.is(rooms.get('chat-07')?.createdAt, before.get('chat-07')!.createdAt);
  assert.is(rooms.get(busyRoom)?.owner, busyOwner, 'the last room acknowledged before the crash keeps its creator as owner');
  assert.is(rooms.get(busyRoom)?.members, 2);
  assert.is((await rows()).get('chat-07')?.status, 'live', 'the rejoined room is written live again');
  terminateClients();
  assert.is(await srv.term(), 0);
});

test.run();
