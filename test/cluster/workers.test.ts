// WORKERS=N (CONTRACT.md): N server processes on one port, acting as one through
// Redis; refused at start without REDIS_URL or with a store only one process can
// own; SIGTERM to the primary stops them all gracefully (1001 to every client,
// exit 0).

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RawClient, destroyAllClients, text } from '../helpers/raw-client';
import { runFailingStart, startServerProcess, stopAllServerProcesses } from '../helpers/server-process';
import { SHARED_REDIS, forgetCluster, getJson, joinJson, nextOfType, randomCluster, randomRoom } from './support';

const cluster = randomCluster();

test.after(async () => {
  destroyAllClients();
  await stopAllServerProcesses();
  await forgetCluster(cluster);
});

test('WORKERS=2 without REDIS_URL is refused at start, saying why', async () => {
  const failed = await runFailingStart({ env: { WORKERS: '2', DATA_DIR: mkdtempSync(join(tmpdir(), 'rooms-w-')) } });
  assert.is(failed.status.code, 2);
  assert.match(failed.stderr, /WORKERS=2 needs REDIS_URL/);
});

test('WORKERS=2 with the file store is refused at start, saying why', async () => {
  const failed = await runFailingStart({ env: { WORKERS: '2', REDIS_URL: SHARED_REDIS, DATA_DIR: mkdtempSync(join(tmpdir(), 'rooms-w-')) } });
  assert.is(failed.status.code, 2);
  assert.match(failed.stderr, /needs a shared room store: set MARIADB_URL or ROOM_STORE=redis/);
});

test('WORKERS=2: two processes on one port relay and count as one; SIGTERM stops both with 1001 and exit 0', async () => {
  const server = await startServerProcess({
    env: { WORKERS: '2', REDIS_URL: SHARED_REDIS, CLUSTER: cluster, ROOM_STORE: 'redis', DATA_DIR: mkdtempSync(join(tmpdir(), 'rooms-w-')), LOG_LEVEL: 'warn' },
  });
  await server.waitForLine('stderr', /2 workers ready/, 30_000);
  // The kernel hands connections to the workers in turn: both node ids answer.
  const ids = new Set<string>();
  for (let i = 0; i < 6; i++) ids.add(((await getJson(`${server.httpUrl}/healthz`)) as { cluster: { node: string } }).cluster.node);
  assert.is(ids.size, 2, 'two nodes behind one port');

  const room = randomRoom();
  const members = [];
  for (let i = 0; i < 4; i++) members.push(await joinJson(server.port, room, `m${i}`));
  assert.equal([...(members[3]!.welcome.members as string[])].sort(), ['m0', 'm1', 'm2', 'm3']);
  const raw = await RawClient.room(server.port, room, 'raw');
  members[0]!.client.send(text(JSON.stringify({ type: 'message', text: 'to all workers' })));
  for (let i = 1; i < 4; i++) assert.is((await nextOfType(members[i]!.client, 'message')).text, 'to all workers');
  assert.is((await raw.message()).payload.toString('utf8'), 'to all workers');

  const code = server.term(30_000);
  const closes = await Promise.all([raw, ...members.map((m) => m.client)].map((client) => client.expectClose(1001, 15_000)));
  assert.is(closes.length, 5);
  assert.is(await code, 0);
});

test.run();
