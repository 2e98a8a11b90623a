// Large messages over real sockets (issue 15): a payload relayed as header +
// payload, and batches sent as soon as they are large, must still reach every
// receiver byte for byte, one frame per message, in the sender's order, with
// small messages from the same read in between.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OP, RawClient, binary, destroyAllClients, text } from '../helpers/raw-client';
import { startTestServer, type TestServer } from '../helpers/test-server';

let ts: TestServer;

test.before(async () => {
  ts = await startTestServer();
});
test.after.each(() => destroyAllClients());
test.after(async () => {
  destroyAllClients();
  await ts.stop();
});

const join = (room: string, name: string, protocol?: string) => RawClient.room(ts.port, room, name, protocol === undefined ? {} : { protocol });

function pattern(length: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) b[i] = (i * 7 + seed * 13 + (i >> 8)) & 0xff;
  return b;
}

test('large and small messages sent in one write arrive in order, byte for byte, one frame each', async () => {
  const ada = await join('large-order', 'ada');
  const bob = await join('large-order', 'bob');
  const cy = await join('large-order', 'cy');
  const messages: Array<{ opcode: number; payload: Buffer }> = [
    { opcode: OP.binary, payload: pattern(256 * 1024, 1) },
    { opcode: OP.text, payload: Buffer.from('small after large') },
    { opcode: OP.binary, payload: pattern(16 * 1024, 2) }, // exactly the size from which parts are used
    { opcode: OP.binary, payload: pattern(16 * 1024 - 1, 3) },
    { opcode: OP.binary, payload: pattern(70_000, 4) },
    { opcode: OP.binary, payload: pattern(300_000, 5) },
    { opcode: OP.text, payload: Buffer.from('last') },
  ];
  // One write: the server reads it in several chunks and relays as frames complete.
  ada.send(Buffer.concat(messages.map((m) => (m.opcode === OP.text ? text(m.payload) : binary(m.payload)))));
  for (const receiver of [bob, cy]) {
    for (const [i, m] of messages.entries()) {
      const got = await receiver.message(5000);
      assert.is(got.opcode, m.opcode, `message ${i}: opcode`);
      assert.is(got.frames, 1, `message ${i}: one frame`);
      assert.is(got.payload.length, m.payload.length, `message ${i}: length`);
      assert.ok(got.payload.equals(m.payload), `message ${i}: bytes`);
    }
  }
});

test('two senders of large messages at once: each sender\'s order kept, a JSON member gets them as base64', async () => {
  const ada = await join('large-two', 'ada');
  const bob = await join('large-two', 'bob');
  const cy = await join('large-two', 'cy');
  const js = await join('large-two', 'js', 'rooms.v1.json');
  await js.message(); // welcome
  const count = 6;
  for (let k = 0; k < count; k++) {
    ada.send(binary(pattern(100_000 + k, 10 + k)));
    bob.send(binary(pattern(90_000 + k, 20 + k)));
  }
  const next = { ada: 0, bob: 0 };
  for (let n = 0; n < 2 * count; n++) {
    const got = await cy.message(5000);
    const who = got.payload.length >= 100_000 ? 'ada' : 'bob';
    const k = next[who]++;
    const expected = who === 'ada' ? pattern(100_000 + k, 10 + k) : pattern(90_000 + k, 20 + k);
    assert.ok(got.payload.equals(expected), `cy: ${who}'s message ${k} in order and intact`);
  }
  const seen = { ada: 0, bob: 0 };
  while (seen.ada + seen.bob < 2 * count) {
    const frame = JSON.parse((await js.message(5000)).payload.toString('utf8')) as { type: string; from?: string; text?: string; encoding?: string };
    if (frame.type !== 'message') continue;
    const who = frame.from === 'ada' ? 'ada' : 'bob';
    const k = seen[who]++;
    const expected = who === 'ada' ? pattern(100_000 + k, 10 + k) : pattern(90_000 + k, 20 + k);
    assert.is(frame.encoding, 'base64');
    assert.ok(Buffer.from(frame.text ?? '', 'base64').equals(expected), `json: ${who}'s message ${k}`);
  }
});

test.run();
