// Checking secrets never stalls the server for anyone else: 200 wrong guesses
// (20 protected rooms x 10, each one a full scrypt check on the thread pool) are
// sent at once while a canary pair in an open room keeps chatting. Every guess
// gets its 403 and the canary's round trips stay short (asserted generously: a
// stall would be seconds, this machine is shared).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { destroyAllClients, text } from '../helpers/raw-client';
import { startServerProcess, stopAllServerProcesses, type ServerProcess } from '../helpers/server-process';
import { rawMember, refusal } from './support';

let srv: ServerProcess;
test.before(async () => {
  srv = await startServerProcess({ env: { LOG_LEVEL: 'warn', DATA_DIR: `/tmp/rooms-bf-${process.pid}-${Date.now()}`, JOINS_PER_MINUTE: '100000' } });
});
test.after(async () => {
  destroyAllClients();
  await stopAllServerProcesses();
});

test('200 guesses checked while a canary pair keeps chatting with low latency', async () => {
  const rooms = Array.from({ length: 20 }, (_, i) => `bf-room-${i}`);
  for (const room of rooms) await rawMember(srv.port, room, 'owner', { bearer: `real-secret-${room}` });
  const ping = await rawMember(srv.port, 'canary', 'ping');
  const pong = await rawMember(srv.port, 'canary', 'pong');

  let guessing = true;
  const latencies: number[] = [];
  const canary = (async () => {
    let i = 0;
    while (guessing || latencies.length < 20) {
      const sent = performance.now();
      ping.send(text(`tick-${i}`));
      const got = await pong.message(5000);
      assert.is(got.payload.toString(), `tick-${i}`);
      latencies.push(performance.now() - sent);
      i++;
      await new Promise((r) => setTimeout(r, 10));
    }
  })();

  const started = performance.now();
  const guesses = rooms.flatMap((room) => Array.from({ length: 10 }, (_, g) => refusal(srv.port, room, `eve${g}`, { bearer: `guess-${g}`, timeoutMs: 120_000 })));
  const answers = await Promise.all(guesses);
  const took = performance.now() - started;
  guessing = false;
  await canary;

  const statuses = new Map<number, number>();
  for (const answer of answers) statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
  assert.equal([...statuses], [[403, 200]], 'every guess was checked and refused');
  latencies.sort((a, b) => a - b);
  const p99 = latencies[Math.floor(latencies.length * 0.99)]!;
  // 200 checks of a few tens of ms each, two at a time, take seconds; the canary must not wait for them.
  assert.ok(took > 1000, `200 scrypt checks took ${Math.round(took)} ms: were they really run?`);
  assert.ok(p99 < 500, `canary p99 ${Math.round(p99)} ms over ${latencies.length} round trips while guesses were checked for ${Math.round(took)} ms`);
});

test.run();
