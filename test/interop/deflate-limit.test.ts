// MAX_MESSAGE_BYTES with real clients that offer permessage-deflate by default (ws,
// python-websockets): a message of exactly the limit, incompressible or not, is relayed
// whole to a compressing and to a plain member, over ws:// and wss://; one byte more
// closes the sender with 1009. Most cases use a 64 KiB limit; one uses the 1 MiB default.
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { defaultSettings } from '../../src/settings';
import { startTestServer, type TestServer } from '../helpers/test-server';

const SMALL = 64 * 1024;
const PYTHON = '/usr/bin/python3';
const PY_CLIENT = fileURLToPath(new URL('../helpers/python-deflate-client.py', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'rooms-deflate-limit-'));
const cert = join(dir, 'cert.pem');
const key = join(dir, 'key.pem');
const servers: Record<'ws' | 'wss' | 'default', TestServer | null> = { ws: null, wss: null, default: null };
const sockets: WebSocket[] = [];

test.before(async () => {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=rooms-deflate', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  servers.ws = await startTestServer({ maxMessageBytes: SMALL });
  servers.wss = await startTestServer({ maxMessageBytes: SMALL, tlsCert: cert, tlsKey: key });
  servers.default = await startTestServer();
});
test.after(async () => {
  for (const ws of sockets) ws.terminate();
  for (const t of Object.values(servers)) await t?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/** Random bytes, or (text) base64 of random bytes cut to exactly `size` ASCII bytes. */
function payloadOf(kind: 'binary' | 'text', size: number): Buffer | string {
  return kind === 'binary' ? randomBytes(size) : randomBytes(Math.ceil((size * 3) / 4) + 3).toString('base64').slice(0, size);
}

function open(t: TestServer, room: string, name: string, deflate: boolean): Promise<WebSocket> {
  // ws offers permessage-deflate by default; `false` makes the plain member.
  const ws = new WebSocket(`${t.url}/?room=${room}&name=${name}`, { rejectUnauthorized: false, ...(deflate ? {} : { perMessageDeflate: false }) });
  sockets.push(ws);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

interface Received {
  sha256: string;
  length: number;
  binary: boolean;
}
function firstMessage(ws: WebSocket): Promise<Received> {
  return new Promise((resolve) =>
    ws.once('message', (data: Buffer, binary: boolean) => resolve({ sha256: sha256(data), length: data.length, binary })),
  );
}
function closeOf(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })));
}

/** A compressing and a plain member, waiting in `room`. */
async function receivers(t: TestServer, room: string) {
  const compressing = await open(t, room, 'compressing', true);
  const plain = await open(t, room, 'plain', false);
  assert.is(compressing.extensions, 'permessage-deflate', 'the receiver negotiated deflate');
  assert.is(plain.extensions, '');
  return { compressing, plain, gotCompressing: firstMessage(compressing), gotPlain: firstMessage(plain) };
}

function runPython(url: string, kind: string, size: number): { lines: Promise<Array<Record<string, unknown>>>; sent: Promise<Record<string, unknown>> } {
  const child = spawn(PYTHON, [PY_CLIENT, url, kind, String(size)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let onSent: (line: Record<string, unknown>) => void = () => {};
  const sent = new Promise<Record<string, unknown>>((resolve) => (onSent = resolve));
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    const first = out.split('\n')[0]!;
    if (out.includes('\n')) onSent(JSON.parse(first) as Record<string, unknown>);
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const lines = new Promise<Array<Record<string, unknown>>>((resolve, reject) =>
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`python client exited ${code}\n${out}\n${err}`));
      resolve(out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>));
    }),
  );
  return { lines, sent };
}

/** `promise`, or a failure naming `what` after `ms`: a message that never comes fails the test, not the runner. */
function within<T>(promise: Promise<T>, what: string, ms = 20_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

let rooms = 0;
const cases = [
  ['ws', 'ws'],
  ['wss', 'ws'],
  ['ws', 'python-websockets'],
  ['wss', 'python-websockets'],
] as const;

for (const [scheme, client] of cases) {
  for (const kind of ['binary', 'text'] as const) {
    test(`${client} over ${scheme}://, ${kind}: exactly MAX_MESSAGE_BYTES is relayed whole to both members; one byte more is 1009`, async () => {
      const t = servers[scheme]!;
      await sendAtLimit(t, client, kind, SMALL);
    });
  }
}

test('python-websockets as a receiver (max_size 1 MiB on the wire) gets 1 MiB of random bytes: sent plain, not grown by deflate', async () => {
  const t = servers.default!;
  const room = `receiver-${++rooms}`;
  const python = runPython(`${t.url}/?room=${room}&name=listener`, 'receive', 0);
  const joined = await within(python.sent, 'python listener to join');
  assert.equal(joined, { event: 'joined', extensions: ['permessage-deflate'] });
  const sender = await open(t, room, 'sender', true);
  const payload = randomBytes(1 << 20);
  sender.send(payload);
  const lines = await within(python.lines, 'end of the python listener');
  assert.equal(lines[lines.length - 1], { event: 'received', sha256: sha256(payload), length: 1 << 20, binary: true });
  sender.close();
});

test('the 1 MiB default: ws and python-websockets send 1 MiB of random bytes, relayed whole; 1 MiB + 1 is 1009', async () => {
  const t = servers.default!;
  assert.is(t.settings.maxMessageBytes, defaultSettings().maxMessageBytes);
  assert.is(t.settings.maxMessageBytes, 1 << 20);
  await sendAtLimit(t, 'ws', 'binary', 1 << 20);
  await sendAtLimit(t, 'python-websockets', 'binary', 1 << 20);
  await sendAtLimit(t, 'ws', 'text', 1 << 20);
});

async function sendAtLimit(t: TestServer, client: 'ws' | 'python-websockets', kind: 'binary' | 'text', limit: number): Promise<void> {
  const inflatedBefore = t.server.compressionStats.inflatedTo;
  // Exactly the limit: relayed whole.
  const room = `limit-${++rooms}`;
  const members = await receivers(t, room);
  let sentSha: string;
  let finish: () => Promise<void>;
  if (client === 'ws') {
    const sender = await open(t, room, 'sender', true);
    assert.is(sender.extensions, 'permessage-deflate');
    const payload = payloadOf(kind, limit);
    sentSha = sha256(payload);
    sender.send(payload);
    finish = async () => sender.close();
  } else {
    const python = runPython(`${t.url}/?room=${room}&name=sender`, kind, limit);
    const sent = await within(python.sent, 'python client to connect');
    assert.equal(sent.extensions, ['permessage-deflate'], 'python-websockets negotiated deflate');
    sentSha = String(sent.sha256);
    finish = async () => {
      members.compressing.send('done');
      const lines = await within(python.lines, 'end of the python client');
      assert.equal(lines[lines.length - 1], { event: 'done' }, JSON.stringify(lines));
    };
  }
  const [compressed, plain] = await within(Promise.all([members.gotCompressing, members.gotPlain]), `relay of the ${limit}-byte message`);
  for (const got of [compressed, plain]) {
    assert.equal(got, { sha256: sentSha, length: limit, binary: kind === 'binary' });
  }
  await finish();
  // The message really arrived compressed, and was inflated to the limit.
  assert.ok(t.server.compressionStats.inflatedTo - inflatedBefore >= limit, 'the sender compressed it');

  // One byte more: the sender is closed with 1009, nothing is relayed.
  const overRoom = `over-${++rooms}`;
  const watchers = await receivers(t, overRoom);
  let close: { code: number | null; reason: string };
  if (client === 'ws') {
    const sender = await open(t, overRoom, 'sender', true);
    const closed = closeOf(sender);
    sender.send(payloadOf(kind, limit + 1));
    close = await within(closed, 'close of the sender');
  } else {
    const lines = await within(runPython(`${t.url}/?room=${overRoom}&name=sender`, kind, limit + 1).lines, 'end of the python client');
    const last = lines[lines.length - 1]!;
    assert.is(last.event, 'closed', JSON.stringify(lines));
    close = { code: last.code as number | null, reason: String(last.reason) };
  }
  assert.equal(close, { code: 1009, reason: `message over ${limit} bytes` });
  // The members stay, and heard nothing of it: the first thing they hear is each other.
  watchers.plain.send('still here');
  assert.equal(await within(watchers.gotCompressing, 'message between the members'), { sha256: sha256('still here'), length: 10, binary: false });
  for (const ws of [members.compressing, members.plain, watchers.compressing, watchers.plain]) ws.close();
}

test.run();
