// TRUST_PROXY over real sockets: connections from a trusted proxy (127.0.0.1) are counted
// by the client its header names, per-address limits and logs included; the same header
// from an untrusted peer, or with TRUST_PROXY unset, changes nothing; garbage is ignored.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RawPeer, roomPath } from '../helpers/misbehaving-clients';
import { startHardened, type Hardened } from '../hardening/harness';
import { startServerProcess, stopAllServerProcesses } from '../helpers/server-process';

let h: Hardened | null = null;
test.after.each(async () => {
  await h?.stop();
  h = null;
});
test.after(stopAllServerProcesses);

async function attempt(port: number, name: string, headers: Record<string, string>, localAddress = '127.0.0.1') {
  const { peer, response } = await RawPeer.handshake(port, { path: roomPath('proxied', name), headers }, { localAddress });
  return { peer, status: response.status, body: response.body.trim(), retryAfter: response.headers.get('retry-after') };
}

test('MAX_CONNECTIONS_PER_ADDRESS counts each forwarded client apart; logs show the client', async () => {
  h = await startHardened({ trustProxy: ['127.0.0.1'], maxConnectionsPerAddress: 2 });
  const open: RawPeer[] = [];
  for (const name of ['a1', 'a2']) {
    const r = await attempt(h.port, name, { 'X-Forwarded-For': '198.51.100.1' });
    assert.is(r.status, 101, name);
    open.push(r.peer);
  }
  const third = await attempt(h.port, 'a3', { 'X-Forwarded-For': '198.51.100.1' });
  assert.is(third.status, 503);
  assert.is(third.body, 'too many connections from your address');
  third.peer.destroy();
  // Another client behind the same proxy, by either header.
  const b = await attempt(h.port, 'b1', { 'X-Forwarded-For': '198.51.100.2' });
  assert.is(b.status, 101);
  const c = await attempt(h.port, 'c1', { Forwarded: 'for="[2001:db8::c]:4711";proto=http' });
  assert.is(c.status, 101);
  const refusedLog = h.events().find((e) => e.event === 'refused' && e.status === 503);
  assert.match(String(refusedLog?.peer), /^198\.51\.100\.1 via 127\.0\.0\.1:\d+$/);
  assert.ok(h.events().some((e) => e.event === 'connected' && /^2001:db8::c via 127\.0\.0\.1:\d+$/.test(String(e.peer))), 'connected log names the client');
  // A slot is given back when its connection ends.
  open[0]!.destroy();
  await open[0]!.waitForEnd();
  let again = await attempt(h.port, 'a4', { 'X-Forwarded-For': '198.51.100.1' });
  for (let i = 0; again.status !== 101 && i < 50; i++) {
    again.peer.destroy();
    await new Promise((r) => setTimeout(r, 20));
    again = await attempt(h.port, 'a4', { 'X-Forwarded-For': '198.51.100.1' });
  }
  assert.is(again.status, 101);
  for (const p of [...open, b.peer, c.peer, again.peer]) p.destroy();
});

test('the join bucket counts each forwarded client apart', async () => {
  h = await startHardened({ trustProxy: ['127.0.0.1'], joinsPerMinutePerAddress: 1, joinBurst: 2 });
  for (const name of ['j1', 'j2']) (await attempt(h.port, name, { 'X-Forwarded-For': '203.0.113.5' })).peer.destroy();
  const refused = await attempt(h.port, 'j3', { 'X-Forwarded-For': '203.0.113.5' });
  assert.is(refused.status, 429);
  assert.is(refused.retryAfter, '60');
  refused.peer.destroy();
  const other = await attempt(h.port, 'k1', { 'X-Forwarded-For': '203.0.113.6' });
  assert.is(other.status, 101);
  other.peer.destroy();
});

test('a forged header from an untrusted peer changes nothing', async () => {
  h = await startHardened({ trustProxy: ['127.0.0.1'], maxConnectionsPerAddress: 2, joinsPerMinutePerAddress: 1, joinBurst: 3 });
  const open: RawPeer[] = [];
  for (const [i, forged] of ['198.51.100.7', '198.51.100.8'].entries()) {
    const r = await attempt(h.port, `f${i}`, { 'X-Forwarded-For': forged, Forwarded: `for=${forged}` }, '127.0.0.2');
    assert.is(r.status, 101);
    open.push(r.peer);
  }
  const third = await attempt(h.port, 'f2', { 'X-Forwarded-For': '198.51.100.9' }, '127.0.0.2');
  assert.is(third.status, 503);
  third.peer.destroy();
  assert.not.ok(h.events().some((e) => String(e.peer).includes('198.51.100')), 'no log names a forged address');
  for (const p of open) p.destroy();
});

test('TRUST_PROXY unset: forwarding headers are ignored even from loopback', async () => {
  h = await startHardened({ maxConnectionsPerAddress: 2 });
  const open: RawPeer[] = [];
  for (const [i, client] of ['198.51.100.1', '198.51.100.2'].entries()) {
    const r = await attempt(h.port, `u${i}`, { 'X-Forwarded-For': client });
    assert.is(r.status, 101);
    open.push(r.peer);
  }
  const third = await attempt(h.port, 'u2', { 'X-Forwarded-For': '198.51.100.3' });
  assert.is(third.status, 503);
  third.peer.destroy();
  for (const p of open) p.destroy();
});

test('malformed forwarding headers from the trusted proxy are ignored: the proxy is the client', async () => {
  h = await startHardened({ trustProxy: ['127.0.0.1'], maxConnectionsPerAddress: 2 });
  const open: RawPeer[] = [];
  const malformed: Array<Record<string, string>> = [{ 'X-Forwarded-For': 'not-an-address' }, { Forwarded: 'for=[2001:db8::1]' }];
  for (const [i, headers] of malformed.entries()) {
    const r = await attempt(h.port, `m${i}`, headers);
    assert.is(r.status, 101);
    open.push(r.peer);
  }
  // Both counted against 127.0.0.1, as a third with no header is.
  const third = await attempt(h.port, 'm2', {});
  assert.is(third.status, 503);
  third.peer.destroy();
  // And the server is fine.
  const fine = await attempt(h.port, 'm3', { 'X-Forwarded-For': '198.51.100.4' });
  assert.is(fine.status, 101);
  for (const p of [...open, fine.peer]) p.destroy();
});

test('the server process reads TRUST_PROXY from its environment', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'rooms-trust-proxy-'));
  const server = await startServerProcess({ env: { TRUST_PROXY: '127.0.0.1', MAX_CONNECTIONS_PER_ADDRESS: '1', LOG_LEVEL: 'warn', DATA_DIR: dataDir } });
  const first = await attempt(server.port, 'p1', { 'X-Forwarded-For': '198.51.100.20' });
  const second = await attempt(server.port, 'p2', { 'X-Forwarded-For': '198.51.100.21' });
  const again = await attempt(server.port, 'p3', { 'X-Forwarded-For': '198.51.100.20' });
  assert.equal([first.status, second.status, again.status], [101, 101, 503]);
  for (const p of [first.peer, second.peer, again.peer]) p.destroy();
  await server.kill9();
  rmSync(dataDir, { recursive: true, force: true });
});

test.run();
