// Autobahn category 2, pings and pongs (RFC 6455 section 5.5.2-5.5.3): every ping
// is answered by a pong with the same payload, unsolicited pongs are ignored,
// control frames over 125 bytes fail the connection; plus the server's own
// heartbeat, which pings idle peers and drops the ones that stop answering.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OP, RawClient, ping, pong, text } from '../helpers/raw-client';
import { startTestServer, type TestServer } from '../helpers/test-server';
import { asciiPayload, assertFrame, assertStillServing, binaryPayload, expectFailure, useServer } from './support';

const server = useServer(test);

test('2.1 ping without payload gets an empty pong', async () => {
  const client = await RawClient.echo(server.port);
  client.send(ping());
  assertFrame(await client.frame(), OP.pong, '');
  await client.closeCleanly();
});

test('2.2 ping with a text payload gets a pong with the same payload', async () => {
  const client = await RawClient.echo(server.port);
  client.send(ping('Hello, world!'));
  assertFrame(await client.frame(), OP.pong, 'Hello, world!');
  await client.closeCleanly();
});

test('2.3 ping with a binary payload gets a pong with the same bytes', async () => {
  const client = await RawClient.echo(server.port);
  const payload = Buffer.from([0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff]);
  client.send(ping(payload));
  assertFrame(await client.frame(), OP.pong, payload);
  await client.closeCleanly();
});

test('2.4 ping with a 125-byte payload gets a 125-byte pong', async () => {
  const client = await RawClient.echo(server.port);
  const payload = binaryPayload(125);
  client.send(ping(payload));
  assertFrame(await client.frame(), OP.pong, payload);
  await client.closeCleanly();
});

test('2.5 ping with a 126-byte payload fails the connection with 1002', async () => {
  await expectFailure(server.port, ping(binaryPayload(126)), 1002);
});

test('2.5b ping declaring 126 bytes fails with 1002 before the payload is sent', async () => {
  const client = await RawClient.echo(server.port);
  const whole = ping(binaryPayload(126));
  client.send(whole.subarray(0, 8)); // header only: 2 + 2 length + 4 mask
  await client.expectClose(1002);
  await client.waitForEnd();
});

test('2.6 ping with a 125-byte payload sent in 1-byte chops gets its pong', async () => {
  const client = await RawClient.echo(server.port);
  const payload = asciiPayload(125);
  await client.sendAll(ping(payload), { chunkSize: 1, delayMs: 1 });
  assertFrame(await client.frame(), OP.pong, payload);
  await client.closeCleanly();
});

test('2.7 an unsolicited pong without payload is ignored', async () => {
  const client = await RawClient.echo(server.port);
  client.send(Buffer.concat([pong(), text('after the pong')]));
  assertFrame(await client.frame(), OP.text, 'after the pong', 'the first frame back is the echo, not an answer to the pong');
  await client.closeCleanly();
});

test('2.8 an unsolicited pong with payload is ignored', async () => {
  const client = await RawClient.echo(server.port);
  client.send(Buffer.concat([pong('unsolicited pong payload'), text('after the pong')]));
  assertFrame(await client.frame(), OP.text, 'after the pong');
  await client.closeCleanly();
});

test('2.9 an unsolicited pong then a ping: only the ping is answered', async () => {
  const client = await RawClient.echo(server.port);
  client.send(Buffer.concat([pong('unsolicited pong payload'), ping('ping payload')]));
  assertFrame(await client.frame(), OP.pong, 'ping payload');
  client.send(text('marker'));
  assertFrame(await client.frame(), OP.text, 'marker', 'no second pong before the marker');
  await client.closeCleanly();
});

test('2.10 ten pings in one write get ten pongs, in order', async () => {
  const client = await RawClient.echo(server.port);
  client.send(Buffer.concat(Array.from({ length: 10 }, (_, i) => ping(`payload-${i}`))));
  for (let i = 0; i < 10; i++) assertFrame(await client.frame(), OP.pong, `payload-${i}`, `pong ${i}`);
  await client.closeCleanly();
});

test('2.11 ten pings in 1-byte chops get ten pongs, in order', async () => {
  const client = await RawClient.echo(server.port);
  await client.sendAll(Buffer.concat(Array.from({ length: 10 }, (_, i) => ping(`payload-${i}`))), { chunkSize: 1, delayMs: 0 });
  for (let i = 0; i < 10; i++) assertFrame(await client.frame(), OP.pong, `payload-${i}`, `pong ${i}`);
  await client.closeCleanly();
});

test('2.x pings and text messages interleaved are answered in the order they came', async () => {
  const client = await RawClient.echo(server.port);
  client.send(Buffer.concat([text('a'), ping('1'), text('b'), ping('2')]));
  assertFrame(await client.frame(), OP.text, 'a');
  assertFrame(await client.frame(), OP.pong, '1');
  assertFrame(await client.frame(), OP.text, 'b');
  assertFrame(await client.frame(), OP.pong, '2');
  await client.closeCleanly();
});

test('the server keeps serving after category 2', async () => {
  await assertStillServing(server);
});

// The heartbeat (CONTRACT.md: "the server pings idle connections and drops those
// that stop answering"), on a server of its own with a short interval.
let beating: TestServer | null = null;

test('heartbeat: an idle peer is pinged, and one that answers stays connected', async () => {
  beating = await startTestServer({ pingIntervalMs: 250 }); // a pong has a whole interval to arrive: room for a busy machine
  const client = await RawClient.echo(beating.port);
  for (let i = 0; i < 3; i++) {
    const heartbeat = await client.frame(2000);
    assert.is(heartbeat.opcode, OP.ping, `heartbeat ${i + 1} is a ping`);
    assert.not.ok(heartbeat.masked);
    client.send(pong(heartbeat.payload));
  }
  client.send(text('still here'));
  // The next ping may already be on its way; skip pings until the echo.
  for (;;) {
    const next = await client.frame(2000);
    if (next.opcode === OP.ping) continue;
    assertFrame(next, OP.text, 'still here');
    break;
  }
  client.destroy();
});

test('heartbeat: a peer that never answers the ping is dropped', async () => {
  assert.ok(beating);
  const client = await RawClient.echo(beating.port);
  const heartbeat = await client.frame(2000);
  assert.is(heartbeat.opcode, OP.ping);
  await client.waitForEnd(3000);
  assert.is(beating.server.metrics.deadPeersDropped >= 1, true, 'counted as a dead peer');
  await beating.stop();
  beating = null;
});

test.after(async () => {
  await beating?.stop();
});

test.run();
