// Limits (Autobahn category 9's territory, and RFC 6455 sections 5.1-5.2 and
// 10.4): a message of exactly MAX_MESSAGE_BYTES is accepted, one byte more fails
// with 1009 as soon as the header says so (also for an absurd 64-bit length, and
// summed over fragments); a 64-bit length with its top bit set and an unmasked
// client frame are protocol errors (1002).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OP, RawClient, binary, cont, frame, ping, text } from '../helpers/raw-client';
import { startTestServer, type TestServer } from '../helpers/test-server';
import { assertFrame, assertStillServing, binaryPayload, expectFailure, expectMessage, useServer } from './support';

// The default limit, as shipped: 1 MiB.
const server = useServer(test);
const MAX = 1024 * 1024;

/** Sends only a frame's header (and mask): the server must decide from it alone. */
function headerOnly(opcode: number, declaredLength: bigint | number, fin = true): Buffer {
  return frame({ opcode, declaredLength, fin, payload: Buffer.alloc(0) });
}

test('9.x a binary message of exactly MAX_MESSAGE_BYTES (1 MiB) is echoed', async () => {
  assert.is(server.ts.settings.maxMessageBytes, MAX, 'the default limit is 1 MiB');
  const client = await RawClient.echo(server.port);
  const payload = binaryPayload(MAX);
  client.send(binary(payload));
  assertFrame(await client.frame(5000), OP.binary, payload);
  await client.closeCleanly();
});

test('9.x a text message of exactly MAX_MESSAGE_BYTES, in 16 fragments, is echoed', async () => {
  const client = await RawClient.echo(server.port);
  const payload = Buffer.alloc(MAX, 0x78);
  const step = MAX / 16;
  client.send(Buffer.concat(Array.from({ length: 16 }, (_, i) => (i === 0 ? text(payload.subarray(0, step), { fin: false }) : cont(payload.subarray(i * step, (i + 1) * step), { fin: i === 15 })))));
  await expectMessage(client, OP.text, payload);
  await client.closeCleanly();
});

test('9.x one byte over the limit fails with 1009, from the header alone', async () => {
  const client = await RawClient.echo(server.port);
  client.send(headerOnly(OP.binary, MAX + 1));
  await client.expectClose(1009);
  await client.waitForEnd();
});

test('9.x one byte over the limit, payload and all, fails with 1009 and nothing is echoed', async () => {
  await expectFailure(server.port, text(Buffer.alloc(MAX + 1, 0x61)), 1009);
});

test('9.x a 64-bit length of 2^62 fails with 1009', async () => {
  const client = await RawClient.echo(server.port);
  client.send(headerOnly(OP.binary, 2n ** 62n));
  await client.expectClose(1009);
  await client.waitForEnd();
});

test('9.x a 64-bit length of 2^53 + 1 (past exact JS numbers) fails with 1009', async () => {
  const client = await RawClient.echo(server.port);
  client.send(headerOnly(OP.text, 2n ** 53n + 1n));
  await client.expectClose(1009);
  await client.waitForEnd();
});

test('9.x a 64-bit length with the most significant bit set fails with 1002', async () => {
  const client = await RawClient.echo(server.port);
  client.send(headerOnly(OP.binary, 2n ** 63n + 5n));
  await client.expectClose(1002);
  await client.waitForEnd();
});

test('9.x a 64-bit length of 2^64 - 1 (all ones) fails with 1002', async () => {
  const client = await RawClient.echo(server.port);
  client.send(headerOnly(OP.binary, 2n ** 64n - 1n));
  await client.expectClose(1002);
  await client.waitForEnd();
});

test('9.x a fragmented message summing over the limit fails with 1009 at the fragment that passes it', async () => {
  const client = await RawClient.echo(server.port);
  const half = Buffer.alloc(MAX / 2, 0x62);
  client.send(binary(half, { fin: false }));
  client.send(cont(half, { fin: false })); // exactly MAX so far: still fine
  client.send(ping('still open?'));
  assertFrame(await client.frame(5000), OP.pong, 'still open?', 'MAX bytes in fragments is still within the limit');
  client.send(headerOnly(OP.continuation, 1, true)); // one more byte declared
  await client.expectClose(1009);
  await client.waitForEnd();
});

test('9.x many fragments, each small, summing over the limit fail with 1009', async () => {
  const piece = Buffer.alloc(65536, 0x63);
  const frames = [binary(piece, { fin: false })];
  for (let i = 1; i < 16; i++) frames.push(cont(piece, { fin: false }));
  frames.push(cont(Buffer.from('x'))); // 16 * 64 KiB + 1
  await expectFailure(server.port, frames, 1009);
});

test('9.x an unmasked client text frame fails with 1002', async () => {
  await expectFailure(server.port, text('Hello, world!', { mask: false }), 1002);
});

test('9.x an unmasked client frame after a valid one: the valid one is echoed, then 1002', async () => {
  await expectFailure(server.port, [text('masked'), binary('unmasked', { mask: false })], 1002, { before: [[OP.text, 'masked']] });
});

test('9.x an unmasked ping and an unmasked close fail with 1002', async () => {
  await expectFailure(server.port, ping('x', { mask: false }), 1002);
  await expectFailure(server.port, frame({ opcode: OP.close, payload: Buffer.from([0x03, 0xe8]), mask: false }), 1002);
});

test('the server keeps serving after the limits', async () => {
  await assertStillServing(server);
});

// MAX_MESSAGE_BYTES is a setting: a small one is enforced the same way.
let small: TestServer | null = null;

test('9.x with MAX_MESSAGE_BYTES=1000: 1000 bytes echoed, 1001 bytes fail with 1009, also in fragments', async () => {
  small = await startTestServer({ maxMessageBytes: 1000 });
  const client = await RawClient.echo(small.port);
  client.send(text(Buffer.alloc(1000, 0x61)));
  assertFrame(await client.frame(), OP.text, Buffer.alloc(1000, 0x61));
  client.send(Buffer.concat([text(Buffer.alloc(500, 0x61), { fin: false }), cont(Buffer.alloc(500, 0x62))]));
  await expectMessage(client, OP.text, Buffer.concat([Buffer.alloc(500, 0x61), Buffer.alloc(500, 0x62)]));
  await client.closeCleanly();
  await expectFailure(small.port, text(Buffer.alloc(1001, 0x61)), 1009);
  await expectFailure(small.port, [text(Buffer.alloc(500, 0x61), { fin: false }), cont(Buffer.alloc(501, 0x62))], 1009);
  // Control frames do not count towards the message size.
  const other = await RawClient.echo(small.port);
  other.send(Buffer.concat([text(Buffer.alloc(999, 0x61), { fin: false }), ping(Buffer.alloc(125)), cont('z')]));
  assertFrame(await other.frame(), OP.pong, Buffer.alloc(125));
  await expectMessage(other, OP.text, Buffer.concat([Buffer.alloc(999, 0x61), Buffer.from('z')]));
  await other.closeCleanly();
});

test.after(async () => {
  await small?.stop();
});

test.run();
