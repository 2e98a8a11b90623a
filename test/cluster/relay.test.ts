// Three server processes as one cluster over Redis (CONTRACT.md, "Several
// processes acting as one"): a message reaches every other member of its room
// on every node exactly once, raw and JSON alike, never the sender, never
// another room; every receiver sees concurrent senders' messages in one order;
// presence spans the nodes; room keys never show in Redis names, and a node
// leaves no subscription behind once its last member is gone.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Redis } from 'ioredis';
import { OP, RawClient, binary, destroyAllClients, sleep, text } from '../helpers/raw-client';
import { type ServerProcess, stopAllServerProcesses } from '../helpers/server-process';
import { forgetCluster, getJson, joinJson, nextJson, nextOfType, randomCluster, randomRoom, redisClient, startNode } from './support';

const cluster = randomCluster();
let nodes: ServerProcess[] = [];
let redis: Redis;

test.before(async () => {
  redis = redisClient();
  nodes = await Promise.all([0, 1, 2].map(() => startNode({ cluster })));
});
test.after.each(() => destroyAllClients());
test.after(async () => {
  destroyAllClients();
  await stopAllServerProcesses();
  await forgetCluster(cluster);
  redis.disconnect();
});

test('a message crosses nodes to raw and JSON members, once, never to the sender or another room', async () => {
  const room = randomRoom();
  const other = randomRoom('other');
  const a = await RawClient.room(nodes[0]!.port, room, 'ann');
  const { client: b } = await joinJson(nodes[1]!.port, room, 'bob');
  const c = await RawClient.room(nodes[2]!.port, room, 'cid');
  const d = await RawClient.room(nodes[1]!.port, other, 'dan');
  const e = await RawClient.room(nodes[2]!.port, other, 'eve');
  await nextOfType(b, 'joined'); // cid

  a.send(text('hello from ann'));
  const atB = await nextJson(b);
  assert.equal({ type: atB.type, from: atB.from, text: atB.text }, { type: 'message', from: 'ann', text: 'hello from ann' });
  const atC = await c.message();
  assert.is(atC.opcode, OP.text);
  assert.is(atC.payload.toString('utf8'), 'hello from ann');

  const bytes = Buffer.from([0, 1, 2, 0xff, 0x80, 0x3a, 0x0a]);
  c.send(binary(bytes));
  const atA = await a.message();
  assert.is(atA.opcode, OP.binary);
  assert.equal([...atA.payload], [...bytes]);
  const atB2 = await nextJson(b);
  assert.equal({ from: atB2.from, text: atB2.text, encoding: atB2.encoding }, { from: 'cid', text: bytes.toString('base64'), encoding: 'base64' });

  b.send(text(JSON.stringify({ type: 'message', text: 'from bob' })));
  assert.is((await a.message()).payload.toString('utf8'), 'from bob');
  assert.is((await c.message()).payload.toString('utf8'), 'from bob');

  d.send(text('other room'));
  assert.is((await e.message()).payload.toString('utf8'), 'other room');

  // Nothing more anywhere: no echo to a sender, no duplicate, nothing across rooms.
  await sleep(300);
  for (const [client, name] of [[a, 'ann'], [b, 'bob'], [c, 'cid'], [d, 'dan'], [e, 'eve']] as const) {
    assert.is(client.pending, 0, `${name} has nothing more`);
  }
});

test('many members joining one new room on each node at once all get in and hear each other', async () => {
  const room = randomRoom();
  const clients = await Promise.all([...Array(45).keys()].map((i) => RawClient.room(nodes[i % 3]!.port, room, `m${i}`)));
  clients[0]!.send(text('to all 44'));
  for (const client of clients.slice(1)) assert.is((await client.message()).payload.toString('utf8'), 'to all 44');
  for (const client of clients) client.destroy();
});

test('welcome lists members on every node; joined and left cross nodes', async () => {
  const room = randomRoom();
  const { client: ann, welcome: w1 } = await joinJson(nodes[0]!.port, room, 'ann');
  assert.equal(w1.members, ['ann']);
  const raw = await RawClient.room(nodes[1]!.port, room, 'raw-ray');
  assert.equal(await nextJson(ann), { type: 'joined', name: 'raw-ray' });
  const { client: bob, welcome: w2 } = await joinJson(nodes[2]!.port, room, 'bob');
  assert.equal([...(w2.members as string[])].sort(), ['ann', 'bob', 'raw-ray']);
  assert.equal(await nextJson(ann), { type: 'joined', name: 'bob' });
  await raw.closeCleanly();
  assert.equal(await nextJson(ann), { type: 'left', name: 'raw-ray' });
  assert.equal(await nextJson(bob), { type: 'left', name: 'raw-ray' });
  // The same name twice (a reconnect to another node before the old one is gone) is two members, then one.
  const { client: ann2, welcome: w3 } = await joinJson(nodes[1]!.port, room, 'ann');
  assert.equal([...(w3.members as string[])].sort(), ['ann', 'ann', 'bob']);
  assert.equal(await nextJson(bob), { type: 'joined', name: 'ann' });
  await ann.closeCleanly();
  assert.equal(await nextJson(bob), { type: 'left', name: 'ann' });
  const { welcome: w4 } = await joinJson(nodes[0]!.port, room, 'zed');
  assert.equal([...(w4.members as string[])].sort(), ['ann', 'bob', 'zed']);
  ann2.destroy();
});

test('concurrent senders on three nodes: every receiver sees the same order, each sender in its order', async () => {
  const room = randomRoom();
  const receivers: RawClient[] = [];
  for (const node of nodes) receivers.push(await RawClient.room(node.port, room, `r${receivers.length}`));
  const senders: RawClient[] = [];
  for (const node of nodes) senders.push(await RawClient.room(node.port, room, `s${senders.length}`));
  const perSender = 150;
  await Promise.all(
    senders.map(async (sender, s) => {
      for (let i = 0; i < perSender; i++) {
        sender.send(text(`${s}:${i}`));
        if (i % 25 === 0) await sleep(1);
      }
    }),
  );
  const total = perSender * senders.length;
  const seen: string[][] = [];
  for (const receiver of receivers) {
    const got: string[] = [];
    while (got.length < total) got.push((await receiver.message(10_000)).payload.toString('utf8'));
    seen.push(got);
  }
  assert.equal(seen[1], seen[0], 'receivers on node 1 and 2 agree');
  assert.equal(seen[2], seen[0], 'receivers on node 1 and 3 agree');
  for (let s = 0; s < senders.length; s++) {
    const mine = seen[0]!.filter((m) => m.startsWith(`${s}:`)).map((m) => Number(m.slice(2)));
    assert.equal(mine, [...Array(perSender).keys()], `sender ${s} in order, each once`);
  }
  // Each sender got the others' messages and not its own.
  for (let s = 0; s < senders.length; s++) {
    const got: string[] = [];
    while (got.length < total - perSender) got.push((await senders[s]!.message(10_000)).payload.toString('utf8'));
    assert.ok(got.every((m) => !m.startsWith(`${s}:`)), `sender ${s} never hears itself`);
    assert.equal(got, seen[0]!.filter((m) => !m.startsWith(`${s}:`)), `sender ${s} sees the common order`);
  }
});

test('room keys never appear in Redis names; no subscription is left after the last member leaves', async () => {
  const room = randomRoom('secret');
  const a = await RawClient.room(nodes[0]!.port, room, 'ann');
  const b = await RawClient.room(nodes[1]!.port, room, 'bob');
  a.send(text('x'));
  await b.message();
  const channels = (await redis.pubsub('CHANNELS', `${cluster}:*`)) as string[];
  const keys = await redis.keys(`${cluster}*`);
  assert.ok(channels.length > 0 && keys.length > 0, 'the cluster has channels and keys');
  for (const name of [...channels, ...keys]) assert.not.ok(name.includes(room) || name.includes('secret-'), `${name} names no room key`);
  const before = new Set(channels);
  await a.closeCleanly();
  await b.closeCleanly();
  const deadline = Date.now() + 5000;
  let left: string[] = [];
  for (;;) {
    const now = (await redis.pubsub('CHANNELS', `${cluster}:*`)) as string[];
    left = now.filter((c) => before.has(c));
    if (left.length === 0 || Date.now() > deadline) break;
    await sleep(50);
  }
  assert.equal(left, [], 'the room channel has no subscriber left');
});

test('/healthz names the node and the cluster; /admin/rooms counts members on every node', async () => {
  const room = randomRoom();
  const a = await RawClient.room(nodes[0]!.port, room, 'ann');
  const b = await RawClient.room(nodes[1]!.port, room, 'bob');
  const c = await RawClient.room(nodes[2]!.port, room, 'cid');
  type Health = { status: string; history: unknown; cluster: { node: string; nodes: number; redis: string } };
  let health = (await getJson(`${nodes[0]!.httpUrl}/healthz`)) as Health;
  assert.is(health.status, 'ok');
  // The cluster keeps history in Redis, none in this process's store: its state is cluster.redis.
  assert.equal(health.history, { kept: true, store: 'redis' });
  assert.is(health.cluster.redis, 'up');
  assert.match(health.cluster.node, /^[0-9a-f]{16}$/);
  // Counted at each heartbeat (every 2 s): the three nodes show by the next one.
  for (const deadline = Date.now() + 10_000; health.cluster.nodes < 3 && Date.now() < deadline; ) {
    await sleep(200);
    health = (await getJson(`${nodes[0]!.httpUrl}/healthz`)) as Health;
  }
  assert.is(health.cluster.nodes, 3);
  const rooms = (await getJson(`${nodes[1]!.httpUrl}/admin/rooms`, { Authorization: 'Bearer admin-token' })) as Array<{ room: string; members: number }>;
  assert.is(rooms.find((r) => r.room === room)?.members, 3);
  const metrics = await (await fetch(`${nodes[0]!.httpUrl}/metrics`)).text();
  assert.match(metrics, /rooms_cluster_messages_out_total \d+/);
  assert.match(metrics, /rooms_cluster_redis_round_trips_total [1-9]\d*/);
  for (const client of [a, b, c]) client.destroy();
});

test('a node killed without a goodbye: the others report its members left within 20 s; its restart brings no ghost', async () => {
  const room = randomRoom();
  const { client: watcher } = await joinJson(nodes[0]!.port, room, 'watcher');
  await RawClient.room(nodes[2]!.port, room, 'doomed');
  assert.equal(await nextJson(watcher), { type: 'joined', name: 'doomed' });
  const started = Date.now();
  await nodes[2]!.kill9();
  assert.equal(await nextJson(watcher, 20_000), { type: 'left', name: 'doomed' });
  assert.ok(Date.now() - started < 20_000);
  await nodes[2]!.restart();
  const { welcome } = await joinJson(nodes[2]!.port, room, 'newcomer');
  assert.equal([...(welcome.members as string[])].sort(), ['newcomer', 'watcher']);
  assert.equal(await nextJson(watcher), { type: 'joined', name: 'newcomer' });
  await sleep(200);
  assert.is(watcher.pending, 0, 'the left was reported once');
});

test('a node stopped gracefully (SIGTERM) says goodbye: its members are reported left by the time it has exited, not after the expiry', async () => {
  const room = randomRoom();
  const { client: watcher } = await joinJson(nodes[0]!.port, room, 'watcher');
  await RawClient.room(nodes[1]!.port, room, 'leaving');
  assert.equal(await nextJson(watcher), { type: 'joined', name: 'leaving' });
  assert.is(await nodes[1]!.term(), 0);
  assert.equal(await nextJson(watcher, 1000), { type: 'left', name: 'leaving' });
  await nodes[1]!.restart();
});

test.run();
