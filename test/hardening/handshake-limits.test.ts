// Handshake limits (issue 6): head size (431), head timeout against slowloris
// (408, socket closed), total and per-address connection caps (503 with a reason),
// joins per minute per address (429). Each is hit while well-behaved members in
// the abuser's room and in another room keep talking, and they notice nothing.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { handshakeBytes, RawPeer, roomPath, sleep, WsMember } from '../helpers/misbehaving-clients';
import { Bystanders, startHardened, whileBystandersTalk, type Hardened } from './harness';

let h: Hardened | null = null;
test.after.each(async () => {
  await h?.stop();
  h = null;
});

/** Joins until the server says 101 (a closed socket is released on the server a moment later). */
async function joinEventually(port: number, room: string, name: string, localAddress: string): Promise<RawPeer> {
  let last = '';
  for (let attempt = 0; attempt < 50; attempt++) {
    const { peer, response } = await RawPeer.handshake(port, { path: roomPath(room, name) }, { localAddress });
    if (response.status === 101) return peer;
    last = `${response.statusLine} ${response.body.trim()}`;
    peer.destroy();
    await sleep(100);
  }
  throw new Error(`never admitted again: ${last}`);
}

test('a request head over MAX_HEADER_BYTES gets 431 and the connection is closed', async () => {
  h = await startHardened({ maxHeaderBytes: 2048 });
  const { port } = h;
  const bystanders = await Bystanders.start(h.url);
  await whileBystandersTalk(bystanders, async () => {
    // A whole head that is too big.
    const big = await RawPeer.handshake(port, { path: roomPath('team-a', 'mallory'), headers: { 'X-Padding': 'p'.repeat(4000) } });
    assert.is(big.response.status, 431);
    assert.is(big.response.body.trim(), 'request head over 2048 bytes');
    await big.peer.waitForEnd();

    // A head that never ends: refused as soon as it passes the limit, without waiting for the blank line.
    const endless = await RawPeer.connect(port);
    endless.write(Buffer.from(`GET / HTTP/1.1\r\nHost: x\r\nX-Padding: ${'p'.repeat(3000)}`, 'latin1'));
    const answer = await endless.readResponse();
    assert.is(answer.status, 431);
    await endless.waitForEnd();

    // Just under the limit is fine: the limit is the documented one, not tighter.
    const padding = 2048 - handshakeBytes(port, { path: roomPath('team-a', 'eve'), headers: { 'X-Padding': '' } }).length;
    const fits = await RawPeer.handshake(port, { path: roomPath('team-a', 'eve'), headers: { 'X-Padding': 'p'.repeat(padding) } });
    assert.is(fits.response.status, 101, fits.response.body);
    fits.peer.destroy();
  });
  assert.is(h.server.metrics.handshakesRefused, 2);
  await bystanders.close();
});

test('a slowloris peer (one byte per 200 ms) gets 408 after HEADER_TIMEOUT and its socket is closed', async () => {
  h = await startHardened({ headerTimeoutMs: 1000 });
  const { port } = h;
  const bystanders = await Bystanders.start(h.url);
  const request = handshakeBytes(port, { path: roomPath('team-a', 'slowpoke') });
  await whileBystandersTalk(bystanders, async () => {
    const lorises = await Promise.all([1, 2, 3].map(() => RawPeer.connect(port)));
    const started = Date.now();
    const sent = await Promise.all(lorises.map((loris) => loris.drip(request, 200)));
    for (const [i, loris] of lorises.entries()) {
      // The drip stopped because the server hung up, long before the head was complete.
      assert.ok(sent[i]! < request.length / 4, `slowloris ${i} was cut off early (${sent[i]} of ${request.length} bytes sent)`);
      const answer = await loris.readResponse();
      assert.is(answer.status, 408);
      assert.match(answer.body, /request head not received within 1000 ms/);
      await loris.waitForEnd();
      assert.ok(loris.ended, 'the server closed the slowloris socket');
      const after = loris.endedAt - started;
      assert.ok(after >= 900, `not dropped before HEADER_TIMEOUT (${after} ms)`);
      assert.ok(after < 6000, `dropped after HEADER_TIMEOUT, not kept open (${after} ms)`);
    }
  });
  // Nobody from the slowloris ever got into the room.
  assert.equal(bystanders.a[0].presence.filter((p) => p.name === 'slowpoke'), []);
  await bystanders.close();
});

test('the total connection cap (MAX_CONNECTIONS) answers 503 with a reason and frees up when connections close', async () => {
  h = await startHardened({ maxConnections: 8 });
  const { port } = h;
  const bystanders = await Bystanders.start(h.url); // 4 connections
  await whileBystandersTalk(bystanders, async () => {
    // Four sockets that connect and say nothing hold the remaining places.
    const squatters = await Promise.all([1, 2, 3, 4].map(() => RawPeer.connect(port)));
    await sleep(100);
    const refused = await RawPeer.handshake(port, { path: roomPath('team-a', 'mallory') });
    assert.is(refused.response.status, 503);
    assert.is(refused.response.body.trim(), 'server is at its connection limit');
    assert.is(refused.response.headers.get('retry-after'), '5');
    await refused.peer.waitForEnd();
    // From another address too: the cap is on the total.
    const other = await RawPeer.handshake(port, { path: roomPath('team-b', 'oscar') }, { localAddress: '127.0.0.2' });
    assert.is(other.response.status, 503);
    other.peer.destroy();

    squatters[0]!.destroy();
    squatters[1]!.destroy();
    const admitted = await joinEventually(port, 'team-a', 'late', '127.0.0.1');
    admitted.destroy();
  });
  assert.ok(h.server.metrics.handshakesRefused >= 2);
  await bystanders.close();
});

test('the per-address cap (MAX_CONNECTIONS_PER_ADDRESS) answers 503 to that address only', async () => {
  h = await startHardened({ maxConnectionsPerAddress: 5 });
  const { port, url } = h;
  const bystanders = await Bystanders.start(url); // 4 connections from 127.0.0.1
  await whileBystandersTalk(bystanders, async () => {
    const hogs: RawPeer[] = [];
    for (let i = 0; i < 5; i++) hogs.push(await RawPeer.join(port, 'team-a', `hog${i}`, { localAddress: '127.0.0.2' }));
    const refused = await RawPeer.handshake(port, { path: roomPath('team-a', 'hog5') }, { localAddress: '127.0.0.2' });
    assert.is(refused.response.status, 503);
    assert.is(refused.response.body.trim(), 'too many connections from your address');
    assert.is(refused.response.headers.get('retry-after'), '5');
    await refused.peer.waitForEnd();

    // Another address still gets in (127.0.0.1 holds 4 of its 5).
    const newcomer = await WsMember.join(url, 'team-b', 'newcomer');
    assert.ok(newcomer.open);
    await newcomer.close();

    // The cap counts open connections: one closed, one more admitted.
    hogs[0]!.destroy();
    const again = await joinEventually(port, 'team-a', 'hog6', '127.0.0.2');
    again.destroy();
    for (const hog of hogs) hog.destroy();
  });
  await bystanders.close();
});

test('joins per address past the burst (JOIN_BURST, refilled at JOINS_PER_MINUTE) answer 429 to that address only', async () => {
  h = await startHardened({ joinsPerMinutePerAddress: 6, joinBurst: 6 });
  const { port, url } = h;
  const bystanders = await Bystanders.start(url); // 4 joins from 127.0.0.1
  await whileBystandersTalk(bystanders, async () => {
    // Join and leave at once: never more than one connection, so only the join rate can stop it.
    for (let i = 0; i < 6; i++) {
      const peer = await RawPeer.join(port, 'team-a', `churn${i}`, { localAddress: '127.0.0.2' });
      peer.destroy();
    }
    const refused = await RawPeer.handshake(port, { path: roomPath('team-a', 'churn6') }, { localAddress: '127.0.0.2' });
    assert.is(refused.response.status, 429);
    // One token every 10 s: Retry-After says when the next one is there.
    const retryAfter = Number(refused.response.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 10, `Retry-After ${retryAfter}`);
    assert.is(refused.response.body.trim(), `too many joins from your address; try again in ${retryAfter} s`);
    await refused.peer.waitForEnd();
    // The echo endpoint is an upgrade too: same answer.
    const echo = await RawPeer.handshake(port, { path: '/echo' }, { localAddress: '127.0.0.2' });
    assert.is(echo.response.status, 429);
    echo.peer.destroy();

    // 127.0.0.1 has used 4 of its 6.
    const newcomer = await WsMember.join(url, 'team-b', 'newcomer');
    assert.ok(newcomer.open);
    await newcomer.close();
  });
  await bystanders.close();
});

test.run();
