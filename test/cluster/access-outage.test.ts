// Owner commands while Redis is down, two nodes sharing a MariaDB room store and
// a throwaway redis-server of this test's own: the command cannot cross Redis,
// but it is saved in the shared store, and a node that cannot read the owner's
// state from Redis reads it there before admitting a join. A lock set on A
// refuses joins on B (423), and so does a secret set on A (401). A kick or a
// close_room given meanwhile is owed and reaches B's members once Redis is back.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { jsonMember, refusal } from '../access/support';
import { destroyAllClients, sleep } from '../helpers/raw-client';
import { freshDatabase, type TestDatabase } from '../helpers/mariadb';
import { type ServerProcess, stopAllServerProcesses } from '../helpers/server-process';
import { getJson, randomCluster, randomRoom, startNode, ThrowawayRedis } from './support';

const cluster = randomCluster();
let redis: ThrowawayRedis;
let db: TestDatabase;
let nodes: ServerProcess[] = [];
const port = (i: number) => nodes[i]!.port;

async function untilDegraded(node: ServerProcess): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (((await getJson(`${node.httpUrl}/healthz`)) as { status: string }).status === 'degraded') return;
    await sleep(100);
  }
  throw new Error('node not degraded within 10 s of Redis stopping');
}

test.before(async () => {
  redis = await ThrowawayRedis.start();
  db = await freshDatabase();
  nodes = await Promise.all([0, 1].map(() => startNode({ cluster, redisUrl: `${redis.url}/0`, env: { MARIADB_URL: db.url } })));
});
test.after(async () => {
  destroyAllClients();
  await stopAllServerProcesses();
  await redis.remove();
  await db.drop();
});

test('Redis down: a lock or a secret set on A is read by B from the shared store before it admits a join', async () => {
  const locked = randomRoom('locked');
  const guarded = randomRoom('guarded');
  const lockOwner = await jsonMember(port(0), locked, 'ada');
  const secretOwner = await jsonMember(port(0), guarded, 'ada');
  assert.is((await refusal(port(1), locked, 'early')).status, 101, 'open before the lock');
  assert.is((await refusal(port(1), guarded, 'early')).status, 101, 'open before the secret');

  await redis.stop();
  await Promise.all(nodes.map(untilDegraded));

  lockOwner.send({ type: 'lock' });
  assert.equal(await lockOwner.nextOf('room'), { type: 'room', locked: true, protected: false });
  secretOwner.send({ type: 'set_secret', secret: 'correct-horse-battery' });
  assert.equal(await secretOwner.nextOf('room'), { type: 'room', locked: false, protected: true });
  // The change reaches the store behind the owner's answer: B refuses once it is there.
  const refusedOnB = async (room: string, want: number): Promise<number> => {
    let status = 0;
    for (let i = 0; i < 50 && status !== want; i++) {
      status = (await refusal(port(1), room, 'intruder')).status;
      if (status !== want) await sleep(100);
    }
    return status;
  };
  assert.is(await refusedOnB(locked, 423), 423, 'B admits by the lock A set while Redis was down');
  assert.is(await refusedOnB(guarded, 401), 401, 'B admits by the secret A set while Redis was down');
  assert.is((await refusal(port(1), guarded, 'friend', { bearer: 'correct-horse-battery' })).status, 101, 'the new secret opens it on B');
});

async function untilUp(node: ServerProcess): Promise<void> {
  for (let i = 0; i < 150; i++) {
    if (((await getJson(`${node.httpUrl}/healthz`)) as { status: string }).status === 'ok') return;
    await sleep(100);
  }
  throw new Error('node not ok within 15 s of Redis starting');
}

test('Redis down: a kick and a close_room given on A reach their targets on B once Redis is back, not before', async () => {
  if (redis.process === null) await redis.start();
  await Promise.all(nodes.map(untilUp));
  const room = randomRoom('kick');
  const closing = randomRoom('close');
  const owner = await jsonMember(port(0), room, 'ada');
  const intruder = await jsonMember(port(1), room, 'mallory');
  const bob = await jsonMember(port(1), room, 'bob');
  const closer = await jsonMember(port(0), closing, 'ada');
  const stayer = await jsonMember(port(1), closing, 'cy');

  await redis.stop();
  await Promise.all(nodes.map(untilDegraded));
  owner.send({ type: 'kick', name: 'mallory' });
  closer.send({ type: 'close_room' });
  assert.is((await closer.client.expectClose(4002)).reason, 'room closed by its owner', 'on A at once');
  await sleep(500);
  assert.not.ok(intruder.client.ended, 'B cannot hear the kick while Redis is away');
  assert.not.ok(stayer.client.ended, 'nor the close');

  await redis.start();
  assert.is((await intruder.client.expectClose(4001, 15_000)).reason, "removed by the room's owner");
  assert.is((await stayer.client.expectClose(4002, 15_000)).reason, 'room closed by its owner');
  assert.not.ok(bob.client.ended, 'only the kicked name goes');
  owner.send({ type: 'message', text: 'after the outage' });
  assert.is((await bob.nextOf('message')).text, 'after the outage');
});

test('Redis still down when A stops: what A owes is logged as lost (counted, no room key), and A stops cleanly', async () => {
  if (redis.process === null) await redis.start();
  await Promise.all(nodes.map(untilUp));
  const room = randomRoom('lost');
  const owner = await jsonMember(port(0), room, 'ada');
  const intruder = await jsonMember(port(1), room, 'mallory');
  await redis.stop();
  await Promise.all(nodes.map(untilDegraded));
  owner.send({ type: 'kick', name: 'mallory' });
  owner.send({ type: 'lock' });
  assert.equal(await owner.nextOf('room'), { type: 'room', locked: true, protected: false });
  assert.is(await nodes[0]!.term(), 0);
  const line = [...nodes[0]!.stdout, ...nodes[0]!.stderr].find((l) => l.includes('owner_commands_lost'));
  assert.ok(line !== undefined, `no owner_commands_lost line\n${nodes[0]!.transcript()}`);
  const fields = JSON.parse(line) as { level: string; commands: number; rooms: number };
  assert.equal([fields.level, fields.commands, fields.rooms], ['warn', 2, 1]);
  assert.not.ok(line.includes(room), 'the room key is not logged');
  assert.not.ok(intruder.client.ended, 'B never heard the kick: the reason for the log line');
});

test.run();
