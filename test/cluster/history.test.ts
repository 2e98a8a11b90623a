// History across three nodes (src/cluster/cluster-history.ts): Redis gives every
// message its seq and keeps the room's history, so welcomes, resumes and
// history=N agree on every node; a wiped Redis starts a new epoch.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { destroyAllClients, sleep } from '../helpers/raw-client';
import { type ServerProcess, stopAllServerProcesses } from '../helpers/server-process';
import { type Json, joinJson, quiet } from '../history/support';
import { roomHash } from '../../src/cluster/names';
import { randomCluster, randomRoom, redisClient, startNode } from './support';

const cluster = randomCluster();
let nodes: ServerProcess[] = [];
const port = (i: number) => nodes[i]!.port;

test.before(async () => {
  nodes = await Promise.all([0, 1, 2].map(() => startNode({ cluster, env: { HISTORY_SIZE: '50' } })));
});
test.after(async () => {
  destroyAllClients();
  await stopAllServerProcesses();
  const redis = redisClient();
  const keys = await redis.keys(`${cluster}:*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

const pairs = (frames: Json[]) => frames.map((f) => `${String(f.seq)}:${String(f.text)}`);

test('concurrent senders on three nodes: one epoch, and every node sees the same seq for each message', async () => {
  const room = randomRoom();
  const observers = [];
  for (const i of [0, 1, 2]) observers.push(await joinJson(port(i), room, `obs${i}`));
  const senders = [];
  for (const i of [0, 1, 2]) senders.push(await joinJson(port(i), room, `snd${i}`));
  const epochs = new Set([...observers, ...senders].map((m) => m.welcome.epoch));
  assert.is(epochs.size, 1, 'one epoch in every welcome');
  for (let n = 0; n < 10; n++) for (const [i, s] of senders.entries()) s.say(`n${i}-${n}`);
  const seen = await Promise.all(observers.map((o) => o.messages(30)));
  assert.equal(pairs(seen[1]!), pairs(seen[0]!));
  assert.equal(pairs(seen[2]!), pairs(seen[0]!));
  assert.equal(seen[0]!.map((f) => f.seq), Array.from({ length: 30 }, (_, k) => k + 1));
  const late = await joinJson(port(2), room, 'late');
  assert.equal([late.welcome.epoch, late.welcome.seq], [observers[0]!.welcome.epoch, 30]);
});

test('resume on another node: exactly the messages sent meanwhile, then live; history=N on a third', async () => {
  const room = randomRoom();
  const ada = await joinJson(port(0), room, 'ada');
  const bob = await joinJson(port(0), room, 'bob');
  ada.say('seen');
  const [seen] = await bob.messages(1);
  bob.client.destroy();
  await sleep(50);
  ada.say('m1');
  ada.say('m2');
  ada.say('m3');
  const watcher = await joinJson(port(2), room, 'watcher');
  await sleep(100);
  const back = await joinJson(port(1), room, 'bob', `&since=${String(seen!.seq)}&epoch=${String(bob.welcome.epoch)}`);
  assert.equal([back.welcome.recovered, back.welcome.epoch, back.welcome.seq], [true, bob.welcome.epoch, 4]);
  assert.equal(pairs(await back.messages(3)), ['2:m1', '3:m2', '4:m3']);
  ada.say('live');
  assert.equal(pairs(await back.messages(1)), ['5:live']);
  assert.ok(await quiet(back.client), 'nothing twice');
  const recent = await joinJson(port(2), room, 'recent', '&history=2');
  assert.is(recent.welcome.seq, 5);
  assert.equal(pairs(await recent.messages(2)), ['4:m3', '5:live']);
  assert.ok(await quiet(recent.client));
  assert.equal(pairs(await watcher.messages(1)), ['5:live']);
  // A resume from further back than the history holds, or with another epoch: all or nothing.
  const wrong = await joinJson(port(2), room, 'bob', `&since=1&epoch=not-this-one`);
  assert.is(wrong.welcome.recovered, false);
  assert.ok(await quiet(wrong.client));
});

test('a join racing a stream of messages from another node: replay then live, no gap, no duplicate', async () => {
  const room = randomRoom();
  const sender = await joinJson(port(0), room, 'sender');
  const joins: Promise<Awaited<ReturnType<typeof joinJson>>>[] = [];
  for (let n = 1; n <= 120; n++) {
    sender.say(`s${n}`);
    if (n % 20 === 0) joins.push(joinJson(port(1 + (n % 2)), room, `j${n}`, '&history=50'));
    if (n % 10 === 0) await sleep(2);
  }
  for (const joiner of await Promise.all(joins)) {
    const top = Number(joiner.welcome.seq);
    const frames: Json[] = [];
    for (;;) {
      const [frame] = await joiner.messages(1);
      frames.push(frame!);
      if (frame!.seq === 120) break;
    }
    const seqs = frames.map((f) => Number(f.seq));
    const first = seqs[0]!;
    assert.equal(seqs, Array.from({ length: 121 - first }, (_, k) => first + k), `contiguous for a joiner at ${top}`);
    assert.ok(first <= Math.max(1, top - 49), `replay reaches back 50 from ${top}`);
  }
});

test('the history list runs a little over HISTORY_SIZE between trims, but a join sees exactly the latest HISTORY_SIZE', async () => {
  const room = randomRoom();
  const sender = await joinJson(port(0), room, 'sender');
  const listener = await joinJson(port(1), room, 'listener');
  // 50 kept, trimmed once 8 past: after 57 the list holds 57 (not yet trimmed), after 59 it holds 50 again.
  for (let n = 1; n <= 57; n++) sender.say(`s${n}`);
  await listener.messages(57);
  const redis = redisClient();
  const list = `${cluster}:h:${roomHash(cluster, room)}`;
  assert.is(await redis.llen(list), 57, 'not trimmed on every push');
  const all = await joinJson(port(2), room, 'all', '&history=100');
  assert.equal((await all.messages(50)).map((f) => f.seq), Array.from({ length: 50 }, (_, k) => 8 + k), 'the latest 50 only');
  assert.ok(await quiet(all.client));
  const beyond = await joinJson(port(2), room, 'late', `&since=6&epoch=${String(listener.welcome.epoch)}`);
  assert.is(beyond.welcome.recovered, false, 'seq 7 is past HISTORY_SIZE although the list still holds it');
  assert.ok(await quiet(beyond.client));
  sender.say('s58');
  sender.say('s59');
  await listener.messages(2);
  assert.is(await redis.llen(list), 50, 'trimmed back to the size');
  redis.disconnect();
});

test('a join reads from Redis only the history it can use: none for a plain join, N for history=N, the missed ones for a resume', async () => {
  const room = randomRoom();
  const sender = await joinJson(port(0), room, 'sender');
  for (let n = 1; n <= 30; n++) sender.say(`r${n}`);
  const epoch = String(sender.welcome.epoch);
  const watcher = await joinJson(port(1), room, 'watcher', '&history=30');
  assert.is((await watcher.messages(30)).length, 30);
  // MONITOR shows the commands scripts run: every read of this room's history list, with its range.
  const list = `${cluster}:h:${roomHash(cluster, room)}`;
  const redis = redisClient();
  const monitor = await redis.monitor();
  const reads: string[] = [];
  monitor.on('monitor', (_time: string, args: string[]) => {
    if (args[0]?.toLowerCase() === 'lrange' && args[1] === list) reads.push(`${args[2]} ${args[3]}`);
  });
  const joins: Array<[string, string]> = [
    ['plain', ''],
    ['latest5', '&history=5'],
    ['resume27', `&since=27&epoch=${epoch}`],
    ['resume0', `&since=0&epoch=${epoch}`],
    ['otherEpoch', '&since=27&epoch=not-this-one'],
    ['both', `&since=28&epoch=${epoch}&history=4`],
  ];
  for (const [name, extra] of joins) {
    const member = await joinJson(port(2), room, name, extra);
    member.client.destroy();
  }
  await sleep(200);
  monitor.disconnect();
  redis.disconnect();
  assert.equal(reads, ['-5 -1', '-3 -1', '-30 -1', '-4 -1']);
});

test('Redis wiped: the next message starts a new epoch; a resume with the old one is recovered:false', async () => {
  const room = randomRoom();
  const ada = await joinJson(port(0), room, 'ada');
  const bob = await joinJson(port(1), room, 'bob');
  ada.say('before');
  const [before] = await bob.messages(1);
  const redis = redisClient();
  // Only this test's cluster: the shared Redis serves other test runs.
  for (const kind of ['s', 'e', 'h']) {
    const keys = await redis.keys(`${cluster}:${kind}:*`);
    if (keys.length > 0) await redis.del(...keys);
  }
  redis.disconnect();
  ada.say('after');
  const [after] = await bob.messages(1);
  assert.is(after!.seq, 1);
  const fresh = await joinJson(port(2), room, 'cy');
  assert.is.not(fresh.welcome.epoch, bob.welcome.epoch);
  assert.is(fresh.welcome.seq, 1);
  const old = await joinJson(port(2), room, 'bob', `&since=${String(before!.seq)}&epoch=${String(bob.welcome.epoch)}`);
  assert.equal([old.welcome.recovered, old.welcome.epoch], [false, fresh.welcome.epoch]);
  assert.ok(await quiet(old.client));
});

test('no room key in a Redis key name', async () => {
  const room = randomRoom('secret-key');
  const ada = await joinJson(port(0), room, 'ada');
  ada.say('x');
  await sleep(100);
  const redis = redisClient();
  const keys = await redis.keys(`${cluster}:*`);
  redis.disconnect();
  assert.ok(keys.some((k) => k.startsWith(`${cluster}:h:`)), 'a history list');
  assert.not.ok(keys.some((k) => k.includes('secret-key')));
});

test.run();
