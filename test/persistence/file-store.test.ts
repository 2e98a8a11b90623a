// The embedded file store on a real disk: round trip across reopen, group
// commit, no temp files left, and every kind of bad file refused at start with
// the file left byte for byte as it was.

import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeSnapshot, encodeSnapshot, FileBackend } from '../../src/persistence/file';
import { QueuedStore } from '../../src/persistence/queued-store';
import { createStore, StoreStartError, type RoomRecord } from '../../src/persistence/store';

const rec = (room: string, owner = 'ann', status: RoomRecord['status'] = 'live'): RoomRecord => ({
  room,
  owner,
  createdAt: 1_700_000_000_123,
  status,
  lastActivity: 1_700_000_000_999,
});

let base = '';
test.before(async () => {
  base = await mkdtemp(join(tmpdir(), 'rooms-file-store-'));
});
test.after(async () => {
  await rm(base, { recursive: true, force: true });
});

let n = 0;
const freshDir = () => join(base, `case${++n}`, 'nested', 'data');

async function expectStartError(dir: string, mustMention: RegExp): Promise<string> {
  const store = createStore({ dataDir: dir });
  try {
    await store.open();
  } catch (err) {
    assert.instance(err, StoreStartError);
    const message = (err as Error).message;
    assert.match(message, join(dir, 'rooms.json'));
    assert.match(message, mustMention);
    assert.match(message, /left untouched/);
    return message;
  }
  throw new Error('open() should have thrown StoreStartError');
}

test('creates the folder, saves durably, reopens with the same rooms', async () => {
  const dir = freshDir();
  const store = createStore({ dataDir: dir });
  assert.is(store.kind, 'file');
  assert.is(store.description, `file ${join(dir, 'rooms.json')}`);
  assert.equal(await store.open(), []);
  assert.is(store.health().state, 'up');
  assert.is(await store.save(rec('Ops', 'Zoë 🦊')), 'durable');
  assert.is(await store.save(rec('ops', 'bob', 'idle')), 'durable');
  assert.is(await store.save(rec('gone')), 'durable');
  assert.is(await store.remove('gone'), 'durable');
  // durable means on disk now, before close
  const onDisk = decodeSnapshot(await readFile(join(dir, 'rooms.json'), 'utf8'));
  assert.equal(onDisk.map((r) => r.room).sort(), ['Ops', 'ops']);
  await store.close();

  const again = createStore({ dataDir: dir });
  const rooms = await again.open();
  assert.equal(
    rooms.sort((a, b) => a.room.localeCompare(b.room)),
    [rec('ops', 'bob', 'idle'), rec('Ops', 'Zoë 🦊')].sort((a, b) => a.room.localeCompare(b.room)),
  );
  await again.close();
});

test('the file carries its format and version, one room per line', async () => {
  const text = encodeSnapshot([rec('a'), rec('b')], new Date(0));
  const doc = JSON.parse(text) as { format: string; version: number; savedAt: string; rooms: unknown[] };
  assert.is(doc.format, 'rooms-store');
  assert.is(doc.version, 1);
  assert.is(doc.rooms.length, 2);
  assert.is(text.split('\n').length, 5);
  assert.equal(decodeSnapshot(encodeSnapshot([])), []);
});

test('group commit: 200 concurrent saves, few file writes, no temp files left', async () => {
  const dir = freshDir();
  const backend = new FileBackend(dir);
  const store = new QueuedStore(backend, { maxPendingWrites: 1000, log: () => undefined, backoff: { minMs: 10, maxMs: 50 }, closeTimeoutMs: 2000, heartbeatMs: 0 });
  await store.open();
  const outcomes = await Promise.all(Array.from({ length: 200 }, (_, i) => store.save(rec(`room-${i}`))));
  assert.ok(outcomes.every((o) => o === 'durable'));
  assert.ok(backend.writes <= 5, `expected a handful of snapshot writes, got ${backend.writes}`);
  assert.is(decodeSnapshot(await readFile(backend.path, 'utf8')).length, 200);
  assert.equal(await readdir(dir), ['rooms.json']);
  await store.close();
});

test('a temp file left by a crash mid-write is ignored and cleaned up', async () => {
  const dir = freshDir();
  const store = createStore({ dataDir: dir });
  await store.open();
  await store.save(rec('kept'));
  await store.close();
  await writeFile(join(dir, 'rooms.json.tmp-999-1'), '{"format":"rooms-store","version":1,"rooms":[{"room":"half');
  const again = createStore({ dataDir: dir });
  assert.equal((await again.open()).map((r) => r.room), ['kept']);
  assert.equal(await readdir(dir), ['rooms.json']);
  await again.close();
});

for (const [name, content, mention] of [
  ['garbage', 'this is not json at all \u0000\u0001', /not valid JSON/],
  ['truncated JSON', '{"format":"rooms-store","version":1,"rooms":[{"room":"a","owner":"x"', /not valid JSON/],
  ['an empty file', '', /not valid JSON/],
  ['another JSON document', '{"hello":"world"}', /not a rooms store file/],
  ['a newer format version', '{"format":"rooms-store","version":2,"rooms":[]}', /version 2/],
  ['a room without owner', '{"format":"rooms-store","version":1,"rooms":[{"room":"a","createdAt":1,"status":"live","lastActivity":1}]}', /no owner/],
  [
    'a duplicated key',
    '{"format":"rooms-store","version":1,"rooms":[{"room":"a","owner":"x","createdAt":1,"status":"live","lastActivity":1},{"room":"a","owner":"y","createdAt":1,"status":"live","lastActivity":1}]}',
    /twice/,
  ],
] as const) {
  test(`corrupt file (${name}) stops the start and stays byte-identical`, async () => {
    const dir = freshDir();
    await mkdir(dir, { recursive: true });
    const bytes = Buffer.from(content, 'utf8');
    await writeFile(join(dir, 'rooms.json'), bytes);
    await expectStartError(dir, mention);
    assert.ok((await readFile(join(dir, 'rooms.json'))).equals(bytes));
    assert.equal(await readdir(dir), ['rooms.json']);
  });
}

test('an unreadable rooms.json (a folder) stops the start, untouched', async () => {
  const dir = freshDir();
  await mkdir(join(dir, 'rooms.json', 'inside'), { recursive: true });
  await expectStartError(dir, /EISDIR/);
  assert.equal(await readdir(join(dir, 'rooms.json')), ['inside']);
});

test('a DATA_DIR that cannot be created stops the start', async () => {
  const file = join(base, 'plain-file');
  await writeFile(file, 'x');
  const store = createStore({ dataDir: join(file, 'data') });
  try {
    await store.open();
    assert.unreachable('should throw');
  } catch (err) {
    assert.instance(err, StoreStartError);
    assert.match((err as Error).message, /cannot create DATA_DIR/);
  }
});

test('a failing disk makes the store down and queued; it recovers and writes', async () => {
  const dir = freshDir();
  const store = createStore({ dataDir: dir, backoff: { minMs: 20, maxMs: 50 } });
  await store.open();
  assert.is(await store.save(rec('before')), 'durable');
  // Replace the folder by a file: every write now fails (ENOTDIR), as a gone disk would.
  await rm(dir, { recursive: true });
  await writeFile(dir, 'not a folder');
  assert.is(await store.save(rec('during')), 'queued');
  const h = store.health();
  assert.is(h.state, 'down');
  assert.ok(h.errors >= 1 && h.lastError !== null);
  assert.is(h.pendingWrites, 1);
  await rm(dir);
  const end = Date.now() + 3000;
  while (store.health().pendingWrites > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  assert.is(store.health().state, 'up');
  assert.equal(decodeSnapshot(await readFile(join(dir, 'rooms.json'), 'utf8')).map((r) => r.room).sort(), ['before', 'during']);
  await store.close();
});

test.run();
