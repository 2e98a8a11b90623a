// Logs (issue 6): one JSON object per line, with a level; every refusal says its
// status (or close code) and reason; and neither message contents nor room keys
// ever appear in any line (room keys are bearer secrets). The server's logger is
// captured (startServer's `{ log }`) while a session full of refusals, drops and
// chat runs in a room with a distinctive key.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { clientFrame, closeFrame, floodFrames, frameHeader, handshakeBytes, OP, RawPeer, roomPath, until, WsMember } from '../helpers/misbehaving-clients';
import { memberNames, startHardened, type Hardened } from './harness';

let h: Hardened | null = null;
test.after.each(async () => {
  await h?.stop();
  h = null;
});

const SECRET_ROOM = 'Kx7-q9Vt.Room_Secret~4J2mP8';
const SECRET_TEXT = 'launch code ZEBRA-7731-QUARTZ';
const SECRET_FRAGMENTS = [SECRET_ROOM, 'Kx7-q9Vt', 'Room_Secret', '4J2mP8', 'ZEBRA-7731', 'QUARTZ', 'launch code'];

type Line = Record<string, unknown> & { time: string; level: string; event: string };

function parsed(logs: readonly string[]): Line[] {
  return logs.map((line) => {
    const value = JSON.parse(line) as Line;
    assert.type(value.time, 'string', `time in ${line}`);
    assert.ok(['debug', 'info', 'warn', 'error'].includes(value.level), `a level in ${line}`);
    assert.type(value.event, 'string', `an event in ${line}`);
    return value;
  });
}

test('refusals and drops are logged with status or close code and reason; room keys and message contents never are', async () => {
  h = await startHardened({
    maxHeaderBytes: 2048,
    headerTimeoutMs: 500,
    maxConnectionsPerAddress: 5,
    joinsPerMinutePerAddress: 30,
    joinBurst: 30,
    messagesPerSecond: 500,
    messageBurst: 500,
    maxMessageBytes: 1024 * 1024,
    maxBufferedBytes: 256 * 1024,
    pingIntervalMs: 300,
  });
  const { port, url, server } = h;
  const secretPath = (name: string) => roomPath(SECRET_ROOM, name);

  // Chat in the secret room, both modes, text in the message.
  const ann = await WsMember.join(url, SECRET_ROOM, 'ann');
  const bob = await WsMember.join(url, SECRET_ROOM, 'bob', { mode: 'raw' });
  ann.say(SECRET_TEXT);
  bob.say(`${SECRET_TEXT} (raw)`);
  await until(() => ann.heard.length === 1 && bob.heard.length === 1, 'the secret lines to be relayed');

  // Handshake refusals, each aimed at the secret room.
  const refusal = async (headers: Record<string, string>, path: string, localAddress = '127.0.0.1') => {
    const { peer, response } = await RawPeer.handshake(port, { path, headers }, { localAddress });
    peer.destroy();
    return response.status;
  };
  assert.is(await refusal({ 'X-Padding': 'p'.repeat(3000) }, secretPath('big')), 431);
  assert.is(await refusal({ Origin: 'https://evil.example' }, secretPath('evil')), 403);
  assert.is(await refusal({}, `/?room=${SECRET_ROOM}&name=`), 400);
  assert.is(await refusal({}, `/?room=${SECRET_ROOM}&room=${SECRET_ROOM}&name=twice`), 400);
  const loris = await RawPeer.connect(port);
  await loris.drip(handshakeBytes(port, { path: secretPath('loris') }), 100);
  assert.is((await loris.readResponse()).status, 408);
  loris.destroy();
  const held: RawPeer[] = [];
  for (let i = 0; i < 5; i++) held.push(await RawPeer.join(port, SECRET_ROOM, `held${i}`, { localAddress: '127.0.0.2' }));
  assert.is(await refusal({}, secretPath('capped'), '127.0.0.2'), 503);
  for (const peer of held) peer.destroy();
  for (let i = 0; i < 30; i++) (await RawPeer.join(port, 'churn', `c${i}`, { localAddress: '127.0.0.3' })).destroy();
  assert.is(await refusal({}, secretPath('churner'), '127.0.0.3'), 429);

  // Closes: rate (1008), size (1009), garbage (1002), invalid UTF-8 (1007); each sends the secret text first.
  const closes: Array<[string, Buffer, number]> = [
    ['spammer', Buffer.concat(Array.from({ length: 1000 }, () => clientFrame(OP.text, SECRET_TEXT))), 1008],
    ['huge', frameHeader(OP.binary, 2n ** 40n).header, 1009],
    ['garbage', Buffer.from(`${SECRET_TEXT}\r\n`, 'latin1'), 1002],
    ['mangled', clientFrame(OP.text, Buffer.from([0x41, 0xff, 0xfe])), 1007],
  ];
  for (const [name, bytes, code] of closes) {
    const peer = await RawPeer.join(port, SECRET_ROOM, name);
    peer.write(clientFrame(OP.text, SECRET_TEXT));
    peer.write(bytes);
    assert.is((await peer.expectClose()).code, code, name);
    peer.write(closeFrame(code));
    peer.destroy();
  }

  // A slow consumer: never reads, while 16 KiB messages starting with the secret text fill the room.
  // (ann and bob leave first: this test is about the log lines; slow-consumer.test.ts has readers stay.)
  await ann.close();
  await bob.close();
  // It pings now and then, so the heartbeat does not take it for a dead peer.
  const slow = await RawPeer.join(port, SECRET_ROOM, 'slow');
  slow.stopReading();
  const alive = setInterval(() => slow.write(clientFrame(OP.ping)), 100);
  const flooder = await RawPeer.join(port, SECRET_ROOM, 'flooder');
  const flood = floodFrames(SECRET_TEXT, 16 * 1024);
  try {
    for (let i = 0; i < 4000 && server.metrics.slowConsumersDropped === 0; i++) await flooder.writeAndDrain(flood(i));
    await until(() => server.metrics.slowConsumersDropped === 1, 'the slow consumer to be dropped', 5000);
  } finally {
    clearInterval(alive);
  }
  flooder.destroy();

  // A half-open peer.
  const ghost = await RawPeer.join(port, SECRET_ROOM, 'ghost');
  ghost.stopReading();
  await until(() => server.metrics.deadPeersDropped >= 1 && !memberNames(server, SECRET_ROOM).includes('ghost'), 'the half-open peer to be dropped', 5000);
  await until(() => !memberNames(server, SECRET_ROOM).includes('slow'), 'the slow consumer to be gone', 5000);
  await until(() => memberNames(server, SECRET_ROOM).length === 0, 'the room to empty');

  const lines = parsed(h.logs);
  const refused = lines.filter((l) => l.event === 'refused');
  for (const status of [431, 403, 400, 408, 503, 429]) {
    const line = refused.find((l) => l.status === status);
    assert.ok(line, `a refused line with status ${status}`);
    assert.type(line!.reason, 'string');
    assert.ok((line!.reason as string).length > 0, `status ${status} has a reason`);
    assert.type(line!.peer, 'string', `status ${status} names the peer address`);
  }
  assert.is(refused.find((l) => l.status === 503)!.reason, 'too many connections from your address');
  const disconnected = lines.filter((l) => l.event === 'disconnected');
  for (const [, , code] of closes) {
    const line = disconnected.find((l) => l.code === code);
    assert.ok(line, `a disconnected line with code ${code}`);
    assert.ok(typeof line!.reason === 'string' && line!.reason.length > 0, `close ${code} has a reason`);
  }
  assert.is(disconnected.find((l) => l.code === 1008)!.reason, 'message rate limit exceeded');
  assert.ok(lines.some((l) => l.event === 'rate_limited'), 'a rate_limited line');
  const slowLine = lines.find((l) => l.event === 'slow_consumer_dropped');
  assert.ok(slowLine, 'a slow_consumer_dropped line');
  assert.is(slowLine!.closeCode, 1008);
  assert.ok(lines.some((l) => l.event === 'dead_peer_dropped'), 'a dead_peer_dropped line');

  // The privacy promise: not a fragment of the room key or of any message, in any line.
  const everything = h.logs.join('\n');
  for (const fragment of SECRET_FRAGMENTS) {
    for (const form of new Set([fragment, fragment.toLowerCase(), encodeURIComponent(fragment), Buffer.from(fragment).toString('base64')])) {
      const leak = h.logs.find((line) => line.includes(form));
      assert.is(leak, undefined, `"${form}" is logged: ${leak}`);
    }
  }
  assert.ok(everything.length > 0 && lines.length > 40, `the session was logged (${lines.length} lines)`);
});

test('LOG_LEVEL filters: warn keeps warnings (caps, rate limits) and drops info; the ready line always shows', async () => {
  h = await startHardened({ logLevel: 'warn', maxConnectionsPerAddress: 1, messagesPerSecond: 5, messageBurst: 5 });
  const { port } = h;
  const first = await RawPeer.join(port, SECRET_ROOM, 'first');
  const { peer: second, response } = await RawPeer.handshake(port, { path: roomPath(SECRET_ROOM, 'second') });
  assert.is(response.status, 503);
  second.destroy();
  first.write(Buffer.concat(Array.from({ length: 20 }, () => clientFrame(OP.text, SECRET_TEXT))));
  assert.is((await first.expectClose()).code, 1008);
  first.destroy();
  await until(() => h!.logs.some((l) => l.includes('"rate_limited"')), 'the rate_limited line');
  const lines = parsed(h.logs);
  assert.equal(lines.map((l) => l.event).sort(), ['rate_limited', 'ready', 'refused']);
  assert.ok(lines.every((l) => l.level === 'warn' || l.event === 'ready'));
  assert.match(lines.find((l) => l.event === 'ready')!.msg as string, /^listening on ws:\/\/127\.0\.0\.1:\d+$/);
  for (const fragment of SECRET_FRAGMENTS) assert.not.ok(h.logs.some((l) => l.includes(fragment)), `"${fragment}" is not logged`);
});

test.run();
