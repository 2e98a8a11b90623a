// Interop with `ws`, the Node ecosystem's own client, as an independent peer:
// text, binary and 1 MiB - 1 byte messages relayed between members and echoed,
// pings, the JSON subprotocol, and clean closes as ws reports them.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { startTestServer, type TestServer } from '../helpers/test-server';

let ts: TestServer;
const open = new Set<WebSocket>();

test.before(async () => {
  ts = await startTestServer();
});
test.after.each(() => {
  for (const ws of open) ws.terminate();
  open.clear();
});
test.after(async () => {
  for (const ws of open) ws.terminate();
  await ts.stop();
});

const inboxes = new WeakMap<WebSocket, Inbox>();

/** Opens a ws client; its inbox listens from the start, so a frame sent with the 101 is not missed. */
function connect(path: string, protocols?: string | string[], url = ts.url): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url}${path}`, protocols);
    open.add(ws);
    inboxes.set(ws, collect(ws));
    ws.once('open', () => {
      ws.off('error', reject);
      resolve(ws);
    });
    ws.once('error', reject);
  });
}

function inbox(ws: WebSocket): Inbox {
  const box = inboxes.get(ws);
  if (!box) throw new Error('not opened with connect()');
  return box;
}

const member = (room: string, name: string, protocols?: string | string[]) => connect(`/?room=${room}&name=${name}`, protocols);

interface Received {
  data: Buffer;
  isBinary: boolean;
}

interface Inbox {
  next(timeoutMs?: number): Promise<Received>;
}

/** Collects messages in order; `next()` resolves with the next one (or rejects after a deadline). */
function collect(ws: WebSocket): Inbox {
  const queue: Received[] = [];
  const waiting: Array<(r: Received) => void> = [];
  ws.on('message', (data, isBinary) => {
    const received = { data: Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data), isBinary };
    const waiter = waiting.shift();
    if (waiter) waiter(received);
    else queue.push(received);
  });
  return {
    next(timeoutMs = 5000) {
      const ready = queue.shift();
      if (ready) return Promise.resolve(ready);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no message within ${timeoutMs} ms`)), timeoutMs);
        waiting.push((r) => {
          clearTimeout(timer);
          resolve(r);
        });
      });
    },
  };
}

function closed(ws: WebSocket, timeoutMs = 5000): Promise<{ code: number; reason: string }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no close within ${timeoutMs} ms`)), timeoutMs);
    ws.once('close', (code, reason) => {
      clearTimeout(timer);
      resolve({ code, reason: reason.toString('utf8') });
    });
  });
}

const ONE_MIB_MINUS_ONE = 1024 * 1024 - 1;

test('echo: text comes back as text', async () => {
  const ws = await connect('/echo');
  const box = inbox(ws);
  ws.send('héllo wörld ✓');
  const echo = await box.next();
  assert.not.ok(echo.isBinary);
  assert.is(echo.data.toString('utf8'), 'héllo wörld ✓');
});

test('echo: binary comes back as binary, byte for byte', async () => {
  const ws = await connect('/echo');
  const box = inbox(ws);
  const payload = Buffer.from(Array.from({ length: 300 }, (_, i) => i & 0xff));
  ws.send(payload);
  const echo = await box.next();
  assert.ok(echo.isBinary);
  assert.ok(echo.data.equals(payload));
});

test('echo: a 1 MiB - 1 byte text and binary message come back whole', async () => {
  const ws = await connect('/echo');
  const box = inbox(ws);
  const textPayload = 'x'.repeat(ONE_MIB_MINUS_ONE);
  ws.send(textPayload);
  const echoedText = await box.next();
  assert.not.ok(echoedText.isBinary);
  assert.is(echoedText.data.length, ONE_MIB_MINUS_ONE);
  assert.ok(echoedText.data.equals(Buffer.from(textPayload)));
  const binaryPayload = Buffer.alloc(ONE_MIB_MINUS_ONE, 0xa5);
  ws.send(binaryPayload);
  const echoedBinary = await box.next();
  assert.ok(echoedBinary.isBinary);
  assert.ok(echoedBinary.data.equals(binaryPayload));
});

test('echo: ws\'s ping gets a pong with the same payload', async () => {
  const ws = await connect('/echo');
  const pong = new Promise<Buffer>((resolve) => ws.once('pong', resolve));
  ws.ping(Buffer.from('are you there'));
  assert.is((await pong).toString(), 'are you there');
});

test('room: text, binary and 1 MiB - 1 bytes relayed between two ws members, not back to the sender', async () => {
  const ada = await member('interop', 'ada');
  const bob = await member('interop', 'bob');
  const adaBox = inbox(ada);
  const bobBox = inbox(bob);
  ada.send('hi bob');
  const hi = await bobBox.next();
  assert.not.ok(hi.isBinary);
  assert.is(hi.data.toString(), 'hi bob');
  ada.send(Buffer.from([1, 2, 3, 0xff]));
  const bin = await bobBox.next();
  assert.ok(bin.isBinary);
  assert.ok(bin.data.equals(Buffer.from([1, 2, 3, 0xff])));
  const big = Buffer.alloc(ONE_MIB_MINUS_ONE);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
  ada.send(big);
  const bigReceived = await bobBox.next();
  assert.ok(bigReceived.isBinary);
  assert.ok(bigReceived.data.equals(big));
  const bigText = 'é'.repeat((ONE_MIB_MINUS_ONE - 1) / 2) + 'z'; // 1 MiB - 1 bytes of UTF-8
  assert.is(Buffer.byteLength(bigText), ONE_MIB_MINUS_ONE);
  bob.send(bigText);
  const bigTextReceived = await adaBox.next();
  assert.not.ok(bigTextReceived.isBinary);
  assert.is(bigTextReceived.data.toString('utf8'), bigText);
  // Nothing came back to its sender: each side's next message is the other's marker.
  bob.send('marker from bob');
  assert.is((await adaBox.next()).data.toString(), 'marker from bob', 'ada: no echo of her own messages before it');
  ada.send('marker from ada');
  assert.is((await bobBox.next()).data.toString(), 'marker from ada', 'bob: no echo of his own message before it');
});

test('room: ws members in JSON mode and in raw mode hear each other', async () => {
  const jay = await member('interop-json', 'jay', 'rooms.v1.json');
  assert.is(jay.protocol, 'rooms.v1.json');
  const jayBox = inbox(jay);
  const { ownerToken, epoch, ...welcome } = JSON.parse((await jayBox.next()).data.toString()) as { ownerToken: unknown; epoch: unknown };
  assert.equal(welcome, { type: 'welcome', room: 'interop-json', you: 'jay', members: ['jay'], protected: false, role: 'owner', seq: 0 });
  assert.type(ownerToken, 'string');
  assert.type(epoch, 'string');
  const rae = await member('interop-json', 'rae');
  assert.is(rae.protocol, '', 'no subprotocol offered, none selected');
  const raeBox = inbox(rae);
  assert.equal(JSON.parse((await jayBox.next()).data.toString()), { type: 'joined', name: 'rae' });
  rae.send('from raw');
  const relayed = JSON.parse((await jayBox.next()).data.toString()) as Record<string, unknown>;
  assert.is(relayed.type, 'message');
  assert.is(relayed.from, 'rae');
  assert.is(relayed.text, 'from raw');
  assert.is(typeof relayed.ts, 'number');
  jay.send(JSON.stringify({ type: 'message', text: 'from json' }));
  const bare = await raeBox.next();
  assert.not.ok(bare.isBinary);
  assert.is(bare.data.toString(), 'from json');
});

test('close: ws closing with 1000 and a reason sees the same code and reason back', async () => {
  const ws = await connect('/echo');
  const done = closed(ws);
  ws.close(1000, 'bye now ✓');
  assert.equal(await done, { code: 1000, reason: 'bye now ✓' });
});

test('close: a room member closing with 4000 sees 4000 back; the other member stays', async () => {
  const ada = await member('interop-close', 'ada');
  const bob = await member('interop-close', 'bob');
  const bobBox = inbox(bob);
  const done = closed(ada);
  ada.close(4000, 'leaving');
  assert.equal(await done, { code: 4000, reason: 'leaving' });
  const cy = await member('interop-close', 'cy');
  cy.send('still a room');
  assert.is((await bobBox.next()).data.toString(), 'still a room');
});

test('close: server shutdown closes ws clients with 1001', async () => {
  const own = await startTestServer();
  try {
    const echo = await connect('/echo', undefined, own.url);
    const roomMember = await connect('/?room=shutdown&name=ada', undefined, own.url);
    const echoClosed = closed(echo);
    const memberClosed = closed(roomMember);
    await own.stop();
    assert.is((await echoClosed).code, 1001);
    assert.is((await memberClosed).code, 1001);
  } finally {
    await own.stop();
  }
});

test('handshake: ws sees the refusal status of a bad join', async () => {
  const status = await new Promise<number>((resolve, reject) => {
    const ws = new WebSocket(`${ts.url}/?room=bad%20room&name=ada`);
    open.add(ws);
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
      ws.terminate();
    });
    ws.once('open', () => reject(new Error('a bad room was accepted')));
    ws.on('error', () => {});
  });
  assert.is(status, 400);
});

test.run();
