// Autobahn category 3, reserved bits (RFC 6455 section 5.2): no extension is
// negotiated, so a frame with RSV1, RSV2 or RSV3 set fails the connection with
// 1002, and what came before it in the same stream is still echoed first.

import { test } from 'uvu';
import { OP, RSV, binary, closeBody, frame, ping, text } from '../helpers/raw-client';
import { assertStillServing, expectFailure, useServer } from './support';

const server = useServer(test);

test('3.1 text with RSV1 fails with 1002', async () => {
  await expectFailure(server.port, text('Hello, world!', { rsv: RSV.rsv1 }), 1002);
});

test('3.2 text, then text with RSV2: the first is echoed, then 1002', async () => {
  await expectFailure(server.port, [text('Hello, world!'), text('Hello, world!', { rsv: RSV.rsv2 })], 1002, { before: [[OP.text, 'Hello, world!']] });
});

test('3.3 text, text with RSV1|RSV2, ping, frame by frame: echo, then 1002, and no pong', async () => {
  await expectFailure(server.port, [text('Hello, world!'), text('Hello, world!', { rsv: RSV.rsv1 | RSV.rsv2 }), ping()], 1002, {
    before: [[OP.text, 'Hello, world!']],
  });
});

test('3.4 the same in 1-byte chops with RSV3: echo, then 1002, and no pong', async () => {
  await expectFailure(server.port, [text('Hello, world!'), text('Hello, world!', { rsv: RSV.rsv3 }), ping()], 1002, {
    before: [[OP.text, 'Hello, world!']],
    chunkSize: 1,
  });
});

test('3.5 binary with RSV1|RSV3 fails with 1002', async () => {
  await expectFailure(server.port, binary(Buffer.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]), { rsv: RSV.rsv1 | RSV.rsv3 }), 1002);
});

test('3.6 ping with RSV2|RSV3 fails with 1002 (no pong)', async () => {
  await expectFailure(server.port, ping('Hello, world!', { rsv: RSV.rsv2 | RSV.rsv3 }), 1002);
});

test('3.7 close with all three RSV bits fails with 1002 (not echoed as a normal close)', async () => {
  await expectFailure(server.port, frame({ opcode: OP.close, payload: closeBody(1000), rsv: RSV.rsv1 | RSV.rsv2 | RSV.rsv3 }), 1002);
});

for (const rsv of [1, 2, 3, 4, 5, 6, 7]) {
  test(`3.x RSV bits ${rsv.toString(2).padStart(3, '0')} on a continuation frame fail with 1002 after nothing is echoed`, async () => {
    await expectFailure(server.port, [text('part 1 ', { fin: false }), frame({ opcode: OP.continuation, payload: 'part 2', rsv })], 1002);
  });
}

test('the server keeps serving after category 3', async () => {
  await assertStillServing(server);
});

test.run();
