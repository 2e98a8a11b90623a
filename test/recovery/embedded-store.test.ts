// Recovery with the embedded default store (DATA_DIR/rooms.json), the server as a
// child process: kill -9 the moment a room's creating member has its 101, restart
// on the same DATA_DIR and port: the same rooms, owners and creation times, empty;
// rejoin and relay work and the owner stays the original one. SIGTERM closes
// members with 1001, exits 0 and keeps the rooms. `npm start` with nothing but
// HOST, PORT and DATA_DIR does the same. Never the repository's ./data.

import { readFileSync } from 'node:fs';
import { join as joinPath } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startServerProcess, stopAllServerProcesses, type ServerProcess } from '../helpers/server-process';
import { ADMIN_TOKEN, adminRoomMap, adminRooms, assertRelay, cleanup, closedWithin, eventually, health, join, tempDataDir, terminateClients, type AdminRoom, type Member } from './support';

test.after(async () => {
  cleanup();
  await stopAllServerProcesses();
});
test.after.each(() => terminateClients());

const ROOMS: Array<[room: string, owner: string]> = [
  ['lobby', 'ann'],
  ['Ops', 'carol'],
  ['ops', 'dave'],
  ['team.x-y_z~1', 'Zoë 🚀'],
];

function expectRestored(after: Map<string, AdminRoom>, before: AdminRoom, note: string): void {
  const got = after.get(before.room);
  assert.ok(got, `${note}: room ${before.room} is missing after the restart: ${JSON.stringify([...after.values()])}`);
  assert.is(got!.owner, before.owner, `${note}: owner of ${before.room}`);
  assert.is(got!.createdAt, before.createdAt, `${note}: createdAt of ${before.room} (exact, to the ms)`);
  assert.is(got!.members, 0, `${note}: ${before.room} is back empty`);
  assert.is(got!.status, 'idle', `${note}: ${before.room} waits for its members (idle)`);
}

let srv: ServerProcess;
let snapshot: AdminRoom[] = [];

test('kill -9 right after the 101 of a creating member: every room is back with its owner and createdAt', async () => {
  const dataDir = tempDataDir();
  srv = await startServerProcess({ env: { DATA_DIR: dataDir, ADMIN_TOKEN } });
  const members: Member[] = [];
  for (const [room, owner] of ROOMS) members.push(await join(srv.url, room, owner));
  // A second member does not make anyone else the owner.
  members.push(await join(srv.url, 'lobby', 'bob'));
  const before = await adminRooms(srv.httpUrl);
  assert.equal(
    before.map((r) => [r.room, r.owner, r.members, r.status]),
    [
      ['Ops', 'carol', 1, 'live'],
      ['lobby', 'ann', 2, 'live'],
      ['ops', 'dave', 1, 'live'],
      ['team.x-y_z~1', 'Zoë 🚀', 1, 'live'],
    ],
  );
  for (const r of before) assert.match(r.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'createdAt is ISO 8601 with ms');

  // The crash: SIGKILL from inside the 'open' handler, the instant the 101 is read.
  const t0 = Date.now();
  let t1 = 0;
  const last = await join(srv.url, 'crash-at-101', 'erin', {
    onOpen: () => {
      t1 = Date.now();
      void srv.kill9();
    },
  });
  const status = await srv.kill9();
  assert.is(status.signal, 'SIGKILL', 'it was killed, not stopped');
  for (const m of [...members, last]) assert.is((await closedWithin(m)).code, 1006, `${m.name} dropped without a close frame`);

  await srv.restart();
  const after = await adminRoomMap(srv.httpUrl);
  assert.is(after.size, ROOMS.length + 1, `exactly the rooms from before: ${JSON.stringify([...after.keys()])}`);
  for (const r of before) expectRestored(after, r, 'after kill -9');
  const crashed = after.get('crash-at-101');
  assert.ok(crashed, 'the room whose creator got its 101 just before the crash is back');
  assert.is(crashed!.owner, 'erin');
  const createdAt = Date.parse(crashed!.createdAt);
  assert.ok(createdAt >= t0 && createdAt <= t1, `createdAt ${crashed!.createdAt} lies between the join (${new Date(t0).toISOString()}) and its 101 (${new Date(t1).toISOString()})`);
  assert.is(crashed!.members, 0);
  assert.ok(srv.stdout.some((l) => /"event":"ready"/.test(l) && /"restoredRooms":5/.test(l)), `the ready line counts 5 restored rooms:\n${srv.stdout.join('\n')}`);
  const h = await health(srv.httpUrl);
  assert.is(h.status, 'ok');
  assert.is(h.store.kind, 'file');
  snapshot = [...after.values()];
});

test('rejoin after the crash: someone else first, the owner stays the original; relay works, nothing crosses rooms', async () => {
  // Someone who is not the owner comes back first.
  const bob = await join(srv.url, 'lobby', 'bob');
  const ann = await join(srv.url, 'lobby', 'ann');
  const mallory = await join(srv.url, 'ops', 'mallory');
  const dave = await join(srv.url, 'ops', 'dave');
  const carol = await join(srv.url, 'Ops', 'carol');
  const erin = await join(srv.url, 'crash-at-101', 'erin');
  const rooms = await adminRoomMap(srv.httpUrl);
  for (const [key, owner, members] of [
    ['lobby', 'ann', 2],
    ['ops', 'dave', 2],
    ['Ops', 'carol', 1],
    ['crash-at-101', 'erin', 1],
  ] as const) {
    const r = rooms.get(key)!;
    assert.is(r.owner, owner, `${key} keeps its original owner after ${key === 'lobby' ? 'bob' : 'another member'} rejoined first`);
    assert.is(r.members, members, `${key} members`);
    assert.is(r.status, 'live', `${key} is live again`);
    assert.is(r.createdAt, snapshot.find((s) => s.room === key)!.createdAt, `${key} createdAt unchanged by the rejoin`);
  }
  await assertRelay(bob, ann, 'lobby after crash');
  await assertRelay(ann, bob, 'lobby after crash, back');
  await assertRelay(mallory, dave, 'ops after crash');
  // Ops and ops are two rooms: nothing from ops reached Ops, and the sender got nothing back.
  await assertRelay(dave, mallory, 'ops, back');
  carol.send('only for Ops');
  await new Promise((r) => setTimeout(r, 300));
  for (const m of [bob, ann, mallory, dave, erin]) assert.ok(!m.received.some((x) => x.data.toString('utf8') === 'only for Ops'), `${m.name} did not get a message of Ops`);
  assert.is(carol.received.length, 0, 'carol heard nothing (alone in Ops, no echo)');
  assert.is(bob.received.length, 2, 'bob got exactly what ann sent');
});

test('a second crash with nobody back in some rooms: the unvisited rooms survive it too', async () => {
  // lobby, ops, Ops and crash-at-101 have members again; team.x-y_z~1 was never revisited.
  await srv.kill9();
  terminateClients();
  await srv.restart();
  const after = await adminRoomMap(srv.httpUrl);
  assert.equal([...after.keys()].sort(), snapshot.map((r) => r.room).sort());
  for (const r of snapshot) expectRestored(after, r, 'after the second kill -9');
});

test('SIGTERM: members get 1001, exit code 0, and after a restart the rooms are back', async () => {
  const a = await join(srv.url, 'lobby', 'ann');
  const b = await join(srv.url, 'team.x-y_z~1', 'walter');
  const c = await join(srv.url, 'after-term', 'frank');
  const d = await join(srv.url, 'after-term', 'gina');
  await assertRelay(c, d, 'before SIGTERM');
  const before = await adminRoomMap(srv.httpUrl);
  const code = await srv.term();
  assert.is(code, 0, `exit code 0 after SIGTERM\n${srv.transcript()}`);
  for (const m of [a, b, c, d]) {
    const closed = await closedWithin(m);
    assert.is(closed.code, 1001, `${m.name} in ${m.room} got 1001 (going away), got ${closed.code}`);
  }
  assert.ok(srv.stderr.some((l) => /SIGTERM/.test(l)), 'the server says it is stopping');

  await srv.restart();
  const after = await adminRoomMap(srv.httpUrl);
  assert.equal([...after.keys()].sort(), [...before.keys()].sort());
  for (const r of before.values()) expectRestored(after, r, 'after SIGTERM');
  assert.is(after.get('team.x-y_z~1')!.owner, 'Zoë 🚀', 'walter joined a restored room: not its owner');
  const g = await join(srv.url, 'after-term', 'gina');
  const f = await join(srv.url, 'after-term', 'frank');
  await assertRelay(g, f, 'after SIGTERM restart');
  assert.is((await adminRoomMap(srv.httpUrl)).get('after-term')!.owner, 'frank');
  assert.is(await srv.term(), 0);
});

test('npm start with only HOST, PORT and DATA_DIR: rooms survive kill -9 and SIGTERM restarts', async () => {
  const dataDir = tempDataDir();
  // No ADMIN_TOKEN, no store setting: the defaults a new user gets. /admin/rooms is off,
  // so the rooms are checked through the store itself: the ready line and relay.
  const npm = await startServerProcess({ command: 'npm-start', env: { DATA_DIR: dataDir } });
  assert.ok(npm.stdout.some((l) => l.includes(`"store":"file ${dataDir}/rooms.json"`)), `embedded store under DATA_DIR:\n${npm.stdout.join('\n')}`);
  const owner = await join(npm.url, 'first-run', 'newbie');
  await join(npm.url, 'second-room', 'other');
  await npm.kill9();
  await closedWithin(owner);
  await npm.restart();
  assert.ok(npm.stdout.some((l) => /"event":"ready"/.test(l) && /"restoredRooms":2/.test(l)), `2 rooms restored after kill -9:\n${npm.transcript()}`);
  const file = JSON.parse(readFileSync(joinPath(dataDir, 'rooms.json'), 'utf8')) as { rooms: Array<{ room: string; owner: string }> };
  assert.equal(file.rooms.map((r) => [r.room, r.owner]).sort(), [['first-run', 'newbie'], ['second-room', 'other']]);
  const x = await join(npm.url, 'first-run', 'friend');
  const y = await join(npm.url, 'first-run', 'newbie');
  await assertRelay(x, y, 'npm start after crash');
  // SIGTERM to the group, as docker stop or systemd send it; npm itself dies of
  // it, so the server's graceful path shows in its log: 1001 to members, "stopped".
  await npm.term();
  assert.is((await closedWithin(x)).code, 1001);
  assert.ok(npm.stdout.some((l) => /"event":"stopped"/.test(l)), `the server stopped gracefully\n${npm.transcript()}`);
  await eventually('every process of npm start is gone', () => npm.groupGone(), 10_000, 100);
  await npm.restart();
  assert.ok(npm.stdout.some((l) => /"event":"ready"/.test(l) && /"restoredRooms":2/.test(l)), `2 rooms restored after SIGTERM:\n${npm.transcript()}`);
  await npm.kill9();
});

test.run();
