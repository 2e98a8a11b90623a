// Owner commands across three nodes sharing a room store (ROOM_STORE=redis):
// kick, lock, set_secret and close_room given on one node act on every node, the
// owner token works on any node, and the admin's DELETE closes a room everywhere.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { destroyAllClients, sleep } from '../helpers/raw-client';
import { type ServerProcess, stopAllServerProcesses } from '../helpers/server-process';
import { attempt, jsonMember, rawMember, refusal } from '../access/support';
import { ClusterNames } from '../../src/cluster/names';
import { randomCluster, randomRoom, redisClient, startNode } from './support';

const cluster = randomCluster();
let nodes: ServerProcess[] = [];
const [A, B, C] = [0, 1, 2];
const port = (i: number) => nodes[i]!.port;

test.before(async () => {
  nodes = await Promise.all([0, 1, 2].map(() => startNode({ cluster, env: { ROOM_STORE: 'redis', HISTORY_SIZE: '20' } })));
});
test.after.each(() => destroyAllClients());
test.after(async () => {
  await stopAllServerProcesses();
  const redis = redisClient();
  const keys = await redis.keys(`${cluster}:*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

test('kick on A closes members of that name on B and C with 4001; the others stay', async () => {
  const room = randomRoom();
  const owner = await jsonMember(port(A), room, 'ada');
  const json = await jsonMember(port(B), room, 'mallory');
  const raw = await rawMember(port(C), room, 'mallory');
  const bob = await jsonMember(port(B), room, 'bob');
  owner.send({ type: 'kick', name: 'mallory' });
  assert.is((await json.client.expectClose(4001)).reason, "removed by the room's owner");
  assert.is((await raw.expectClose(4001)).reason, "removed by the room's owner");
  owner.send({ type: 'message', text: 'still here?' });
  assert.is((await bob.nextOf('message')).text, 'still here?');
});

test('lock on A: B answers 423 at once, C tells its JSON members; unlock lets B admit again', async () => {
  const room = randomRoom();
  const owner = await jsonMember(port(A), room, 'ada');
  const watcher = await jsonMember(port(C), room, 'cy');
  owner.send({ type: 'lock' });
  assert.equal(await owner.nextOf('room'), { type: 'room', locked: true, protected: false });
  const locked = await refusal(port(B), room, 'late');
  assert.is(locked.status, 423);
  assert.equal(await watcher.nextOf('room'), { type: 'room', locked: true, protected: false });
  owner.send({ type: 'unlock' });
  assert.equal(await owner.nextOf('room'), { type: 'room', locked: false, protected: false });
  assert.is((await attempt(port(B), room, 'late')).response.status, 101);
});

test('set_secret on A: B (which never had the room in memory) answers 401 without, 403 wrong, 101 right', async () => {
  const room = randomRoom();
  const owner = await jsonMember(port(A), room, 'ada');
  owner.send({ type: 'set_secret', secret: 'cluster-secret' });
  assert.equal(await owner.nextOf('room'), { type: 'room', locked: false, protected: true });
  assert.is((await refusal(port(B), room, 'x')).status, 401);
  assert.is((await refusal(port(B), room, 'x', { bearer: 'wrong-secret' })).status, 403);
  const ok = await jsonMember(port(B), room, 'x', { bearer: 'cluster-secret' });
  assert.equal([ok.welcome.role, ok.welcome.protected], ['member', true]);
  owner.send({ type: 'set_secret', secret: 'second-secret' });
  await owner.nextOf('room');
  assert.is((await refusal(port(C), room, 'y', { bearer: 'cluster-secret' })).status, 403);
});

test('the owner token works on another node, and its commands act everywhere', async () => {
  const room = randomRoom();
  const first = await jsonMember(port(A), room, 'ada');
  const token = String(first.welcome.ownerToken);
  assert.is(first.welcome.role, 'owner');
  const stranger = await jsonMember(port(B), room, 'bob');
  assert.is(stranger.welcome.role, 'member');
  assert.not.ok('ownerToken' in stranger.welcome);
  const again = await jsonMember(port(C), room, 'ada', { bearer: token });
  assert.is(again.welcome.role, 'owner');
  again.send({ type: 'lock' });
  await again.nextOf('room');
  assert.is((await refusal(port(A), room, 'late')).status, 423);
});

test('the owner token and the secret survive a kill -9 of the node that made the room (ROOM_STORE=redis)', async () => {
  const room = randomRoom();
  const first = await jsonMember(port(C), room, 'ada', { bearer: 'kept-secret' });
  const token = String(first.welcome.ownerToken);
  first.client.destroy();
  await sleep(200);
  await nodes[C]!.kill9();
  await nodes[C]!.restart();
  assert.is((await refusal(port(C), room, 'x')).status, 401);
  const again = await jsonMember(port(C), room, 'ada', { bearer: token });
  assert.equal([again.welcome.role, again.welcome.protected], ['owner', true]);
});

test('close_room on A closes members on B and C with 4002 and deletes the room and its history everywhere', async () => {
  const room = randomRoom();
  const owner = await jsonMember(port(A), room, 'ada');
  const b = await jsonMember(port(B), room, 'bob');
  const c = await rawMember(port(C), room, 'cy');
  owner.send({ type: 'message', text: 'kept for a while' });
  await b.nextOf('message');
  owner.send({ type: 'close_room' });
  assert.is((await b.client.expectClose(4002)).reason, 'room closed by its owner');
  assert.is((await c.expectClose(4002)).reason, 'room closed by its owner');
  await owner.client.expectClose(4002);
  await sleep(100);
  const names = new ClusterNames(cluster);
  const h = names.hash(room);
  const redis = redisClient();
  const left = await redis.exists(names.history(h), names.seq(h), names.epoch(h), `${cluster}:room:${h}`);
  redis.disconnect();
  assert.is(left, 0, "the room's history, seq, epoch and record are gone from Redis");
  // A new room under its key starts afresh, on any node.
  const anew = await jsonMember(port(B), room, 'newcomer');
  assert.equal([anew.welcome.role, anew.welcome.seq], ['owner', 0]);
});

test('DELETE /admin/rooms/KEY on B or C closes the room on every node', async () => {
  const room = randomRoom();
  const owner = await jsonMember(port(A), room, 'ada');
  const bob = await jsonMember(port(B), room, 'bob');
  const res = await fetch(`${nodes[B]!.httpUrl}/admin/rooms/${encodeURIComponent(room)}`, { method: 'DELETE', headers: { Authorization: 'Bearer admin-token' } });
  assert.is(res.status, 200);
  assert.is((await owner.client.expectClose(4002)).reason, 'room closed by its owner');
  await bob.client.expectClose(4002);
  // C never had a member there: it finds the room in the shared store.
  const other = randomRoom();
  const ada = await jsonMember(port(A), other, 'ada');
  const viaC = await fetch(`${nodes[C]!.httpUrl}/admin/rooms/${encodeURIComponent(other)}`, { method: 'DELETE', headers: { Authorization: 'Bearer admin-token' } });
  assert.is(viaC.status, 200);
  assert.is((await ada.client.expectClose(4002)).reason, 'room closed by its owner');
});

test.run();
