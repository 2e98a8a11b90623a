// wss:// and https:// on the same port with a certificate made for the test by the
// openssl command; plain text on the TLS port; reloading the certificate (SIGHUP's
// work) without dropping a connection.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { get } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { startTestServer, type TestServer } from '../helpers/test-server';

const dir = mkdtempSync(join(tmpdir(), 'rooms-tls-'));
const cert = join(dir, 'cert.pem');
const key = join(dir, 'key.pem');
let t: TestServer;

function makeCertificate(commonName: string): string {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${commonName}`, '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  return execFileSync('openssl', ['x509', '-in', cert, '-noout', '-fingerprint', '-sha256']).toString().trim().split('=')[1]!;
}

function fingerprintOf(peerCert: { fingerprint256: string }): string {
  return peerCert.fingerprint256;
}

let firstFingerprint = '';
test.before(async () => {
  firstFingerprint = makeCertificate('rooms-test-1');
  t = await startTestServer({ tlsCert: cert, tlsKey: key });
});
test.after(async () => {
  await t.stop();
  rmSync(dir, { recursive: true, force: true });
});

function open(path: string): Promise<WebSocket> {
  const ws = new WebSocket(`wss://127.0.0.1:${t.port}${path}`, { rejectUnauthorized: false });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

test('the ready URL says wss://', () => {
  assert.match(t.url, /^wss:\/\/127\.0\.0\.1:\d+$/);
});

test('ws joins a room over TLS and messages are relayed', async () => {
  const a = await open('/?room=tls&name=a');
  const b = await open('/?room=tls&name=b');
  const got = new Promise<string>((resolve) => b.once('message', (data) => resolve(String(data))));
  a.send('over tls');
  assert.is(await got, 'over tls');
  a.close();
  b.close();
});

test('wscat --no-check joins over wss:// and a typed line reaches a ws member', async () => {
  const listener = await open('/?room=wscat-tls&name=listener');
  const got = new Promise<string>((resolve) => listener.once('message', (data) => resolve(String(data))));
  const wscat = spawn(fileURLToPath(new URL('../../node_modules/.bin/wscat', import.meta.url)), ['--no-check', '-c', `wss://127.0.0.1:${t.port}/?room=wscat-tls&name=typist`], { stdio: ['pipe', 'pipe', 'pipe'] });
  try {
    // wscat reads stdin once connected: wait until the server counts it in the room.
    const deadline = Date.now() + 15_000;
    while ((t.server.registry.get('wscat-tls')?.members.size ?? 0) < 2) {
      if (Date.now() > deadline || wscat.exitCode !== null) throw new Error('wscat did not join over TLS');
      await new Promise((r) => setTimeout(r, 25));
    }
    wscat.stdin.write('typed over tls\n');
    assert.is(await got, 'typed over tls');
  } finally {
    wscat.kill();
    listener.close();
  }
});

test('Node https gets /healthz from the same port', async () => {
  const body = await new Promise<string>((resolve, reject) => {
    get({ host: '127.0.0.1', port: t.port, path: '/healthz', rejectUnauthorized: false }, (res) => {
      let text = '';
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve(`${res.statusCode} ${text}`));
    }).on('error', reject);
  });
  assert.match(body, /^200 \{"status":"ok"/);
});

test('plain-text HTTP on the TLS port gets a readable 400 and a clean close', async () => {
  const socket = connect(t.port, '127.0.0.1');
  socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  const answer = await new Promise<string>((resolve) => {
    let text = '';
    socket.on('data', (chunk) => (text += chunk.toString()));
    socket.on('end', () => resolve(text));
  });
  assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/);
  assert.match(answer, /this port speaks TLS: use wss:\/\/ or https:\/\//);
  socket.destroy();
});

test('a reloaded certificate serves new connections; open ones stay up', async () => {
  const before = await open('/?room=reload&name=old');
  const oldCert = (before as unknown as { _socket: import('node:tls').TLSSocket })._socket.getPeerCertificate();
  assert.is(fingerprintOf(oldCert), firstFingerprint);
  const second = makeCertificate('rooms-test-2');
  assert.ok(t.server.reloadTls());
  const after = await open('/?room=reload&name=new');
  const newCert = (after as unknown as { _socket: import('node:tls').TLSSocket })._socket.getPeerCertificate();
  assert.is(fingerprintOf(newCert), second);
  const got = new Promise<string>((resolve) => before.once('message', (data) => resolve(String(data))));
  after.send('the old connection still works');
  assert.is(await got, 'the old connection still works');
  before.close();
  after.close();
});

test.run();
