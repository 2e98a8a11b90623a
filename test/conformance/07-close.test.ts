// Autobahn category 7, close handling (RFC 6455 sections 5.5.1, 7.1 and 7.4):
// a close frame is echoed with the peer's code; invalid codes and bodies fail
// with 1002 (1007 for a reason that is not UTF-8); nothing after a close is
// handled; the server ends the TCP connection once the handshake is done.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OP, RawClient, close, closeBody, cont, frame, ping, text } from '../helpers/raw-client';
import { startTestServer } from '../helpers/test-server';
import { assertFrame, assertStillServing, expectFailure, useServer } from './support';

const server = useServer(test);

test('7.1.1 text, then close: the text is echoed, then the close, then the TCP connection ends', async () => {
  const client = await RawClient.echo(server.port);
  client.send(Buffer.concat([text('Hello World!'), close(1000)]));
  const result = await client.expectClose(1000);
  assert.is(result.before.length, 1);
  assertFrame(result.before[0]!, OP.text, 'Hello World!');
  await client.waitForEnd();
});

test('7.1.2 two closes: only one close comes back', async () => {
  const client = await RawClient.echo(server.port);
  client.send(Buffer.concat([close(1000), close(1000)]));
  await client.expectClose(1000);
  await client.waitForEnd();
  assert.is(client.pending, 0, 'nothing after the first close frame');
});

test('7.1.3 close, then ping: no pong', async () => {
  const client = await RawClient.echo(server.port);
  client.send(Buffer.concat([close(1000), ping('Hello World!')]));
  await client.expectClose(1000);
  await client.waitForEnd();
  assert.is(client.pending, 0, 'no pong after the close');
});

test('7.1.4 close, then text: the text is not echoed', async () => {
  const client = await RawClient.echo(server.port);
  client.send(Buffer.concat([close(1000), text('Hello World!')]));
  await client.expectClose(1000);
  await client.waitForEnd();
  assert.is(client.pending, 0, 'no echo after the close');
});

test('7.1.4b close, then text sent later (before the FIN arrives): not echoed', async () => {
  const client = await RawClient.echo(server.port);
  client.send(close(1000));
  client.send(text('late'));
  await client.expectClose(1000);
  await client.waitForEnd();
  assert.is(client.pending, 0);
});

test('7.1.5 text fragment, close, continuation: only the close comes back', async () => {
  const client = await RawClient.echo(server.port);
  client.send(Buffer.concat([text('fragment1', { fin: false }), close(1000), cont('fragment2')]));
  const result = await client.expectClose(1000);
  assert.is(result.before.length, 0);
  await client.waitForEnd();
  assert.is(client.pending, 0);
});

test('7.1.6 a 64 KiB text, then close, then ping: the text is echoed, the close echoed, no pong', async () => {
  const client = await RawClient.echo(server.port);
  const payload = Buffer.alloc(65536, 0x42);
  client.send(Buffer.concat([text(payload), close(1000), ping('Hello World!')]));
  const result = await client.expectClose(1000);
  assert.is(result.before.length, 1);
  assertFrame(result.before[0]!, OP.text, payload);
  await client.waitForEnd();
  assert.is(client.pending, 0);
});

test('7.3.1 close with an empty body is echoed with an empty body', async () => {
  const client = await RawClient.echo(server.port);
  client.send(close());
  const result = await client.expectClose(null);
  assert.is(result.payload.length, 0);
  await client.waitForEnd();
});

test('7.3.2 close with a 1-byte body fails with 1002', async () => {
  await expectFailure(server.port, close(Buffer.from([0x03])), 1002);
});

test('7.3.3 close 1000 without reason is echoed as 1000', async () => {
  const client = await RawClient.echo(server.port);
  client.send(close(1000));
  const result = await client.expectClose(1000);
  assert.is(result.reason, '');
  await client.waitForEnd();
});

test('7.3.4 close 1000 with a reason is echoed with that code and reason', async () => {
  const client = await RawClient.echo(server.port);
  client.send(close(1000, 'Hello World! ä€😀'));
  const result = await client.expectClose(1000);
  assert.is(result.reason, 'Hello World! ä€😀');
  await client.waitForEnd();
});

test('7.3.5 close 1000 with a 123-byte reason (a 125-byte body) is echoed', async () => {
  const reason = '*'.repeat(123);
  const client = await RawClient.echo(server.port);
  client.send(close(1000, reason));
  const result = await client.expectClose(1000);
  assert.is(result.payload.length, 125);
  assert.is(result.reason, reason);
  await client.waitForEnd();
});

test('7.3.6 close with a 124-byte reason (a 126-byte body) fails with 1002', async () => {
  await expectFailure(server.port, frame({ opcode: OP.close, payload: closeBody(1000, '*'.repeat(124)) }), 1002);
});

test('7.5.1 close with a reason that is not UTF-8 fails with 1007', async () => {
  await expectFailure(server.port, close(1000, Buffer.from([0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0, 0x80, 0x65, 0x64, 0x69, 0x74, 0x65, 0x64])), 1007);
});

test('7.5.1b close with a reason cut in the middle of a code point fails with 1007', async () => {
  await expectFailure(server.port, close(1000, Buffer.from([0x61, 0xe2, 0x82])), 1007);
});

const VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];
const INVALID_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535];

for (const code of VALID_CODES) {
  test(`7.7 close with valid code ${code} is echoed with ${code}`, async () => {
    const client = await RawClient.echo(server.port);
    client.send(close(code, 'reason'));
    const result = await client.expectClose(code);
    assert.is(result.reason, 'reason');
    await client.waitForEnd();
  });
}

for (const code of INVALID_CODES) {
  test(`7.9 close with invalid code ${code} fails with 1002`, async () => {
    await expectFailure(server.port, close(code), 1002);
  });
}

test('7.x the server ends TCP after the close handshake without waiting for the client to close first', async () => {
  const client = await RawClient.echo(server.port);
  client.send(close(1000));
  await client.expectClose(1000);
  // The client has not ended its side; the server's FIN must come anyway.
  await client.waitForEnd();
  assert.ok(client.ended);
});

test('7.x close sent in 1-byte chops is echoed', async () => {
  const client = await RawClient.echo(server.port);
  await client.sendAll(close(4321, 'chopped'), { chunkSize: 1 });
  const result = await client.expectClose(4321);
  assert.is(result.reason, 'chopped');
  await client.waitForEnd();
});

test('7.x a failing frame after a close frame is ignored: the close is echoed, not 1002', async () => {
  const client = await RawClient.echo(server.port);
  client.send(Buffer.concat([close(1000), frame({ opcode: 0x3 })]));
  await client.expectClose(1000);
  await client.waitForEnd();
});

test('7.x a room member that sends close gets it echoed and the connection ends', async () => {
  const client = await RawClient.room(server.port, 'close-room', 'ada');
  client.send(close(1000, 'bye'));
  const result = await client.expectClose(1000);
  assert.is(result.reason, 'bye');
  await client.waitForEnd();
});

test('7.x server-initiated close (shutdown): 1001 is sent, and a peer that never answers is cut off after the close timeout', async () => {
  const own = await startTestServer({ closeTimeoutMs: 500 });
  try {
    const silent = await RawClient.echo(own.port);
    const polite = await RawClient.room(own.port, 'shutdown', 'ada');
    const stopping = own.stop();
    const first = await silent.expectClose(1001);
    assert.ok(first.reason.length > 0, 'the close says why');
    await polite.expectClose(1001);
    polite.send(close(1001));
    await polite.waitForEnd();
    // The silent peer never answers; the server still ends the connection.
    await silent.waitForEnd(3000);
    await stopping;
  } finally {
    await own.stop();
  }
});

test('the server keeps serving after category 7', async () => {
  await assertStillServing(server);
});

test.run();
