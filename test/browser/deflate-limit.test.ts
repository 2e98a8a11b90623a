// Chromium offers permessage-deflate and compresses what a page sends: a message of
// exactly MAX_MESSAGE_BYTES of random bytes (binary, and base64 text) is relayed whole
// to a compressing and a plain member, over ws:// and wss://; one byte more closes the
// page's socket with 1009. A 64 KiB limit, and the 1 MiB default once.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { startTestServer, type TestServer } from '../helpers/test-server';
import { launchBrowser, type Browser } from './harness';

const SMALL = 64 * 1024;
const dir = mkdtempSync(join(tmpdir(), 'rooms-browser-deflate-limit-'));
const cert = join(dir, 'cert.pem');
const key = join(dir, 'key.pem');
const servers: Record<'ws' | 'wss' | 'default', TestServer | null> = { ws: null, wss: null, default: null };
let browser: Browser | null = null;
const sockets: WebSocket[] = [];

test.before(async () => {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=rooms-browser', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  servers.ws = await startTestServer({ maxMessageBytes: SMALL });
  servers.wss = await startTestServer({ maxMessageBytes: SMALL, tlsCert: cert, tlsKey: key });
  servers.default = await startTestServer();
  // The throwaway certificate is self-signed.
  browser = await launchBrowser(['--ignore-certificate-errors']);
});
test.after(async () => {
  for (const ws of sockets) ws.terminate();
  await browser?.close();
  for (const t of Object.values(servers)) await t?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function open(t: TestServer, room: string, name: string, deflate: boolean): Promise<WebSocket> {
  const ws = new WebSocket(`${t.url}/?room=${room}&name=${name}`, { rejectUnauthorized: false, ...(deflate ? {} : { perMessageDeflate: false }) });
  sockets.push(ws);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function firstMessage(ws: WebSocket): Promise<{ sha256: string; length: number; binary: boolean }> {
  return new Promise((resolve) =>
    ws.once('message', (data: Buffer, binary: boolean) => resolve({ sha256: createHash('sha256').update(data).digest('hex'), length: data.length, binary })),
  );
}

interface PageResult {
  extensions: string;
  sha256: string;
  close: { code: number; reason: string } | null;
}

/**
 * In the page: join, send `size` random bytes (or base64 text of that length), and report
 * the digest, and the close if the server closes before the room says "done" (or `waitMs`).
 */
async function sendFromPage(t: TestServer, room: string, kind: 'binary' | 'text', size: number, waitMs: number): Promise<PageResult> {
  const page = await browser!.context.newPage();
  try {
    const base = t.url.replace(/^ws/, 'http');
    await page.goto(`${base}/`);
    return await page.evaluate(
      async ({ url, kind, size, waitMs }) => {
        const bytes = new Uint8Array(size);
        for (let i = 0; i < size; i += 65536) crypto.getRandomValues(bytes.subarray(i, Math.min(size, i + 65536)));
        let payload: Uint8Array | string = bytes;
        let wire = bytes;
        if (kind === 'text') {
          let binary = '';
          for (let i = 0; i < bytes.length; i += 8192) binary += String.fromCharCode(...bytes.subarray(i, i + 8192));
          payload = btoa(binary).slice(0, size);
          wire = new TextEncoder().encode(payload);
        }
        const digest = Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', wire)), (b) => b.toString(16).padStart(2, '0')).join('');
        const ws = new WebSocket(url);
        ws.binaryType = 'arraybuffer';
        await new Promise((resolve, reject) => {
          ws.onopen = resolve;
          ws.onerror = reject;
        });
        const closed = new Promise<{ code: number; reason: string }>((resolve) => (ws.onclose = (e) => resolve({ code: e.code, reason: e.reason })));
        const done = new Promise<null>((resolve) => (ws.onmessage = (e) => e.data === 'done' && resolve(null)));
        ws.send(payload);
        const close = await Promise.race([closed, done, new Promise<null>((resolve) => setTimeout(() => resolve(null), waitMs))]);
        const extensions = ws.extensions;
        if (close === null) ws.close(1000);
        return { extensions, sha256: digest, close };
      },
      { url: `${t.url}/?room=${room}&name=browser`, kind, size, waitMs },
    );
  } finally {
    await page.close();
  }
}

let rooms = 0;
async function atLimit(t: TestServer, kind: 'binary' | 'text', limit: number): Promise<void> {
  const inflatedBefore = t.server.compressionStats.inflatedTo;
  const room = `browser-limit-${++rooms}`;
  const compressing = await open(t, room, 'compressing', true);
  const plain = await open(t, room, 'plain', false);
  const got = Promise.all([firstMessage(compressing), firstMessage(plain)]);
  const sending = sendFromPage(t, room, kind, limit, 20_000);
  const received = await Promise.race([got, sending.then((r) => Promise.reject(new Error(`the page ended first: ${JSON.stringify(r.close)}`)))]);
  // Sent after the relay: a 1009 would have reached the page before this.
  compressing.send('done');
  const sent = await sending;
  assert.match(sent.extensions, /^permessage-deflate/);
  assert.is(sent.close, null, `not closed: ${JSON.stringify(sent.close)}`);
  for (const message of received) assert.equal(message, { sha256: sent.sha256, length: limit, binary: kind === 'binary' });
  assert.ok(t.server.compressionStats.inflatedTo - inflatedBefore >= limit, 'Chromium sent it compressed');

  const overRoom = `browser-over-${++rooms}`;
  const watcher = await open(t, overRoom, 'watcher', true);
  const heard = firstMessage(watcher);
  const over = await sendFromPage(t, overRoom, kind, limit + 1, 10_000);
  assert.equal(over.close, { code: 1009, reason: `message over ${limit} bytes` });
  const other = await open(t, overRoom, 'other', false);
  other.send('after');
  assert.is((await heard).length, 'after'.length, 'nothing of the refused message was relayed');
  for (const ws of [compressing, plain, watcher, other]) ws.close();
}

for (const scheme of ['ws', 'wss'] as const) {
  for (const kind of ['binary', 'text'] as const) {
    test(`Chromium over ${scheme}://, ${kind}: exactly MAX_MESSAGE_BYTES relayed whole; one byte more is 1009`, async () => {
      await atLimit(servers[scheme]!, kind, SMALL);
    });
  }
}

test('Chromium, the 1 MiB default: 1 MiB of random bytes relayed whole; one byte more is 1009', async () => {
  assert.is(servers.default!.settings.maxMessageBytes, 1 << 20);
  await atLimit(servers.default!, 'binary', 1 << 20);
});

test.run();
