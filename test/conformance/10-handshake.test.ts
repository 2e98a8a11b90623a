// The opening handshake over a real socket (RFC 6455 section 4.2, CONTRACT.md
// "Joining a room"): every refusal is an HTTP status with a one-line plain-text
// reason and no upgrade; subprotocol selection; requests that arrive one byte at
// a time or together with the first frame; header size and time limits.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OP, RawClient, close, expectedAccept, handshakeRequest, text, type HandshakeOptions, type HttpAnswer } from '../helpers/raw-client';
import { startTestServer, type TestServer } from '../helpers/test-server';
import { assertFrame, assertStillServing, expectMessage, useServer } from './support';

const server = useServer(test);

/** The refusal CONTRACT.md promises: this status, a one-line text/plain reason, Connection: close, no upgrade, then the end. */
async function expectRefusal(options: HandshakeOptions, status: number, reasonPattern?: RegExp): Promise<HttpAnswer> {
  const { client, response } = await RawClient.open(server.port, options);
  assert.is(response.status, status, `${response.statusLine}: ${response.body.toString('utf8').trim()}`);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain/, 'plain-text reason');
  const body = response.body.toString('utf8');
  assert.ok(body.trim().length > 0, 'a reason is given');
  assert.not.ok(body.trim().includes('\n'), `one line: ${JSON.stringify(body)}`);
  if (reasonPattern) assert.match(body, reasonPattern);
  assert.is(response.headers.get('connection')?.toLowerCase(), 'close');
  assert.not.ok(response.headers.has('sec-websocket-accept'), 'no upgrade');
  await client.waitForEnd();
  client.destroy();
  return response;
}

const join = (room: string, name: string) => `/?room=${room}&name=${name}`;

// --- room and name

const BAD_JOINS: Array<[string, string]> = [
  ['no query at all', '/'],
  ['missing room', '/?name=ada'],
  ['empty room', join('', 'ada')],
  ['room with a space', join('a%20b', 'ada')],
  ['room with a slash', join('a/b', 'ada')],
  ['room with a non-ASCII letter', join('caf%C3%A9', 'ada')],
  ['room of 129 characters', join('r'.repeat(129), 'ada')],
  ['missing name', '/?room=lobby'],
  ['empty name', join('lobby', '')],
  ['name of 65 characters', join('lobby', 'n'.repeat(65))],
  ['name with NUL', join('lobby', 'a%00b')],
  ['name with a newline', join('lobby', 'a%0Ab')],
  ['name with DEL', join('lobby', 'a%7Fb')],
  ['name with malformed percent-encoding', join('lobby', 'a%ZZ')],
  ['name that is not UTF-8', join('lobby', '%FF%FE')],
];

for (const [why, path] of BAD_JOINS) {
  test(`refused with 400: ${why}`, async () => {
    await expectRefusal({ path }, 400);
  });
}

test('accepted: a room of 128 characters from the whole allowed alphabet, a 64-character name', async () => {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.~';
  const room = (alphabet + alphabet).slice(0, 128);
  const client = await RawClient.upgrade(server.port, { path: join(room, 'n'.repeat(64)) });
  assert.is(server.ts.server.registry.get(room)?.owner, 'n'.repeat(64));
  await client.closeCleanly();
});

test('accepted: a name of 64 emoji (64 characters, 256 bytes) and one with spaces and accents', async () => {
  const emoji = await RawClient.upgrade(server.port, { path: join('names', encodeURIComponent('😀'.repeat(64))) });
  const spaced = await RawClient.upgrade(server.port, { path: join('names', 'Ada%20Lovelace-%C3%A9') });
  await emoji.closeCleanly();
  await spaced.closeCleanly();
});

// --- the request itself

test('refused with 400: a POST with every WebSocket header', async () => {
  await expectRefusal({ method: 'POST', path: join('lobby', 'ada') }, 400, /GET/);
});

test('refused with 400: PUT to /echo', async () => {
  await expectRefusal({ method: 'PUT', path: '/echo' }, 400);
});

test('refused with 400: HTTP/1.0', async () => {
  await expectRefusal({ httpVersion: '1.0', path: join('lobby', 'ada') }, 400);
});

test('refused with 400: missing Host', async () => {
  await expectRefusal({ headers: { Host: null } }, 400);
});

test('refused with 400: Upgrade is not websocket', async () => {
  await expectRefusal({ headers: { Upgrade: 'h2c' } }, 400);
});

test('refused with 400: Connection does not include Upgrade', async () => {
  await expectRefusal({ headers: { Connection: 'keep-alive' } }, 400);
});

test('refused with 400: missing Sec-WebSocket-Key', async () => {
  await expectRefusal({ key: null, path: join('lobby', 'ada') }, 400, /Sec-WebSocket-Key/);
});

const BAD_KEYS: Array<[string, string]> = [
  ['not base64', 'this is not base64!!!!=='],
  ['base64 of 15 bytes', Buffer.alloc(15, 7).toString('base64')],
  ['base64 of 17 bytes', Buffer.alloc(17, 7).toString('base64')],
  ['too short', 'abc'],
];
for (const [why, key] of BAD_KEYS) {
  test(`refused with 400: malformed Sec-WebSocket-Key (${why})`, async () => {
    await expectRefusal({ key, path: join('lobby', 'ada') }, 400, /Sec-WebSocket-Key/);
  });
}

for (const version of ['12', '8', '14']) {
  test(`refused with 426 and Sec-WebSocket-Version: 13: version ${version}`, async () => {
    const response = await expectRefusal({ version, path: join('lobby', 'ada') }, 426);
    assert.is(response.headers.get('sec-websocket-version'), '13');
  });
}

test('refused: no room is created by a refused join', async () => {
  await expectRefusal({ version: '12', path: join('never-created', 'ada') }, 426);
  await expectRefusal({ method: 'POST', path: join('never-created', 'ada') }, 400);
  assert.is(server.ts.server.registry.get('never-created'), undefined);
});

// --- the 101

test('101: the RFC sample key gets the RFC sample accept value', async () => {
  const { client, response } = await RawClient.open(server.port, { key: 'dGhlIHNhbXBsZSBub25jZQ==' });
  assert.is(response.status, 101);
  assert.is(response.headers.get('sec-websocket-accept'), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  assert.is(response.headers.get('upgrade')?.toLowerCase(), 'websocket');
  assert.match(response.headers.get('connection') ?? '', /upgrade/i);
  assert.not.ok(response.headers.has('sec-websocket-protocol'));
  assert.not.ok(response.headers.has('sec-websocket-extensions'), 'no extension was negotiated');
  await client.closeCleanly();
});

test('101: header names and tokens are case-insensitive, Connection may list other tokens', async () => {
  const key = 'AAAAAAAAAAAAAAAAAAAAAA==';
  const { client, response } = await RawClient.open(server.port, {
    key: null,
    version: null,
    headers: { Upgrade: null, Connection: null, 'sec-websocket-key': key, 'SEC-WEBSOCKET-VERSION': '13', upgrade: 'WebSocket', connection: 'keep-alive, Upgrade' },
  });
  assert.is(response.status, 101, response.body.toString());
  assert.is(response.headers.get('sec-websocket-accept'), expectedAccept(key));
  await client.closeCleanly();
});

test('subprotocol: rooms.v1.json is selected and the first frame is the welcome', async () => {
  const { client, response } = await RawClient.open(server.port, { path: join('proto', 'ada'), protocol: 'rooms.v1.json' });
  assert.is(response.status, 101);
  assert.is(response.headers.get('sec-websocket-protocol'), 'rooms.v1.json');
  const welcome = await client.frame();
  assert.is(welcome.opcode, OP.text);
  const body = JSON.parse(welcome.payload.toString('utf8')) as Record<string, unknown>;
  assert.equal(body, { type: 'welcome', room: 'proto', you: 'ada', members: ['ada'], epoch: body.epoch, seq: 0 });
  await client.closeCleanly();
});

test('subprotocol: rooms.v1.json is selected from a list of offers', async () => {
  const { client, response } = await RawClient.open(server.port, { path: join('proto2', 'ada'), protocol: 'chat, rooms.v1.json, superchat' });
  assert.is(response.headers.get('sec-websocket-protocol'), 'rooms.v1.json');
  await client.closeCleanly();
});

test('subprotocol: other offers get no protocol header, and raw mode', async () => {
  const { client, response } = await RawClient.open(server.port, { path: join('proto3', 'ada'), protocol: 'chat, superchat' });
  assert.is(response.status, 101);
  assert.not.ok(response.headers.has('sec-websocket-protocol'));
  const other = await RawClient.room(server.port, 'proto3', 'bob');
  other.send(text('raw hello'));
  await expectMessage(client, OP.text, 'raw hello', 'a raw member gets bare text, no welcome before it');
  await client.closeCleanly();
  await other.closeCleanly();
});

test('a request arriving one byte at a time is answered with 101 and the connection works', async () => {
  const client = await RawClient.connect(server.port);
  const { bytes, key } = handshakeRequest(server.port, { path: '/echo' });
  await client.sendAll(bytes, { chunkSize: 1, delayMs: 1 });
  const response = await client.readResponse();
  assert.is(response.status, 101);
  assert.is(response.headers.get('sec-websocket-accept'), expectedAccept(key!));
  client.send(text('after a slow handshake'));
  assertFrame(await client.frame(), OP.text, 'after a slow handshake');
  await client.closeCleanly();
});

test('request and first frames in one packet (echo): the frames are handled after the 101', async () => {
  const client = await RawClient.connect(server.port);
  const { bytes } = handshakeRequest(server.port, { path: '/echo' });
  client.send(Buffer.concat([bytes, text('early bird'), text('second'), close(1000)]));
  const response = await client.readResponse();
  assert.is(response.status, 101);
  assertFrame(await client.frame(), OP.text, 'early bird');
  assertFrame(await client.frame(), OP.text, 'second');
  await client.expectClose(1000);
  await client.waitForEnd();
});

test('request and first frame in one packet (room): the other member receives it', async () => {
  const listener = await RawClient.room(server.port, 'early', 'listener');
  const client = await RawClient.connect(server.port);
  const { bytes } = handshakeRequest(server.port, { path: join('early', 'speaker') });
  client.send(Buffer.concat([bytes, text('sent with the handshake')]));
  assert.is((await client.readResponse()).status, 101);
  await expectMessage(listener, OP.text, 'sent with the handshake');
  await client.closeCleanly();
  await listener.closeCleanly();
});

test('request and a bad first frame in one packet: 101, then the failure', async () => {
  const client = await RawClient.connect(server.port);
  const { bytes } = handshakeRequest(server.port, { path: '/echo' });
  client.send(Buffer.concat([bytes, text('unmasked', { mask: false })]));
  assert.is((await client.readResponse()).status, 101);
  await client.expectClose(1002);
  await client.waitForEnd();
});

test('request, a frame and a close in one write, then FIN, to an existing room: 101, relayed, close echoed', async () => {
  const listener = await RawClient.room(server.port, 'half-close-existing', 'listener');
  const client = await RawClient.connect(server.port);
  const { bytes } = handshakeRequest(server.port, { path: join('half-close-existing', 'speaker') });
  client.socket.end(Buffer.concat([bytes, text('said and gone'), close(1000)]));
  assert.is((await client.readResponse()).status, 101);
  await client.expectClose(1000);
  await expectMessage(listener, OP.text, 'said and gone');
  await listener.closeCleanly();
});

test('request, a frame and a close in one write, then FIN, to a NEW room: 101 and the close echoed, as on /echo', async () => {
  // The same bytes to /echo, or to a room that exists, are answered (see above). A join that
  // creates the room waits for the store, and the client's FIN during that wait must not lose the request.
  const client = await RawClient.connect(server.port);
  const { bytes } = handshakeRequest(server.port, { path: join('half-close-new', 'speaker') });
  client.socket.end(Buffer.concat([bytes, text('said and gone'), close(1000)]));
  const response = await client.readResponse();
  assert.is(response.status, 101);
  await client.expectClose(1000);
  assert.is(server.ts.server.registry.get('half-close-new')?.owner, 'speaker', 'the room was created with its owner');
});

// --- limits on the request head

test('a request head over MAX_HEADER_BYTES (8 KiB) is refused with 431', async () => {
  await expectRefusal({ headers: { 'X-Padding': 'p'.repeat(9000) } }, 431);
});

test('an endless request head is refused with 431 once it passes the limit, without waiting for its end', async () => {
  const client = await RawClient.connect(server.port);
  client.send(Buffer.from(`GET /echo HTTP/1.1\r\nHost: x\r\nX-Padding: ${'p'.repeat(9000)}`));
  const response = await client.readResponse();
  assert.is(response.status, 431);
  await client.waitForEnd();
});

test('garbage instead of HTTP (a TLS ClientHello) is refused with 400', async () => {
  const client = await RawClient.connect(server.port);
  client.send(Buffer.from('160301020001000100fc0303' + '00'.repeat(40) + '0d0a0d0a', 'hex'));
  const response = await client.readResponse();
  assert.is(response.status, 400);
  await client.waitForEnd();
});

let slow: TestServer | null = null;

test('header timeout: a request head not finished in time gets 408, then the connection ends', async () => {
  slow = await startTestServer({ headerTimeoutMs: 150 });
  const client = await RawClient.connect(slow.port);
  client.send(Buffer.from('GET /echo HTTP/1.1\r\nHost: x\r\n'));
  const response = await client.readResponse(3000);
  assert.is(response.status, 408);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
  await client.waitForEnd();
});

test('header timeout: a connection that sends nothing gets 408, then the connection ends', async () => {
  assert.ok(slow);
  const client = await RawClient.connect(slow.port);
  const response = await client.readResponse(3000);
  assert.is(response.status, 408);
  await client.waitForEnd();
  // The timeout only bounds the head: an upgraded connection outlives it.
  const ws = await RawClient.echo(slow.port);
  await new Promise((resolve) => setTimeout(resolve, 300));
  ws.send(text('past the header timeout'));
  assertFrame(await ws.frame(), OP.text, 'past the header timeout');
  await ws.closeCleanly();
  await slow.stop();
  slow = null;
});

test('the server keeps serving after every bad handshake', async () => {
  await assertStillServing(server);
});

test.after(async () => {
  await slow?.stop();
});

test.run();
