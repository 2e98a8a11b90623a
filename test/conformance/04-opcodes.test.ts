// Autobahn category 4, opcodes (RFC 6455 section 5.2): non-control opcodes 3-7
// and control opcodes B-F are reserved; a frame using one fails the connection
// with 1002, after the valid message before it is echoed, and nothing after it
// (here a ping) is answered.

import { test } from 'uvu';
import { OP, frame, ping, text } from '../helpers/raw-client';
import { assertStillServing, expectFailure, useServer } from './support';

const server = useServer(test);

const RESERVED = [0x3, 0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xd, 0xe, 0xf];

for (const opcode of RESERVED) {
  const hex = opcode.toString(16).toUpperCase();
  test(`4.x reserved opcode ${hex} without payload fails with 1002`, async () => {
    await expectFailure(server.port, frame({ opcode }), 1002);
  });

  test(`4.x text, reserved opcode ${hex} with payload, ping: the text is echoed, then 1002, no pong`, async () => {
    await expectFailure(server.port, [text('Hello, world!'), frame({ opcode, payload: 'reserved payload' }), ping('Hello, world!')], 1002, {
      before: [[OP.text, 'Hello, world!']],
    });
  });

  test(`4.x reserved opcode ${hex} after a valid message, in 1-byte chops: echo, then 1002`, async () => {
    await expectFailure(server.port, [text('Hello, world!'), frame({ opcode, payload: 'reserved payload' })], 1002, {
      before: [[OP.text, 'Hello, world!']],
      chunkSize: 1,
      delayMs: 0,
    });
  });
}

test('4.x reserved opcode inside a fragmented message fails with 1002', async () => {
  await expectFailure(server.port, [text('fragment 1', { fin: false }), frame({ opcode: 0x3, fin: true, payload: 'x' })], 1002);
});

test('the server keeps serving after category 4', async () => {
  await assertStillServing(server);
});

test.run();
