// History while Redis is away, on a throwaway redis-server of this test's own:
// a node relays locally under an epoch of its own (never the cluster's), so a
// resume across the outage answers recovered:false, and once Redis is back the
// cluster epoch and seqs go on where they were.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { destroyAllClients, sleep } from '../helpers/raw-client';
import { type ServerProcess, stopAllServerProcesses } from '../helpers/server-process';
import { joinJson, quiet } from '../history/support';
import { getJson, randomCluster, randomRoom, startNode, ThrowawayRedis } from './support';

const cluster = randomCluster();
let redis: ThrowawayRedis;
let nodes: ServerProcess[] = [];

async function redisState(node: ServerProcess): Promise<string> {
  return ((await getJson(`${node.httpUrl}/healthz`)) as { cluster: { redis: string } }).cluster.redis;
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(100);
  }
}

test.before(async () => {
  redis = await ThrowawayRedis.start();
  nodes = await Promise.all([0, 1].map(() => startNode({ cluster, redisUrl: `${redis.url}/0`, env: { HISTORY_SIZE: '20' } })));
});
test.after(async () => {
  destroyAllClients();
  await stopAllServerProcesses();
  await redis.remove();
});

test('messages relayed during an outage carry a node-local epoch; a resume across it is recovered:false', async () => {
  const room = randomRoom();
  const ada = await joinJson(nodes[0]!.port, room, 'ada');
  const bob = await joinJson(nodes[0]!.port, room, 'bob');
  const clusterEpoch = String(ada.welcome.epoch);
  ada.say('before');
  const [before] = await bob.messages(1);
  assert.is(before!.seq, 1);

  // Redis goes away with its state kept in a snapshot of nothing: it comes back as it was only in this node's view.
  await redis.stop();
  await until(async () => (await redisState(nodes[0]!)) === 'down', 'redis down on node 0', 5000);
  ada.say('during');
  const [during] = await bob.messages(1);
  const cy = await joinJson(nodes[0]!.port, room, 'cy');
  assert.is.not(cy.welcome.epoch, clusterEpoch, 'the outage has an epoch of its own');
  assert.equal([during!.seq, cy.welcome.seq], [1, 1]);
  // Resuming from the cluster epoch on this node during the outage: not recovered, nothing replayed.
  const back = await joinJson(nodes[0]!.port, room, 'dan', `&since=1&epoch=${clusterEpoch}`);
  assert.is(back.welcome.recovered, false);
  assert.ok(await quiet(back.client));

  await redis.start();
  await until(async () => (await redisState(nodes[0]!)) === 'up' && (await redisState(nodes[1]!)) === 'up', 'redis up again', 10_000);
  await sleep(300);
  // Redis came back empty: a new cluster epoch, and a resume with the outage's epoch is recovered:false.
  const eve = await joinJson(nodes[1]!.port, room, 'eve', `&since=${String(during!.seq)}&epoch=${String(cy.welcome.epoch)}`);
  assert.is(eve.welcome.recovered, false);
  assert.is.not(eve.welcome.epoch, cy.welcome.epoch);
  assert.is.not(eve.welcome.epoch, clusterEpoch);
  ada.say('after');
  const [after] = await eve.messages(1);
  assert.equal([after!.text, after!.seq], ['after', 1]);
});

test.run();
