// Autobahn category 5, fragmentation (RFC 6455 section 5.4): fragments are joined
// into one message; control frames may come between fragments and are answered at
// once; a continuation without a message, a new message inside one, and a
// fragmented control frame each fail the connection with 1002.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OP, RawClient, binary, closeBody, cont, frame, ping, pong, text } from '../helpers/raw-client';
import { asciiPayload, assertFrame, assertStillServing, binaryPayload, expectFailure, expectMessage, useServer } from './support';

const server = useServer(test);

test('5.1 a ping in 2 fragments fails with 1002', async () => {
  await expectFailure(server.port, [ping('fragment1', { fin: false }), cont('fragment2')], 1002);
});

test('5.2 a pong in 2 fragments fails with 1002', async () => {
  await expectFailure(server.port, [pong('fragment1', { fin: false }), cont('fragment2')], 1002);
});

test('5.x a close in 2 fragments fails with 1002 (not echoed as a close)', async () => {
  await expectFailure(server.port, [frame({ opcode: OP.close, fin: false, payload: closeBody(1000) }), cont('')], 1002);
});

test('5.3 text in 2 fragments is echoed as one message', async () => {
  const client = await RawClient.echo(server.port);
  client.send(Buffer.concat([text('fragment1', { fin: false }), cont('fragment2')]));
  await expectMessage(client, OP.text, 'fragment1fragment2');
  await client.closeCleanly();
});

test('5.4 text in 2 fragments, frame by frame, is echoed', async () => {
  const client = await RawClient.echo(server.port);
  client.send(text('fragment1', { fin: false }));
  client.send(cont('fragment2'));
  await expectMessage(client, OP.text, 'fragment1fragment2');
  await client.closeCleanly();
});

test('5.5 text in 2 fragments, in 1-byte chops, is echoed', async () => {
  const client = await RawClient.echo(server.port);
  await client.sendAll(Buffer.concat([text('fragment1', { fin: false }), cont('fragment2')]), { chunkSize: 1 });
  await expectMessage(client, OP.text, 'fragment1fragment2');
  await client.closeCleanly();
});

test('5.x binary in 3 fragments is echoed as one binary message', async () => {
  const client = await RawClient.echo(server.port);
  const payload = binaryPayload(300);
  client.send(Buffer.concat([binary(payload.subarray(0, 100), { fin: false }), cont(payload.subarray(100, 250), { fin: false }), cont(payload.subarray(250))]));
  await expectMessage(client, OP.binary, payload);
  await client.closeCleanly();
});

test('5.x a 65536-byte binary message in 64 fragments of 1024 bytes is echoed', async () => {
  const client = await RawClient.echo(server.port);
  const payload = binaryPayload(65536);
  const frames = [];
  for (let i = 0; i < 64; i++) {
    const part = payload.subarray(i * 1024, (i + 1) * 1024);
    frames.push(i === 0 ? binary(part, { fin: false }) : cont(part, { fin: i === 63 }));
  }
  client.send(Buffer.concat(frames));
  await expectMessage(client, OP.binary, payload);
  await client.closeCleanly();
});

test('5.x text in 1-byte fragments (one frame per byte) is echoed', async () => {
  const client = await RawClient.echo(server.port);
  const payload = asciiPayload(40);
  const frames = [...payload].map((byte, i) => (i === 0 ? text(Buffer.from([byte]), { fin: false }) : cont(Buffer.from([byte]), { fin: i === payload.length - 1 })));
  client.send(Buffer.concat(frames));
  await expectMessage(client, OP.text, payload);
  await client.closeCleanly();
});

test('5.x empty fragments: text of zero-length fragments, and empty fragments around data', async () => {
  const client = await RawClient.echo(server.port);
  client.send(Buffer.concat([text('', { fin: false }), cont('', { fin: false }), cont('')]));
  await expectMessage(client, OP.text, '');
  client.send(Buffer.concat([text('', { fin: false }), cont('middle', { fin: false }), cont('')]));
  await expectMessage(client, OP.text, 'middle');
  await client.closeCleanly();
});

test('5.6 text in 2 fragments with a ping between: the pong comes before the echo', async () => {
  const client = await RawClient.echo(server.port);
  client.send(Buffer.concat([text('fragment1', { fin: false }), ping('ping payload'), cont('fragment2')]));
  assertFrame(await client.frame(), OP.pong, 'ping payload', 'pong first');
  await expectMessage(client, OP.text, 'fragment1fragment2');
  await client.closeCleanly();
});

test('5.6b the ping between fragments is answered at once, before the message completes', async () => {
  const client = await RawClient.echo(server.port);
  client.send(text('fragment1', { fin: false }));
  client.send(ping('answer me now'));
  // The message is still open; the pong must arrive without the last fragment.
  assertFrame(await client.frame(), OP.pong, 'answer me now', 'pong while the message is incomplete');
  assert.is(client.pending, 0, 'nothing else was sent yet');
  client.send(cont('fragment2'));
  await expectMessage(client, OP.text, 'fragment1fragment2');
  await client.closeCleanly();
});

test('5.7 the same, frame by frame, with a pong (ignored) and a ping between fragments', async () => {
  const client = await RawClient.echo(server.port);
  client.send(text('fragment1', { fin: false }));
  client.send(pong('unsolicited'));
  client.send(ping('ping payload'));
  assertFrame(await client.frame(), OP.pong, 'ping payload');
  client.send(cont('fragment2'));
  await expectMessage(client, OP.text, 'fragment1fragment2');
  await client.closeCleanly();
});

test('5.8 the same, in 1-byte chops', async () => {
  const client = await RawClient.echo(server.port);
  await client.sendAll(Buffer.concat([text('fragment1', { fin: false }), ping('ping payload'), cont('fragment2')]), { chunkSize: 1 });
  assertFrame(await client.frame(), OP.pong, 'ping payload');
  await expectMessage(client, OP.text, 'fragment1fragment2');
  await client.closeCleanly();
});

test('5.9 a continuation (FIN) without a message fails with 1002, then a valid text is not echoed', async () => {
  await expectFailure(server.port, [cont('non-continuation payload'), text('Hello, world!')], 1002);
});

test('5.10 the same, frame by frame', async () => {
  const client = await RawClient.echo(server.port);
  client.send(cont('non-continuation payload'));
  client.send(text('Hello, world!'));
  const result = await client.expectClose(1002);
  assert.is(result.before.length, 0);
  await client.waitForEnd();
});

test('5.11 the same, in 1-byte chops', async () => {
  await expectFailure(server.port, [cont('non-continuation payload'), text('Hello, world!')], 1002, { chunkSize: 1 });
});

test('5.12 a continuation (no FIN) without a message fails with 1002', async () => {
  await expectFailure(server.port, [cont('non-continuation payload', { fin: false }), text('Hello, world!')], 1002);
});

test('5.13 the same, in 1-byte chops', async () => {
  await expectFailure(server.port, [cont('non-continuation payload', { fin: false }), text('Hello, world!')], 1002, { chunkSize: 1 });
});

test('5.15 a complete fragmented text, then a stray continuation: the first is echoed, then 1002', async () => {
  await expectFailure(
    server.port,
    [text('fragment1', { fin: false }), cont('fragment2'), cont('fragment3', { fin: false }), text('fragment4')],
    1002,
    { before: [[OP.text, 'fragment1fragment2']] },
  );
});

test('5.16 continuations (FIN, then no FIN) around a fragmented text: 1002 at the first', async () => {
  await expectFailure(server.port, [cont('fragment1', { fin: false }), text('fragment2', { fin: false }), cont('fragment3')], 1002);
});

test('5.18 a new text message during a fragmented one fails with 1002', async () => {
  await expectFailure(server.port, [text('fragment1', { fin: false }), text('fragment2')], 1002);
});

test('5.18b a new binary message (no FIN) during a fragmented text fails with 1002', async () => {
  await expectFailure(server.port, [text('fragment1', { fin: false }), binary('fragment2', { fin: false }), cont('end')], 1002);
});

test('5.19 text in 5 fragments with pings between, frame by frame: each pong comes at once', async () => {
  const client = await RawClient.echo(server.port);
  client.send(text('fragment1', { fin: false }));
  client.send(cont('fragment2', { fin: false }));
  client.send(ping('pongme 1!'));
  assertFrame(await client.frame(), OP.pong, 'pongme 1!');
  client.send(cont('fragment3', { fin: false }));
  client.send(cont('fragment4', { fin: false }));
  client.send(ping('pongme 2!'));
  assertFrame(await client.frame(), OP.pong, 'pongme 2!');
  client.send(cont('fragment5'));
  await expectMessage(client, OP.text, 'fragment1fragment2fragment3fragment4fragment5');
  await client.closeCleanly();
});

test('5.20 the same, in 1-byte chops', async () => {
  const client = await RawClient.echo(server.port);
  await client.sendAll(Buffer.concat([text('fragment1', { fin: false }), cont('fragment2', { fin: false }), ping('pongme 1!')]), { chunkSize: 1 });
  assertFrame(await client.frame(), OP.pong, 'pongme 1!');
  await client.sendAll(Buffer.concat([cont('fragment3', { fin: false }), cont('fragment4', { fin: false }), ping('pongme 2!')]), { chunkSize: 1 });
  assertFrame(await client.frame(), OP.pong, 'pongme 2!');
  await client.sendAll(cont('fragment5'), { chunkSize: 1 });
  await expectMessage(client, OP.text, 'fragment1fragment2fragment3fragment4fragment5');
  await client.closeCleanly();
});

test('5.x a close between fragments is echoed: the incomplete message is dropped', async () => {
  const client = await RawClient.echo(server.port);
  client.send(Buffer.concat([text('fragment1', { fin: false }), frame({ opcode: OP.close, payload: closeBody(1000) }), cont('fragment2')]));
  const result = await client.expectClose(1000);
  assert.is(result.before.length, 0, 'the half message is not echoed');
  await client.waitForEnd();
});

test('the server keeps serving after category 5', async () => {
  await assertStillServing(server);
});

test.run();
