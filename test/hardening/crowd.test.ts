// The "done when" of issue 6, as a new user would try it: a crowd of misbehaving
// clients — slowloris heads, readers that never read, half-open sockets, floods,
// a rate abuser, oversized frames, garbage bytes — all at once, while two
// well-behaved members chat. The two get every line, in order, and are never
// dropped; every abuser gets its documented answer; the bytes the server holds
// for any one socket stay under the hard bound 2 x MAX_BUFFERED_BYTES +
// MAX_MESSAGE_BYTES (2.25 MiB here) and this process's RSS (the server is
// in-process) stays under 150 MiB above its start.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { clientFrame, floodFrames, frameHeader, handshakeBytes, OP, RawPeer, roomPath, sleep, textFrame, until, WsMember } from '../helpers/misbehaving-clients';
import { heldBound, memberNames, serverPeers, startHardened, type Hardened } from './harness';

let h: Hardened | null = null;
test.after.each(async () => {
  await h?.stop();
  h = null;
});

const MiB = 1024 * 1024;
const MAX_BUFFERED = MiB;
const PING_INTERVAL = 400;
const ROOMS = ['ops', 'flood', 'quiet'];

test('a crowd of misbehaving clients; two members chat through it and notice nothing', async () => {
  h = await startHardened({
    pingIntervalMs: PING_INTERVAL,
    headerTimeoutMs: 1000,
    maxBufferedBytes: MAX_BUFFERED,
    maxMessageBytes: 256 * 1024,
    messagesPerSecond: 200,
    messageBurst: 400,
  });
  const { port, url, server } = h;
  const alice = await WsMember.join(url, 'ops', 'alice');
  const bert = await WsMember.join(url, 'ops', 'bert');

  const rssStart = process.memoryUsage().rss;
  let rssPeak = rssStart;
  let heldPeak = 0;
  const sampler = setInterval(() => {
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    for (const room of ROOMS) for (const peer of serverPeers(server, room)) heldPeak = Math.max(heldPeak, peer.socket.writableLength);
  }, 10);

  let crowdActive = true;
  const outcomes: string[] = [];
  const tasks: Array<Promise<void>> = [];
  const spawnTask = (what: string, run: () => Promise<string>) => {
    tasks.push(
      run().then(
        (outcome) => void outcomes.push(`${what}: ${outcome}`),
        (error: unknown) => {
          throw new Error(`${what}: ${error instanceof Error ? error.message : String(error)}`);
        },
      ),
    );
  };

  // Readers that never read but stay "alive" (a ping every 200 ms): only MAX_BUFFERED_BYTES can drop them.
  const slowDropped = new Map<string, number>(ROOMS.map((room) => [room, 0]));
  const slowReader = (room: string, i: number) => async () => {
    const name = `slow-${room}-${i}`;
    const peer = await RawPeer.join(port, room, name);
    peer.stopReading();
    while (!peer.ended && crowdActive && memberNames(server, room).includes(name)) {
      peer.write(clientFrame(OP.ping, 'still here'));
      await sleep(200);
    }
    if (memberNames(server, room).includes(name)) return 'still in the room';
    slowDropped.set(room, slowDropped.get(room)! + 1);
    return 'dropped';
  };
  // Half-open: handshake, then silence both ways.
  const halfOpen = (room: string, i: number) => async () => {
    const peer = await RawPeer.join(port, room, `ghost-${room}-${i}`);
    peer.stopReading();
    await until(() => !memberNames(server, room).includes(`ghost-${room}-${i}`), `ghost-${room}-${i} to be dropped`, 20_000);
    return 'dropped';
  };
  const slowloris = async () => {
    const peer = await RawPeer.connect(port);
    await peer.drip(handshakeBytes(port, { path: roomPath('ops', 'loris') }), 200);
    return `HTTP ${(await peer.readResponse()).status}`;
  };
  const flooder = (room: string, name: string, bytes: number, everyMs: number, enough = () => false) => async () => {
    const peer = await RawPeer.join(port, room, name);
    const frame = floodFrames(name, bytes);
    let n = 0;
    while (crowdActive && !peer.ended && !enough()) {
      await peer.writeAndDrain(frame(n++));
      await sleep(everyMs);
    }
    return peer.ended ? 'ended' : `sent ${n}`;
  };
  const expectClose = (name: string, bytes: Buffer) => async () => {
    const peer = await RawPeer.join(port, 'ops', name);
    peer.write(bytes);
    const closed = await peer.expectClose(10_000);
    return `close ${closed.code} ${closed.reason}`;
  };

  // The chat: a line every 25 ms each, all through the crowd.
  const lines = { alice: 0, bert: 0 };
  const chat = (async () => {
    while (crowdActive) {
      alice.say(`alice line ${lines.alice++}`);
      bert.say(`bert line ${lines.bert++}`);
      await sleep(25);
    }
  })();

  try {
    for (let i = 0; i < 5; i++) spawnTask(`slow reader in ops ${i}`, slowReader('ops', i));
    for (let i = 0; i < 5; i++) spawnTask(`slow reader in flood ${i}`, slowReader('flood', i));
    for (let i = 0; i < 5; i++) spawnTask(`half-open in ops ${i}`, halfOpen('ops', i));
    for (let i = 0; i < 5; i++) spawnTask(`half-open in quiet ${i}`, halfOpen('quiet', i));
    const flooders = [flooder('ops', 'flood-ops-1', 16 * 1024, 10)(), flooder('ops', 'flood-ops-2', 16 * 1024, 10)(), flooder('flood', 'flood-big', 64 * 1024, 10, () => slowDropped.get('flood') === 5)()];
    spawnTask('rate abuser', expectClose('spammer', Buffer.concat(Array.from({ length: 1000 }, (_, i) => textFrame(`spam ${i}`)))));
    spawnTask('oversized frame', expectClose('huge', frameHeader(OP.binary, 2n ** 40n).header));
    spawnTask('oversized fragments', expectClose('pieces', Buffer.concat([clientFrame(OP.text, 'x'.repeat(200 * 1024), { fin: false }), frameHeader(OP.continuation, 100 * 1024).header])));
    // Waves while it all goes on: slowloris heads and garbage.
    for (let wave = 0; wave < 5; wave++) {
      for (let i = 0; i < 2; i++) spawnTask(`slowloris ${wave}.${i}`, slowloris);
      spawnTask(`garbage ${wave}.a`, expectClose(`garbage-${wave}-a`, Buffer.from('\x16\x03\x01 this is not a frame', 'latin1')));
      spawnTask(`garbage ${wave}.b`, expectClose(`garbage-${wave}-b`, clientFrame(OP.text, 'no mask', { mask: false })));
      await sleep(400);
    }
    // Everyone misbehaving has had their answer, or is still flooding.
    await Promise.all(tasks);
    await sleep(500);
    crowdActive = false;
    await Promise.all(flooders);
    await chat;
  } finally {
    crowdActive = false;
    clearInterval(sampler);
  }

  // The two chatters heard every line of the other, in order, once.
  await until(() => alice.from('bert').length >= lines.bert && bert.from('alice').length >= lines.alice, 'the last chat lines', 20_000);
  assert.equal(alice.from('bert'), Array.from({ length: lines.bert }, (_, i) => `bert line ${i}`));
  assert.equal(bert.from('alice'), Array.from({ length: lines.alice }, (_, i) => `alice line ${i}`));
  for (const member of [alice, bert]) {
    assert.ok(member.open, `${member.name} was never dropped (close ${member.closeCode} ${member.closeReason})`);
    assert.equal(member.errors, [], `${member.name} got no error`);
    // The room's own floods reached them too, whole and in order.
    for (const name of ['flood-ops-1', 'flood-ops-2']) {
      const got = member.from(name).map((text) => Number(text.split(' ')[1]));
      assert.equal(got, Array.from({ length: got.length }, (_, i) => i), `${member.name} heard ${name} in order`);
    }
    assert.equal(member.from('flood-big'), [], 'nothing crossed from the flood room');
  }

  // Every abuser got its documented answer.
  const answer = (prefix: string) => outcomes.filter((o) => o.startsWith(prefix)).map((o) => o.slice(o.indexOf(': ') + 2));
  assert.equal(answer('slow reader'), Array(10).fill('dropped'));
  assert.equal(answer('half-open'), Array(10).fill('dropped'));
  assert.equal(answer('slowloris'), Array(10).fill('HTTP 408'));
  assert.is(answer('garbage').length, 10);
  for (const o of answer('garbage')) assert.match(o, /^close 1002 /);
  assert.equal(answer('rate abuser'), ['close 1008 message rate limit exceeded']);
  assert.is(answer('oversized').length, 2);
  for (const o of answer('oversized')) assert.match(o, /^close 1009 /);
  assert.ok(server.metrics.slowConsumersDropped >= 10, `the never-reading readers were dropped as slow (${server.metrics.slowConsumersDropped})`);
  assert.ok(server.metrics.deadPeersDropped >= 5, `the quiet room's half-open peers were dropped as dead (${server.metrics.deadPeersDropped})`);

  // Bounded throughout.
  assert.ok(heldPeak <= heldBound(h.settings), `bytes held for any one socket stayed under the hard bound ${heldBound(h.settings)} (peak ${heldPeak})`);
  const grew = rssPeak - rssStart;
  process.stdout.write(`  crowd: ${outcomes.length} abusers answered; chat ${lines.alice}+${lines.bert} lines; slow ${server.metrics.slowConsumersDropped}, dead ${server.metrics.deadPeersDropped}; held peak ${heldPeak} B; RSS +${(grew / MiB).toFixed(1)} MiB\n`);
  assert.ok(grew < 150 * MiB, `RSS grew ${(grew / MiB).toFixed(1)} MiB (< 150 MiB)`);

  // Afterwards only the well-behaved are left.
  await until(() => memberNames(server, 'ops').length === 2, 'the crowd to be gone from ops', 10_000);
  assert.equal(memberNames(server, 'ops').sort(), ['alice', 'bert']);
  await alice.close();
  await bert.close();
});

test.run();
