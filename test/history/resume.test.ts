// seq, epoch and resume end to end over real sockets (CONTRACT.md, "History and
// resume"): what every receiver sees, what a resuming member gets (all missed
// messages then live, or recovered:false and nothing), and history=N.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { binary, destroyAllClients, OP, RawClient, sleep, text } from '../helpers/raw-client';
import { startTestServer, type TestServer, waitUntil } from '../helpers/test-server';
import { type Json, joinJson, joinPath, joinRaw, quiet } from './support';

let ts: TestServer;
let shortTtl: TestServer;
let big: TestServer;

test.before(async () => {
  ts = await startTestServer({ historySize: 5 });
  shortTtl = await startTestServer({ historySize: 100, historyTtlMs: 300 });
  big = await startTestServer({ historySize: 10_000 });
});
test.after(async () => {
  destroyAllClients();
  await ts.stop();
  await shortTtl.stop();
  await big.stop();
});

const texts = (frames: Json[]) => frames.map((f) => f.text);
const seqs = (frames: Json[]) => frames.map((f) => f.seq);

test('seq and epoch: the same for every receiver, raw senders and JSON senders alike', async () => {
  const ada = await joinJson(ts.port, 'same', 'ada');
  assert.is(ada.welcome.seq, 0);
  assert.match(String(ada.welcome.epoch), /^[A-Za-z0-9_-]{16}$/);
  assert.not.ok('recovered' in ada.welcome, 'recovered only answers a resume');
  const bob = await joinJson(ts.port, 'same', 'bob');
  assert.is(bob.welcome.epoch, ada.welcome.epoch);
  const raw = await joinRaw(ts.port, 'same', 'rae');
  const cy = await joinJson(ts.port, 'same', 'cy');
  ada.say('one');
  raw.send(text('two'));
  bob.say('three');
  const atBob = await bob.messages(2);
  const atCy = await cy.messages(3);
  const atAda = await ada.messages(2);
  assert.equal(seqs(atCy), [1, 2, 3]);
  assert.equal(texts(atCy), ['one', 'two', 'three']);
  assert.equal(atBob, atCy.filter((m) => m.from !== 'bob'));
  assert.equal(atAda, atCy.filter((m) => m.from !== 'ada'));
  const late = await joinJson(ts.port, 'same', 'late');
  assert.equal([late.welcome.epoch, late.welcome.seq], [ada.welcome.epoch, 3]);
});

test('resume after a disconnect: exactly the messages sent meanwhile, in order, then live', async () => {
  const ada = await joinJson(ts.port, 'gone', 'ada');
  const bob = await joinJson(ts.port, 'gone', 'bob');
  ada.say('seen');
  const [seen] = await bob.messages(1);
  const epoch = String(bob.welcome.epoch);
  bob.client.destroy();
  await waitUntil(() => ts.server.registry.get('gone')?.members.size === 1, 'bob to leave');
  ada.say('missed 1');
  ada.say('missed 2');
  await sleep(30);
  const back = await joinJson(ts.port, 'gone', 'bob', `&since=${seen!.seq}&epoch=${epoch}`);
  assert.equal([back.welcome.recovered, back.welcome.epoch, back.welcome.seq], [true, epoch, 3]);
  ada.say('live');
  const got = await back.messages(3);
  assert.equal(texts(got), ['missed 1', 'missed 2', 'live']);
  assert.equal(seqs(got), [2, 3, 4]);
  assert.ok(await quiet(back.client), 'no duplicate after the live message');
});

test('resume at the latest seq: recovered, nothing replayed', async () => {
  const ada = await joinJson(ts.port, 'uptodate', 'ada');
  ada.say('x');
  await sleep(20);
  const bob = await joinJson(ts.port, 'uptodate', 'bob', `&since=1&epoch=${ada.welcome.epoch}`);
  assert.equal([bob.welcome.recovered, bob.welcome.seq], [true, 1]);
  assert.ok(await quiet(bob.client));
});

test('resume while messages keep arriving: no gap, no duplicate, in order', async () => {
  const room = 'busy';
  const sender = await joinRaw(big.port, room, 'sender');
  const first = await joinJson(big.port, room, 'watcher');
  const epoch = String(first.welcome.epoch);
  let sent = 0;
  const pump = setInterval(() => sender.send(text(`m${++sent}`)), 2);
  try {
    for (let round = 0; round < 15; round++) {
      await sleep(10);
      const latest = (await first.messages(1))[0]!.seq as number;
      const since = Math.max(0, latest - 20);
      const resumer = await joinJson(big.port, room, `r${round}`, `&since=${since}&epoch=${epoch}`);
      assert.is(resumer.welcome.recovered, true);
      // The replay and the live messages that follow it: one consecutive run from since+1.
      const got = await resumer.messages(40);
      assert.equal(seqs(got), Array.from({ length: 40 }, (_, i) => since + 1 + i), `round ${round}: consecutive from since+1`);
      assert.equal(texts(got), got.map((m) => `m${m.seq}`));
      resumer.client.destroy();
    }
  } finally {
    clearInterval(pump);
  }
});

test('another epoch, since past the latest, a gap beyond HISTORY_SIZE: recovered false, nothing replayed', async () => {
  const ada = await joinJson(ts.port, 'lost', 'ada');
  for (let i = 1; i <= 8; i++) ada.say(`n${i}`);
  await waitUntil(() => ts.server.registry.history.get('lost')?.lastSeq === 8, 'eight messages');
  const epoch = String(ada.welcome.epoch);
  for (const [extra, why] of [
    [`&since=1&epoch=AAAAAAAAAAAAAAAA`, 'another epoch'],
    [`&since=9&epoch=${epoch}`, 'since past the latest'],
    [`&since=2&epoch=${epoch}`, 'seq 3 is no longer kept (5 kept: 4..8)'],
  ] as const) {
    const bob = await joinJson(ts.port, 'lost', 'bob', extra);
    assert.equal([bob.welcome.recovered, bob.welcome.seq], [false, 8], why);
    assert.ok(await quiet(bob.client), `${why}: nothing replayed`);
    bob.client.destroy();
  }
  // The oldest kept one still counts: since=3 needs 4..8, all kept.
  const edge = await joinJson(ts.port, 'lost', 'bob', `&since=3&epoch=${epoch}`);
  assert.is(edge.welcome.recovered, true);
  assert.equal(texts(await edge.messages(5)), ['n4', 'n5', 'n6', 'n7', 'n8']);
});

test('a gap beyond HISTORY_TTL: recovered false, nothing replayed', async () => {
  const ada = await joinJson(shortTtl.port, 'ttl', 'ada');
  ada.say('old');
  await sleep(400);
  ada.say('new');
  await waitUntil(() => shortTtl.server.registry.history.get('ttl')?.lastSeq === 2, 'two messages');
  const bob = await joinJson(shortTtl.port, 'ttl', 'bob', `&since=0&epoch=${ada.welcome.epoch}`);
  assert.is(bob.welcome.recovered, false);
  assert.ok(await quiet(bob.client));
  const cy = await joinJson(shortTtl.port, 'ttl', 'cy', `&since=1&epoch=${ada.welcome.epoch}`);
  assert.is(cy.welcome.recovered, true);
  assert.equal(texts(await cy.messages(1)), ['new']);
});

test('history=N in JSON mode: the latest N after the welcome, then live', async () => {
  const ada = await joinJson(ts.port, 'hist', 'ada');
  for (let i = 1; i <= 7; i++) ada.say(`h${i}`);
  await waitUntil(() => ts.server.registry.history.get('hist')?.lastSeq === 7, 'seven messages');
  const bob = await joinJson(ts.port, 'hist', 'bob', '&history=3');
  ada.say('live');
  const got = await bob.messages(4);
  assert.equal(texts(got), ['h5', 'h6', 'h7', 'live']);
  assert.equal(seqs(got), [5, 6, 7, 8]);
  assert.equal(got[0]!.from, 'ada');
  // More than HISTORY_SIZE means all that is kept; 0 means none.
  const all = await joinJson(ts.port, 'hist', 'cy', '&history=1000');
  assert.equal(texts(await all.messages(5)), ['h4', 'h5', 'h6', 'h7', 'live']);
  const none = await joinJson(ts.port, 'hist', 'dee', '&history=0');
  assert.ok(await quiet(none.client));
});

test('history=N in raw mode: the bare payloads, same opcode, before any live message', async () => {
  const ada = await joinRaw(ts.port, 'rawhist', 'ada');
  ada.send(text('t1'));
  ada.send(binary(Buffer.from([1, 2, 3])));
  ada.send(text('t3'));
  await waitUntil(() => ts.server.registry.history.get('rawhist')?.lastSeq === 3, 'three messages');
  const bob = await joinRaw(ts.port, 'rawhist', 'bob', '&history=2');
  ada.send(text('live'));
  const a = await bob.message();
  const b = await bob.message();
  const c = await bob.message();
  assert.equal([a.opcode, [...a.payload]], [OP.binary, [1, 2, 3]]);
  assert.equal([b.opcode, b.payload.toString()], [OP.text, 't3']);
  assert.equal([c.opcode, c.payload.toString()], [OP.text, 'live']);
  // since/epoch do not apply in raw mode (there is no welcome to report on): nothing is replayed.
  const cy = await joinRaw(ts.port, 'rawhist', 'cy', '&since=0&epoch=whatever');
  assert.ok(await quiet(cy));
});

test('a room purged and created again starts a new epoch', async () => {
  const server = await startTestServer({ roomRetentionMs: 0 });
  try {
    const ada = await joinJson(server.port, 'again', 'ada');
    ada.say('before');
    await sleep(20);
    ada.client.destroy();
    await waitUntil(() => server.server.registry.get('again') === undefined, 'the room to be deleted');
    const bob = await joinJson(server.port, 'again', 'bob', `&since=0&epoch=${ada.welcome.epoch}&history=10`);
    assert.not.equal(bob.welcome.epoch, ada.welcome.epoch);
    assert.equal([bob.welcome.seq, bob.welcome.recovered], [0, false]);
    assert.ok(await quiet(bob.client), 'nothing of the old room');
  } finally {
    await server.stop();
  }
});

test('a replay stays within MAX_BUFFERED_BYTES: history=N sends the latest that fit, a resume with more is recovered:false', async () => {
  // 64 KiB a receiver may have queued; 20 messages of 10 KiB each are kept.
  const small = await startTestServer({ historySize: 100, maxBufferedBytes: 64 * 1024 });
  try {
    const ada = await joinRaw(small.port, 'big', 'ada');
    const body = (n: number) => `${String(n).padStart(2, '0')}${'x'.repeat(10 * 1024 - 2)}`;
    for (let n = 1; n <= 20; n++) ada.send(text(body(n)));
    await waitUntil(() => small.server.registry.history.get('big')?.lastSeq === 20, 'twenty messages');
    // Raw: 6 of 10 KiB fit in 64 KiB, a 7th would not.
    const raw = await joinRaw(small.port, 'big', 'raw', '&history=20');
    const got: string[] = [];
    for (let i = 0; i < 6; i++) got.push((await raw.message()).payload.toString('utf8', 0, 2));
    assert.equal(got, ['15', '16', '17', '18', '19', '20']);
    assert.ok(await quiet(raw));
    const epoch = String((await joinJson(small.port, 'big', 'probe')).welcome.epoch);
    // Ten missed (over 100 KiB): not recovered, nothing of them; history=3 then as on a first join.
    const far = await joinJson(small.port, 'big', 'far', `&since=10&epoch=${epoch}&history=3`);
    assert.equal([far.welcome.seq, far.welcome.recovered], [20, false]);
    assert.equal(seqs(await far.messages(3)), [18, 19, 20]);
    assert.ok(await quiet(far.client));
    // Five missed (about 51 KiB as JSON): recovered, all five.
    const near = await joinJson(small.port, 'big', 'near', `&since=15&epoch=${epoch}`);
    assert.equal([near.welcome.seq, near.welcome.recovered], [20, true]);
    assert.equal(seqs(await near.messages(5)), [16, 17, 18, 19, 20]);
    assert.ok(await quiet(near.client));
  } finally {
    await small.stop();
  }
});

test('HISTORY_SIZE=0: seqs still count, nothing is kept, a resume is recovered only when nothing was missed', async () => {
  const off = await startTestServer({ historySize: 0 });
  try {
    const ada = await joinJson(off.port, 'off', 'ada');
    const bob = await joinJson(off.port, 'off', 'bob');
    ada.say('a');
    ada.say('b');
    assert.equal(seqs(await bob.messages(2)), [1, 2]);
    const epoch = String(ada.welcome.epoch);
    const upToDate = await joinJson(off.port, 'off', 'cy', `&since=2&epoch=${epoch}&history=5`);
    assert.equal([upToDate.welcome.seq, upToDate.welcome.recovered], [2, true]);
    assert.ok(await quiet(upToDate.client));
    const behind = await joinJson(off.port, 'off', 'dee', `&since=1&epoch=${epoch}&history=5`);
    assert.equal([behind.welcome.seq, behind.welcome.recovered], [2, false]);
    assert.ok(await quiet(behind.client));
    assert.equal(await historyHealthOf(off), { kept: false });
    assert.equal(await historyHealthOf(ts), { kept: true, store: 'file', state: 'up', pendingRooms: 0, errors: 0 });
  } finally {
    await off.stop();
  }
});

test('/metrics counts what is kept: messages, their bytes as HISTORY_MAX_BYTES counts them, and the slabs holding them', async () => {
  const kept = await startTestServer({ historySize: 5 });
  const off = await startTestServer({ historySize: 0 });
  try {
    for (const server of [kept, off]) {
      const ada = await joinJson(server.port, 'counted', 'ada');
      const bob = await joinJson(server.port, 'counted', 'bob');
      for (let i = 0; i < 8; i++) ada.say(`message ${i}`);
      await bob.messages(8);
    }
    // Five kept (HISTORY_SIZE), each its 9-byte payload, twice the sender's 3 characters and 96 bytes; one slab of 4 KiB so far.
    assert.equal(await historyMetricsOf(kept), { messages: 5, bytes: 5 * (9 + 6 + 96), slab: 4096 });
    assert.equal(await historyMetricsOf(off), { messages: 0, bytes: 0, slab: 0 });
  } finally {
    await kept.stop();
    await off.stop();
  }
});

async function historyMetricsOf(server: TestServer): Promise<{ messages: number; bytes: number; slab: number }> {
  const body = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(body)?.[1] ?? Number.NaN);
  return { messages: value('rooms_history_kept_messages'), bytes: value('rooms_history_kept_bytes'), slab: value('rooms_history_slab_bytes') };
}

/** /healthz's history section of a test server. */
async function historyHealthOf(server: TestServer): Promise<unknown> {
  const res = await fetch(`http://127.0.0.1:${server.port}/healthz`);
  return ((await res.json()) as { history: unknown }).history;
}

const BAD: [string, string][] = [
  ['&since=1', 'since and epoch go together: give both or neither'],
  ['&epoch=abc', 'since and epoch go together: give both or neither'],
  ['&since=-1&epoch=abc', 'since must be an integer from 0 to 9007199254740991'],
  ['&since=1.5&epoch=abc', 'since must be an integer from 0 to 9007199254740991'],
  ['&since=&epoch=abc', 'since must be an integer from 0 to 9007199254740991'],
  ['&since=9007199254740992&epoch=abc', 'since must be an integer from 0 to 9007199254740991'],
  ['&since=1&epoch=a%20b', 'epoch must be 1-64 characters from A-Z a-z 0-9 _ - . ~ (the epoch of a welcome)'],
  [`&since=1&epoch=${'e'.repeat(65)}`, 'epoch must be 1-64 characters from A-Z a-z 0-9 _ - . ~ (the epoch of a welcome)'],
  ['&since=1&since=2&epoch=abc', 'since given more than once'],
  ['&history=x', 'history must be an integer from 0 to 9007199254740991'],
  ['&history=-3', 'history must be an integer from 0 to 9007199254740991'],
  ['&history=', 'history must be an integer from 0 to 9007199254740991'],
  ['&history=1&history=2', 'history given more than once'],
];

for (const [extra, reason] of BAD) {
  test(`malformed join parameters are refused: ${extra}`, async () => {
    const { client, response } = await RawClient.open(ts.port, { path: joinPath('bad', 'ada', extra), protocol: 'rooms.v1.json' });
    assert.is(response.statusLine, 'HTTP/1.1 400 Bad Request');
    assert.is(response.body.toString('utf8'), `${reason}\n`);
    client.destroy();
  });
}

test.run();
