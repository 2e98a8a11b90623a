// Server bugs the hardening work found, kept as regression tests (fixed in 3977aa3):
// a fast reader dropped as "slow" by one turn's burst, server.close() waiting on a
// socket refused with 503 at accept, and rooms_bytes_out_total stuck at 0.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { floodFrames, RawPeer, roomPath, sleep, until, WsMember } from '../helpers/misbehaving-clients';
import { startHardened, type Hardened } from './harness';
import { startServer } from '../../src/server/server';
import { createLogger } from '../../src/server/logger';
import { defaultSettings } from '../../src/settings';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let h: Hardened | null = null;
test.after.each(async () => {
  await h?.stop();
  h = null;
});

test('a reader that reads everything is not dropped as slow when two members send 4 x 1 MiB at once (default limits)', async () => {
  h = await startHardened(); // MAX_MESSAGE_BYTES 1 MiB, MAX_BUFFERED_BYTES 4 MiB, 1000 messages/s
  const reader = await WsMember.join(h.url, 'files', 'reader', { mode: 'raw' });
  const senders = [await RawPeer.join(h.port, 'files', 's0'), await RawPeer.join(h.port, 'files', 's1')];
  const frame = floodFrames('big', 1024 * 1024 - 16);
  for (const sender of senders) sender.write(Buffer.concat([frame(0), frame(1), frame(2), frame(3)]));
  await until(() => reader.heard.length === 8 || reader.closed, 'the reader to get all 8 messages', 20_000);
  assert.is(reader.closeReason, '', 'the reader was not closed');
  assert.is(reader.heard.length, 8);
  assert.is(h.server.metrics.slowConsumersDropped, 0);
});

test('server.close() resolves promptly while a socket refused with 503 at accept lingers', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'rooms-hardening-'));
  const server = await startServer(defaultSettings({ host: '127.0.0.1', port: 0, dataDir, maxConnections: 1, closeTimeoutMs: 5000 }), { log: createLogger('silent', () => {}) });
  const squatter = await RawPeer.connect(server.port);
  await sleep(50);
  const { peer, response } = await RawPeer.handshake(server.port, { path: roomPath('r', 'n') });
  assert.is(response.status, 503);
  peer.destroy();
  squatter.destroy();
  // Before the fix, close() waited CLOSE_TIMEOUT for it, and never resolved with nothing else keeping the process alive.
  const started = Date.now();
  let resolved = false;
  const closing = server.close().then(() => (resolved = true));
  await until(() => resolved, 'server.close() to resolve', 10_000);
  await closing;
  rmSync(dataDir, { recursive: true, force: true });
  assert.ok(Date.now() - started < 2000, `close() took ${Date.now() - started} ms (CLOSE_TIMEOUT 5000)`);
});

test('rooms_bytes_out_total counts the bytes delivered (README: "messages and bytes in/out")', async () => {
  h = await startHardened();
  const a = await WsMember.join(h.url, 'm', 'a', { mode: 'raw' });
  const b = await WsMember.join(h.url, 'm', 'b', { mode: 'raw' });
  a.say('hello');
  await until(() => b.heard.length === 1, 'b to hear a');
  assert.is(h.server.metrics.messagesOut, 1);
  assert.is(h.server.metrics.bytesIn, 5);
  assert.ok(h.server.metrics.bytesOut >= 5, `bytesOut is ${h.server.metrics.bytesOut}`);
});

test.run();
