// Robustness: deterministic pseudo-random garbage, frames with random headers,
// and mutated handshakes. Whatever arrives, each connection gets a well-formed
// answer (frames, a close with a code that may be sent, an HTTP status), and the
// server keeps serving everyone else. The seed is fixed, so a failure repeats.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OP, RawClient, frame, handshakeRequest } from '../helpers/raw-client';
import { assertStillServing, useServer } from './support';

const server = useServer(test, { maxMessageBytes: 4096, headerTimeoutMs: 2000 });

/** mulberry32: a tiny seeded generator, so every run sends the same bytes. */
function generator(seed: number): { int(min: number, max: number): number; bytes(n: number): Buffer } {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min));
  return { int, bytes: (n) => Buffer.from(Array.from({ length: n }, () => int(0, 256))) };
}

/** Codes a server may put on the wire (RFC 6455 section 7.4), written out independently of src/. */
const sendable = (code: number) => (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);

test('200 connections of random frames and bytes: well-formed answers, a sendable close code, then the end', async () => {
  const random = generator(6455);
  for (let i = 0; i < 200; i++) {
    const path = i % 2 === 0 ? '/echo' : `/?room=garbage-${i % 5}&name=n${i}`;
    const client = await RawClient.upgrade(server.port, { path });
    const parts: Buffer[] = [];
    for (let k = random.int(1, 6); k > 0; k--) {
      const kind = random.int(0, 4);
      if (kind === 0) {
        parts.push(random.bytes(random.int(1, 40)));
      } else {
        parts.push(
          frame({
            opcode: random.int(0, 16),
            fin: random.int(0, 2) === 1,
            rsv: random.int(0, 8) === 0 ? random.int(0, 8) : 0,
            payload: random.bytes(random.int(0, kind === 3 ? 5000 : 130)),
            mask: random.int(0, 10) === 0 ? false : random.bytes(4),
          }),
        );
      }
    }
    const bytes = Buffer.concat(parts);
    if (i % 3 === 0) await client.sendAll(bytes, { chunkSize: random.int(1, 50), delayMs: 0 });
    else client.send(bytes);
    client.socket.end(); // our FIN: the server must end too, whatever state it is in
    let closes = 0;
    for (;;) {
      const next = await client.nextFrame(3000);
      if (next === null) break;
      assert.not.ok(next.masked, `case ${i}: server frames are unmasked`);
      assert.is(next.rsv, 0, `case ${i}: no RSV bits`);
      assert.ok([OP.text, OP.binary, OP.close, OP.ping, OP.pong].includes(next.opcode as 1), `case ${i}: known opcode ${next.opcode}`);
      if (next.opcode === OP.close) {
        closes++;
        assert.is(closes, 1, `case ${i}: one close frame at most`);
        if (next.payload.length > 0) assert.ok(sendable(next.payload.readUInt16BE(0)), `case ${i}: close code ${next.payload.readUInt16BE(0)} may be sent`);
      } else {
        assert.is(closes, 0, `case ${i}: nothing after the close frame`);
      }
    }
    client.destroy();
  }
  await assertStillServing(server);
});

test('200 mutated handshakes: each gets an HTTP status the contract names, and nothing hangs', async () => {
  const random = generator(2616);
  // A mutation can also turn the upgrade into a plain request for the page (200) or another method (405).
  const allowed = new Set([101, 200, 400, 403, 404, 405, 408, 426, 431, 505]);
  for (let i = 0; i < 200; i++) {
    let request = handshakeRequest(server.port, { path: i % 2 === 0 ? '/echo' : `/?room=mutant-${i % 5}&name=n` }).bytes;
    const mode = random.int(0, 5);
    if (mode === 0) {
      request = random.bytes(random.int(1, 200));
    } else if (mode === 1) {
      const at = random.int(0, request.length);
      request = Buffer.concat([request.subarray(0, at), random.bytes(random.int(1, 4)), request.subarray(at)]);
    } else if (mode === 2) {
      request = Buffer.from(request);
      request[random.int(0, request.length)] = random.int(0, 256);
    } else if (mode === 3) {
      const at = random.int(0, request.length);
      request = request.subarray(0, at);
    }
    const client = await RawClient.connect(server.port);
    client.send(Buffer.concat([request, Buffer.from('\r\n\r\n')]));
    const response = await client.readResponse(5000);
    assert.ok(allowed.has(response.status), `case ${i}: status ${response.statusLine}`);
    if (response.status !== 101) {
      assert.is(response.headers.get('connection')?.toLowerCase(), 'close', `case ${i}: Connection: close`);
      await client.waitForEnd(5000);
    }
    client.destroy();
  }
  await assertStillServing(server);
});

test.run();
