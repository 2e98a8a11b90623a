// permessage-deflate over real sockets: ws as a compressing peer with and without
// context takeover, relays between compressing and plain members, fragmented
// compressed messages, and a zip bomb that must end in 1009.
import { connect } from 'node:net';
import { constants, deflateRawSync } from 'node:zlib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { startTestServer, type TestServer } from '../helpers/test-server';
import { clientFrame } from '../frames/bytes';

let t: TestServer;
const open: WebSocket[] = [];

test.before(async () => {
  t = await startTestServer({ maxMessageBytes: 1 << 20 });
});
test.after(async () => {
  for (const ws of open) ws.terminate();
  await t.stop();
});

function join(room: string, name: string, perMessageDeflate: WebSocket.PerMessageDeflateOptions | false): Promise<WebSocket> {
  const ws = new WebSocket(`${t.url}/?room=${room}&name=${name}`, { perMessageDeflate });
  open.push(ws);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function digest(text: string): string {
  return `${text.length}:${text.slice(0, 12)}:${text.slice(-12)}`;
}

function collect(ws: WebSocket, count: number): Promise<string[]> {
  const got: string[] = [];
  return new Promise((resolve) => {
    ws.on('message', (data) => {
      got.push(String(data));
      if (got.length === count) resolve(got);
    });
  });
}

const messages = ['short', 'long message '.repeat(300), 'x', 'é€𝄞 '.repeat(500), 'long message '.repeat(300)];

for (const [label, options] of [
  ['with context takeover', { threshold: 0 }],
  ['without context takeover', { threshold: 0, clientNoContextTakeover: true, serverNoContextTakeover: true }],
] as const) {
  test(`ws ${label}: negotiated, relayed both ways to compressing and plain members`, async () => {
    const room = `deflate-${label.replace(/ /g, '-')}`;
    const a = await join(room, 'a', options);
    const b = await join(room, 'b', options);
    const plain = await join(room, 'plain', false);
    assert.is(a.extensions, 'permessage-deflate');
    assert.is(plain.extensions, '');
    // Digests keep a failure's diff readable.
    const same = (got: string[]) => assert.equal(got.map(digest), messages.map(digest));
    const atB = collect(b, messages.length);
    const atPlain = collect(plain, messages.length);
    for (const m of messages) a.send(m);
    same(await atB);
    same(await atPlain);
    const atA = collect(a, messages.length);
    const atB2 = collect(b, messages.length);
    for (const m of messages) plain.send(m);
    same(await atA);
    same(await atB2);
  });
}

test('a fragmented compressed message (RSV1 on the first frame only) is relayed whole', async () => {
  const receiver = await join('frag', 'r', false);
  const got = collect(receiver, 1);
  const text = 'fragmented and compressed '.repeat(100);
  const body = deflateRawSync(Buffer.from(text), { finishFlush: constants.Z_SYNC_FLUSH });
  const payload = body.subarray(0, body.length - 4);
  const socket = await rawDeflateClient('frag');
  const cut = Math.floor(payload.length / 2);
  socket.write(Buffer.concat([clientFrame({ opcode: 1, fin: false, rsv: 4, payload: payload.subarray(0, cut) }), clientFrame({ opcode: 0, payload: payload.subarray(cut) })]));
  assert.equal(await got, [text]);
  socket.destroy();
});

test('RSV1 on a continuation frame is 1002', async () => {
  const socket = await rawDeflateClient('rsv1-cont');
  socket.write(Buffer.concat([clientFrame({ opcode: 1, fin: false, payload: 'a' }), clientFrame({ opcode: 0, rsv: 4, payload: 'b' })]));
  assert.is(await closeCodeOf(socket), 1002);
});

test('a zip bomb closes with 1009 and memory does not grow with it', async () => {
  const bomb = deflateRawSync(Buffer.alloc(64 << 20), { finishFlush: constants.Z_SYNC_FLUSH }); // 64 MiB of zeros
  const payload = bomb.subarray(0, bomb.length - 4);
  assert.ok(payload.length < 1 << 20, 'the bomb itself is under the message limit');
  const socket = await rawDeflateClient('bomb');
  const before = process.memoryUsage().rss;
  socket.write(clientFrame({ opcode: 2, rsv: 4, payload }));
  assert.is(await closeCodeOf(socket), 1009);
  assert.ok(process.memoryUsage().rss - before < 48 << 20, 'no 64 MiB allocation');
});

test('invalid UTF-8 inside a compressed text message is 1007', async () => {
  const body = deflateRawSync(Buffer.from([0x68, 0x69, 0xff]), { finishFlush: constants.Z_SYNC_FLUSH });
  const socket = await rawDeflateClient('utf8');
  socket.write(clientFrame({ opcode: 1, rsv: 4, payload: body.subarray(0, body.length - 4) }));
  assert.is(await closeCodeOf(socket), 1007);
});

test('DEFLATE=off declines every offer', async () => {
  const off = await startTestServer({ deflate: false });
  try {
    const ws = new WebSocket(`${off.url}/?room=r&name=n`, { perMessageDeflate: { threshold: 0 } });
    open.push(ws);
    await new Promise((resolve) => ws.once('open', resolve));
    assert.is(ws.extensions, '');
    ws.close();
  } finally {
    await off.stop();
  }
});

/** A raw client that offered permessage-deflate and had it accepted. */
async function rawDeflateClient(room: string): Promise<import('node:net').Socket> {
  const socket = connect(t.port, '127.0.0.1');
  socket.write(
    `GET /?room=${room}&name=raw HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n',
  );
  const head = await new Promise<string>((resolve) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (text.includes('\r\n\r\n')) {
        socket.off('data', onData);
        resolve(text);
      }
    };
    socket.on('data', onData);
  });
  assert.match(head, /Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover/);
  return socket;
}

/** Reads until the server's close frame and returns its code. */
function closeCodeOf(socket: import('node:net').Socket): Promise<number> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const timer = setTimeout(() => reject(new Error('no close frame')), 5000);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2) {
        const length = buffered[1]! & 0x7f;
        if (length > 125 || buffered.length < 2 + length) return;
        if ((buffered[0]! & 0x0f) === 8) {
          clearTimeout(timer);
          socket.destroy();
          return resolve(buffered.readUInt16BE(2));
        }
        buffered = buffered.subarray(2 + length);
      }
    });
  });
}

test.run();
