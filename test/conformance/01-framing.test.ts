// Autobahn category 1, framing: text and binary messages at every length-encoding
// boundary (7-bit, 16-bit, 64-bit), sent whole and chopped, echoed exactly.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OP, RawClient, binary, frame, text } from '../helpers/raw-client';
import { asciiPayload, assertFrame, assertStillServing, binaryPayload, expectMessage, useServer } from './support';

const server = useServer(test);

const LENGTHS = [0, 125, 126, 127, 128, 65535, 65536];
const kinds = [
  { name: 'text', opcode: OP.text, payload: asciiPayload },
  { name: 'binary', opcode: OP.binary, payload: binaryPayload },
] as const;

/** Header bytes one at a time with a pause between, payload in 1-byte chops too (997-byte ones above 128 bytes). */
async function sendChopped(client: RawClient, bytes: Buffer, payloadLength: number): Promise<void> {
  const headerLength = bytes.length - payloadLength;
  await client.sendAll(bytes.subarray(0, headerLength), { chunkSize: 1, delayMs: 1 });
  const payloadChunk = payloadLength <= 128 ? 1 : 997;
  await client.sendAll(bytes.subarray(headerLength), { chunkSize: payloadChunk, delayMs: payloadChunk === 1 ? 1 : 0 });
}

for (const kind of kinds) {
  for (const length of LENGTHS) {
    test(`1.x ${kind.name} message of ${length} bytes, sent whole, is echoed`, async () => {
      const client = await RawClient.echo(server.port);
      const payload = kind.payload(length);
      client.send(frame({ opcode: kind.opcode, payload }));
      assertFrame(await client.frame(), kind.opcode, payload, 'echo');
      await client.closeCleanly();
    });

    test(`1.x ${kind.name} message of ${length} bytes, sent in chops, is echoed`, async () => {
      const client = await RawClient.echo(server.port);
      const payload = kind.payload(length);
      await sendChopped(client, frame({ opcode: kind.opcode, payload }), length);
      assertFrame(await client.frame(), kind.opcode, payload, 'echo');
      await client.closeCleanly();
    });
  }
}

test('1.x the 64-bit length form carries a 65536-byte binary message whose length bytes are all used', async () => {
  // 0x0000000000010000: bytes 2-7 of the length are zero, only byte 7 of 8 counts.
  const client = await RawClient.echo(server.port);
  const payload = binaryPayload(65536);
  const bytes = binary(payload);
  assert.is(bytes[1]! & 0x7f, 127, 'the client used the 64-bit form');
  client.send(bytes);
  assertFrame(await client.frame(), OP.binary, payload);
  await client.closeCleanly();
});

test('1.x several messages in one TCP write are each echoed, in order', async () => {
  const client = await RawClient.echo(server.port);
  const payloads = [asciiPayload(5), asciiPayload(200, 3), asciiPayload(0), asciiPayload(70000, 7)];
  client.send(Buffer.concat(payloads.map((p, i) => (i % 2 === 0 ? text(p) : binary(p)))));
  for (const [i, p] of payloads.entries()) assertFrame(await client.frame(), i % 2 === 0 ? OP.text : OP.binary, p, `echo ${i + 1}`);
  await client.closeCleanly();
});

test('1.x a frame split at every byte boundary of the next frame still parses (two frames in 1-byte chops)', async () => {
  const client = await RawClient.echo(server.port);
  await client.sendAll(Buffer.concat([text('first'), binary(Buffer.from([0, 1, 2, 255]))]), { chunkSize: 1, delayMs: 1 });
  assertFrame(await client.frame(), OP.text, 'first');
  assertFrame(await client.frame(), OP.binary, Buffer.from([0, 1, 2, 255]));
  await client.closeCleanly();
});

test('1.x the echo of a whole message is a single frame with the same opcode', async () => {
  const client = await RawClient.echo(server.port);
  client.send(text('one frame'));
  const echoed = await client.message();
  assert.is(echoed.frames, 1);
  assert.is(echoed.payload.toString(), 'one frame');
  await client.closeCleanly();
});

test('1.x a masked payload with mask 00000000 is the plain payload', async () => {
  const client = await RawClient.echo(server.port);
  client.send(text('zero mask', { mask: Buffer.alloc(4) }));
  await expectMessage(client, OP.text, 'zero mask');
  await client.closeCleanly();
});

test('the server keeps serving after category 1', async () => {
  await assertStillServing(server);
});

test.run();
