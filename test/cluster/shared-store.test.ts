// The store is shared by the nodes (CONTRACT.md): with MariaDB, two nodes that
// create one room key at the same moment agree on one owner and creation time
// (the store's merge decides, every node reads back the winner); a room created
// on one node is known on the others. ROOM_STORE=redis keeps the records in
// Redis under hashed names, and they survive a kill -9 of every node.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Redis } from 'ioredis';
import { RawClient, destroyAllClients, sleep } from '../helpers/raw-client';
import { freshDatabase, type TestDatabase } from '../helpers/mariadb';
import { type ServerProcess, stopAllServerProcesses } from '../helpers/server-process';
import { forgetCluster, getJson, joinJson, randomCluster, randomRoom, redisClient, startNode } from './support';

interface Summary {
  room: string;
  owner: string;
  createdAt: string;
  members: number;
  status: string;
}

const cluster = randomCluster();
let db: TestDatabase;
let nodes: ServerProcess[] = [];
let redis: Redis;

const rooms = async (node: ServerProcess): Promise<Summary[]> => (await getJson(`${node.httpUrl}/admin/rooms`, { Authorization: 'Bearer admin-token' })) as Summary[];

test.before(async () => {
  redis = redisClient();
  db = await freshDatabase();
  nodes = await Promise.all([0, 1].map(() => startNode({ cluster, env: { MARIADB_URL: db.url } })));
});
test.after(async () => {
  destroyAllClients();
  await stopAllServerProcesses();
  await forgetCluster(cluster);
  await db.drop();
  redis.disconnect();
});

test('two nodes creating one room at once agree on its owner and creation time', async () => {
  for (let round = 0; round < 5; round++) {
    const room = randomRoom('race');
    const [a, b] = await Promise.all([joinJson(nodes[0]!.port, room, 'ann'), joinJson(nodes[1]!.port, room, 'bob')]);
    const [onA, onB] = await Promise.all([rooms(nodes[0]!), rooms(nodes[1]!)]);
    const ra = onA.find((r) => r.room === room)!;
    const rb = onB.find((r) => r.room === room)!;
    assert.ok(ra && rb, 'both nodes have the room');
    assert.is(ra.owner, rb.owner, `round ${round}: one owner`);
    assert.is(ra.createdAt, rb.createdAt, `round ${round}: one creation time`);
    assert.ok(['ann', 'bob'].includes(ra.owner));
    const rows = await db.query<Array<{ owner: string; created_at: number }>>('SELECT owner, created_at FROM rooms WHERE room_key = ?', [room]);
    assert.is(rows[0]!.owner, ra.owner, 'the store holds the same');
    assert.is(new Date(Number(rows[0]!.created_at)).toISOString(), ra.createdAt);
    // The other node's member arrives over Redis a moment after the welcomes: counted on both within a second.
    let counts = [ra.members, rb.members];
    for (let i = 0; i < 20 && counts.some((n) => n !== 2); i++) {
      await sleep(50);
      counts = (await Promise.all([rooms(nodes[0]!), rooms(nodes[1]!)])).map((list) => list.find((r) => r.room === room)?.members ?? 0);
    }
    assert.equal(counts, [2, 2], 'both members counted on every node');
    a.client.destroy();
    b.client.destroy();
  }
});

test('a room created on one node exists on the other with the same owner', async () => {
  const room = randomRoom();
  await RawClient.room(nodes[0]!.port, room, 'first');
  await RawClient.room(nodes[1]!.port, room, 'second');
  const onB = (await rooms(nodes[1]!)).find((r) => r.room === room)!;
  assert.is(onB.owner, 'first');
});

test('a room is idle only when empty on every node', async () => {
  const room = randomRoom();
  const ann = await RawClient.room(nodes[0]!.port, room, 'ann');
  const bob = await RawClient.room(nodes[1]!.port, room, 'bob');
  await ann.closeCleanly();
  await new Promise((r) => setTimeout(r, 300));
  const onA = (await rooms(nodes[0]!)).find((r) => r.room === room)!;
  assert.is(onA.status, 'live', 'bob is still there on the other node');
  assert.is(onA.members, 1);
  const row = await db.query<Array<{ status: string }>>('SELECT status FROM rooms WHERE room_key = ?', [room]);
  assert.is(row[0]!.status, 'live');
  await bob.closeCleanly();
  const deadline = Date.now() + 3000;
  let status = '';
  while (Date.now() < deadline && status !== 'idle') {
    status = (await db.query<Array<{ status: string }>>('SELECT status FROM rooms WHERE room_key = ?', [room]))[0]!.status;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.is(status, 'idle', 'the last node to empty it marks it idle');
});

test('ROOM_STORE=redis: records under hashed names, back after kill -9 with owner and creation time', async () => {
  const storeCluster = randomCluster();
  const node = await startNode({ cluster: storeCluster, env: { ROOM_STORE: 'redis' } });
  const room = randomRoom('kept');
  await RawClient.room(node.port, room, 'keeper');
  const before = (await rooms(node)).find((r) => r.room === room)!;
  assert.is(before.owner, 'keeper');
  const keys = await redis.keys(`${storeCluster}*`);
  assert.ok(keys.some((k) => k.startsWith(`${storeCluster}:room:`)), 'a record key');
  for (const key of keys) assert.not.ok(key.includes(room), `${key} names no room key`);
  destroyAllClients();
  await node.kill9();
  await node.restart();
  const after = (await rooms(node)).find((r) => r.room === room);
  assert.ok(after, 'the room is back');
  assert.is(after!.owner, 'keeper');
  assert.is(after!.createdAt, before.createdAt);
  const health = (await getJson(`${node.httpUrl}/healthz`)) as { store: { kind: string } };
  assert.is(health.store.kind, 'redis');
  await node.stop();
  await forgetCluster(storeCluster);
});

test.run();
