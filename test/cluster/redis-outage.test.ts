// Redis goes away and comes back empty (a restart without persistence), on a
// throwaway redis-server of this test's own: no node fails, each keeps relaying
// among its own members, /healthz says degraded; once Redis is back, cross-node
// relay and presence return within 10 s with no client reconnecting, and a room
// whose seq was lost continues under a new epoch.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ClusterNames } from '../../src/cluster/names';
import { RawClient, destroyAllClients, sleep, text } from '../helpers/raw-client';
import { type ServerProcess, stopAllServerProcesses } from '../helpers/server-process';
import { getJson, joinJson, nextJson, nextOfType, randomCluster, randomRoom, redisClient, startNode, ThrowawayRedis } from './support';

const cluster = randomCluster();
let redis: ThrowawayRedis;
let nodes: ServerProcess[] = [];

async function health(node: ServerProcess): Promise<{ status: string; cluster: { redis: string } }> {
  return (await getJson(`${node.httpUrl}/healthz`)) as { status: string; cluster: { redis: string } };
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(100);
  }
  return Date.now() - started;
}

test.before(async () => {
  redis = await ThrowawayRedis.start();
  nodes = await Promise.all([0, 1].map(() => startNode({ cluster, redisUrl: `${redis.url}/0` })));
});
test.after(async () => {
  destroyAllClients();
  await stopAllServerProcesses();
  await redis.remove();
});

test('Redis stops: local relay goes on, degraded; back empty: relay, presence and a new epoch within 10 s', async () => {
  const room = randomRoom();
  const a = await RawClient.room(nodes[0]!.port, room, 'ann');
  const { client: b } = await joinJson(nodes[0]!.port, room, 'bob');
  const { client: c } = await joinJson(nodes[1]!.port, room, 'cid');
  assert.equal(await nextJson(b), { type: 'joined', name: 'cid' });
  a.send(text('before'));
  assert.is((await nextOfType(c, 'message')).text, 'before');
  assert.is((await nextJson(b)).text, 'before');
  const names = new ClusterNames(cluster);
  const probe = redisClient(redis.url);
  const epochBefore = await probe.get(names.epoch(names.hash(room)));
  probe.disconnect();
  assert.ok(epochBefore !== null && epochBefore.length > 0 && epochBefore.length <= 64, 'the room has an epoch');

  await redis.stop();
  await until(async () => (await health(nodes[0]!)).status === 'degraded', 'degraded', 5000);
  assert.is((await health(nodes[0]!)).cluster.redis, 'down');
  a.send(text('during'));
  assert.is((await nextJson(b)).text, 'during', 'local relay goes on');
  // A member joins the other node meanwhile: its node still knows who was there.
  const { client: d, welcome } = await joinJson(nodes[1]!.port, room, 'dan');
  assert.equal([...(welcome.members as string[])].sort(), ['ann', 'bob', 'cid', 'dan']);
  assert.equal(await nextJson(c), { type: 'joined', name: 'dan' });
  // A room whose members all arrive during the outage: the nodes follow it once Redis is back.
  const fresh = randomRoom('fresh');
  const x = await RawClient.room(nodes[0]!.port, fresh, 'xia');
  const y = await RawClient.room(nodes[1]!.port, fresh, 'yan');

  await redis.start();
  const took = await until(async () => (await health(nodes[0]!)).status === 'ok' && (await health(nodes[1]!)).status === 'ok', 'healthy again', 10_000);
  // Presence came back: node 0's JSON member hears of the one who joined node 1 during the outage.
  assert.equal(await nextJson(b, 10_000 - took), { type: 'joined', name: 'dan' });
  // Cross-node relay is back, without anyone reconnecting.
  const deadline = Date.now() + 10_000;
  let got: string | undefined;
  for (let i = 0; got === undefined && Date.now() < deadline; i++) {
    a.send(text(`after ${i}`));
    got = await nextOfType(c, 'message', 300).then((m) => m.text as string, () => undefined);
  }
  assert.ok(got?.startsWith('after '), 'node 1 hears node 0 again');
  d.send(text(JSON.stringify({ type: 'message', text: 'dan says hi' })));
  assert.is((await a.message(3000)).payload.toString('utf8'), 'dan says hi', 'and node 0 hears node 1');
  const probe2 = redisClient(redis.url);
  const epochAfter = await probe2.get(names.epoch(names.hash(room)));
  probe2.disconnect();
  assert.ok(epochAfter !== null && epochAfter !== epochBefore, 'a new epoch after the seq was lost');
  x.send(text('fresh room, after the outage'));
  assert.is((await y.message(5000)).payload.toString('utf8'), 'fresh room, after the outage');
  // Leaving crosses nodes again.
  await c.closeCleanly();
  assert.equal(await nextOfType(b, 'left', 5000), { type: 'left', name: 'cid' });
});

test('a Redis that stops answering (paused) does not hold a join or a local message', async () => {
  const proc = redis.process!;
  proc.kill('SIGSTOP');
  try {
    const room = randomRoom('paused');
    const started = Date.now();
    const a = await RawClient.room(nodes[0]!.port, room, 'ann', {});
    const b = await RawClient.room(nodes[0]!.port, room, 'bob', {});
    assert.ok(Date.now() - started < 8000, `joined in ${Date.now() - started} ms`);
    a.send(text('while Redis sleeps'));
    assert.is((await b.message(5000)).payload.toString('utf8'), 'while Redis sleeps');
  } finally {
    proc.kill('SIGCONT');
  }
});

test.run();
