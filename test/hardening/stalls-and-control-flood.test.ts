// Two ways to hold resources without sending messages: trickling the body of a huge
// frame (a stalled message is closed with 1008 after 3 ping intervals without a
// message completed) and flooding pings (they draw from the message rate's bucket).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { clientFrame, frameHeader, OP, RawPeer, sleep } from '../helpers/misbehaving-clients';
import { serverPeers, startHardened, type Hardened } from './harness';

let h: Hardened | null = null;
test.after.each(async () => {
  await h?.stop();
  h = null;
});

test('a peer trickling the body of a huge frame (one byte per ping interval) does not hold MAX_MESSAGE_BYTES forever', async () => {
  h = await startHardened({ pingIntervalMs: 300 });
  const peer = await RawPeer.join(h.port, 'r', 'trickler');
  peer.write(frameHeader(OP.binary, 1024 * 1024).header);
  peer.write(Buffer.alloc(1024 * 1024 - 10));
  for (let i = 0; i < 10; i++) {
    await sleep(300);
    peer.write(Buffer.alloc(1));
  }
  // 3 s, 10 ping intervals: the heartbeat counts each byte as a sign of life.
  const onServer = serverPeers(h.server, 'r').find((p) => p.name === 'trickler');
  assert.not.ok(onServer, `still in the room holding ${onServer?.conn.bufferedBytes} bytes of one unfinished frame`);
});

test('control frames count toward the message rate (5000 pings at 10 messages/s)', async () => {
  h = await startHardened({ messagesPerSecond: 10, messageBurst: 10 });
  const peer = await RawPeer.join(h.port, 'r', 'pinger');
  peer.write(Buffer.concat(Array.from({ length: 5000 }, () => clientFrame(OP.ping, 'x'.repeat(100)))));
  const closed = await peer.expectClose();
  assert.is(closed.code, 1008);
  assert.ok(closed.before.length < 100, `${closed.before.length} pongs before the close`);
});

test.run();
