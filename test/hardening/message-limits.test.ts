// Per-connection limits (issue 6): the message rate (token bucket; over it the
// connection is closed with 1008 "message rate limit exceeded"), the message size
// (1009, decided from the frame header before any payload is buffered), and
// garbage after the handshake (1002). The abuser shares a room with well-behaved
// members, and another room talks too: neither notices anything.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { clientFrame, closeFrame, frameHeader, handshakeBytes, OP, RawPeer, roomPath, sleep, textFrame, until } from '../helpers/misbehaving-clients';
import { Bystanders, memberNames, startHardened, whileBystandersTalk, type Hardened } from './harness';

let h: Hardened | null = null;
test.after.each(async () => {
  await h?.stop();
  h = null;
});

/** Answers the server's close, then waits for its FIN: the close handshake done right. */
async function finishClose(peer: RawPeer, code: number): Promise<void> {
  peer.write(closeFrame(code));
  await peer.waitForEnd();
}

test('over MESSAGES_PER_SECOND / MESSAGE_BURST a connection is closed with 1008 "message rate limit exceeded"', async () => {
  h = await startHardened({ messagesPerSecond: 5, messageBurst: 10 });
  const { port } = h;
  const bystanders = await Bystanders.start(h.url);
  const [ann] = bystanders.a;
  // The bystanders themselves stay under 5 messages a second: 2 lines every 600 ms or so.
  await whileBystandersTalk(
    bystanders,
    async () => {
      const spammer = await RawPeer.join(port, 'team-a', 'spammer');
      await until(() => memberNames(h!.server, 'team-a').includes('spammer'), 'spammer in the room');
      // 30 messages in one write: the burst of 10 passes, the 11th closes the connection.
      spammer.write(Buffer.concat(Array.from({ length: 30 }, (_, i) => textFrame(`spam ${i}`))));
      const closed = await spammer.expectClose();
      assert.is(closed.code, 1008);
      assert.is(closed.reason, 'message rate limit exceeded');
      await finishClose(spammer, 1008);

      // A steady sender under the rate is never closed, however long it goes on (more than the burst here).
      const steady = await RawPeer.join(port, 'team-a', 'steady');
      for (let i = 0; i < 14; i++) {
        steady.write(textFrame(`steady ${i}`));
        await sleep(250);
      }
      await until(() => ann.from('steady').length === 14, 'ann to hear all 14 steady lines');
      assert.equal(ann.from('steady'), Array.from({ length: 14 }, (_, i) => `steady ${i}`));
      // It hears the bystanders' lines (raw mode relays them), and no close frame.
      while (steady.pending > 0) assert.is.not((await steady.frame()).opcode, OP.close, 'steady was not closed');
      assert.not.ok(steady.ended);
      steady.destroy();
    },
    600,
  );
  // What the spammer got through before the limit is relayed in order; nothing after it.
  const spam = ann.from('spammer');
  assert.ok(spam.length >= 10 && spam.length <= 12, `the burst got through (${spam.length} lines)`);
  assert.equal(spam, Array.from({ length: spam.length }, (_, i) => `spam ${i}`));
  await until(() => ann.presence.some((p) => p.type === 'left' && p.name === 'spammer'), 'ann to hear the spammer leave');
  assert.is(h.server.metrics.rateLimited, 1);
  await bystanders.close();
});

test('a frame header declaring more than MAX_MESSAGE_BYTES gets 1009 before any payload is sent', async () => {
  const max = 64 * 1024;
  h = await startHardened({ maxMessageBytes: max });
  const { port } = h;
  const bystanders = await Bystanders.start(h.url);
  const [ann] = bystanders.a;
  await whileBystandersTalk(bystanders, async () => {
    const rssBefore = process.memoryUsage().rss;
    // 1 TiB declared, nothing sent after the header: the answer cannot wait for the payload.
    const huge = await RawPeer.join(port, 'team-a', 'huge');
    huge.write(frameHeader(OP.binary, 2n ** 40n).header);
    const hugeClose = await huge.expectClose();
    assert.is(hugeClose.code, 1009);
    assert.is(hugeClose.reason, `message over ${max} bytes`);
    await huge.waitForEnd();

    // One byte over, as a text frame, with only half its payload sent.
    const over = await RawPeer.join(port, 'team-a', 'over');
    const { header, mask } = frameHeader(OP.text, max + 1);
    assert.ok(mask !== null);
    over.write(Buffer.concat([header, Buffer.alloc(max / 2, 0x61)]));
    assert.is((await over.expectClose()).code, 1009);
    await over.waitForEnd();

    // Fragments that fit one by one but not together: 1009 at the second header.
    const pieces = await RawPeer.join(port, 'team-a', 'pieces');
    pieces.write(clientFrame(OP.text, 'x'.repeat(40 * 1024), { fin: false }));
    pieces.write(frameHeader(OP.continuation, 30 * 1024).header);
    assert.is((await pieces.expectClose()).code, 1009);
    await pieces.waitForEnd();

    // The header in the same packet as the handshake (bytes that arrive before the 101 is sent).
    const eager = await RawPeer.connect(port);
    eager.write(Buffer.concat([handshakeBytes(port, { path: roomPath('team-a', 'eager') }), frameHeader(OP.binary, 2n ** 40n).header]));
    assert.is((await eager.readResponse()).status, 101);
    assert.is((await eager.expectClose()).code, 1009);
    await eager.waitForEnd();

    // Exactly the limit is fine, and is relayed whole.
    const fits = await RawPeer.join(port, 'team-a', 'fits');
    fits.write(textFrame('y'.repeat(max)));
    await until(() => ann.heard.some((m) => m.from === 'fits'), 'ann to hear the largest allowed message');
    assert.is(ann.heard.find((m) => m.from === 'fits')!.length, max);
    while (fits.pending > 0) assert.is.not((await fits.frame()).opcode, OP.close, 'fits was not closed');
    fits.destroy();
    const grew = process.memoryUsage().rss - rssBefore;
    assert.ok(grew < 64 * 1024 * 1024, `no payload-sized allocation for the declared lengths (RSS grew ${(grew / 2 ** 20).toFixed(1)} MiB)`);
  });
  assert.equal(ann.from('huge'), []);
  assert.equal(ann.from('over'), []);
  assert.equal(ann.from('pieces'), []);
  assert.is(h.server.metrics.protocolErrors, 4);
  await bystanders.close();
});

test('garbage after the handshake gets 1002 and the TCP connection is closed', async () => {
  h = await startHardened();
  const { port } = h;
  const bystanders = await Bystanders.start(h.url);
  const garbage: Array<[string, Buffer]> = [
    ['text', Buffer.from('hello, is this thing on?\r\n', 'latin1')],
    ['0xff bytes', Buffer.alloc(64, 0xff)],
    ['a second HTTP request', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n', 'latin1')],
    ['an unmasked frame', clientFrame(OP.text, 'unmasked', { mask: false })],
    ['reserved opcode 0x3', clientFrame(0x3, 'what')],
    ['RSV2 set', clientFrame(OP.text, 'rsv', { rsv: 2 })],
    ['a fragmented ping', clientFrame(OP.ping, 'p', { fin: false })],
    ['a continuation with nothing to continue', clientFrame(OP.continuation, 'orphan')],
  ];
  await whileBystandersTalk(bystanders, async () => {
    await Promise.all(
      garbage.map(async ([what, bytes], i) => {
        const peer = await RawPeer.join(port, 'team-a', `garbage${i}`);
        peer.write(bytes);
        const closed = await peer.expectClose();
        assert.is(closed.code, 1002, `${what}: 1002 (${closed.reason})`);
        assert.equal(closed.before, [], `${what}: nothing before the close`);
        await peer.waitForEnd();
      }),
    );
  });
  assert.is(h.server.metrics.protocolErrors, garbage.length);
  await until(() => memberNames(h!.server, 'team-a').length === 2, 'the garbage senders to be gone from team-a');
  assert.equal(memberNames(h.server, 'team-a').sort(), ['ann', 'bob']);
  await bystanders.close();
});

test.run();
