// The MariaDB store against the shared server (MARIADB_URL, default root on
// 127.0.0.1:3306) in a fresh database per run: schema, round trip, exact keys,
// and every bad start (URL, unreachable, no privileges) with a clear outcome.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_MARIADB_OPTIONS, MariadbBackend } from '../../src/persistence/mariadb';
import { describeTarget, identifyTarget, parseMariadbUrl } from '../../src/persistence/mariadb-url';
import { applySchema, parseSchema } from '../../src/persistence/schema';
import { createStore, StoreStartError, type RoomRecord, type RoomStore } from '../../src/persistence/store';
import { ADMIN_URL, freePort, freshDatabase, randomName, urlFor, withConnection, type TestDatabase } from '../helpers/mariadb';
import { readFile } from 'node:fs/promises';

/** Each store gets its own DATA_DIR: a store closed while down spills its pending writes there (pending-writes.json). */
const scratch: string[] = [];
function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rooms-journal-'));
  scratch.push(dir);
  return dir;
}

let db: TestDatabase;
const extraDatabases: string[] = [];
const users: string[] = [];
const stores: RoomStore[] = [];

test.before(async () => {
  db = await freshDatabase();
});
test.after(async () => {
  for (const s of stores) await s.close().catch(() => undefined);
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
  await withConnection(ADMIN_URL, undefined, async (c) => {
    for (const u of users) await c.query(`DROP USER IF EXISTS '${u}'@'%'`);
    for (const d of extraDatabases) await c.query(`DROP DATABASE IF EXISTS \`${d}\``);
  });
  await db.drop();
});

function open(url: string, extra: Parameters<typeof createStore>[0] extends infer O ? Partial<O> : never = {}): RoomStore {
  const store = createStore({ mariadbUrl: url, dataDir: scratchDir(), heartbeatMs: 0, ...extra });
  stores.push(store);
  return store;
}

async function startError(url: string): Promise<StoreStartError> {
  const store = open(url);
  try {
    await store.open();
  } catch (err) {
    assert.instance(err, StoreStartError);
    return err as StoreStartError;
  }
  throw new Error('open() should have thrown StoreStartError');
}

const rec = (room: string, owner: string, createdAt: number, status: RoomRecord['status'] = 'live'): RoomRecord => ({
  room,
  owner,
  createdAt,
  status,
  lastActivity: createdAt + 1,
});

const byRoom = (a: RoomRecord, b: RoomRecord) => (a.room < b.room ? -1 : a.room > b.room ? 1 : 0);

test('open applies the schema; a second open (and a second apply) changes nothing', async () => {
  const first = open(db.url);
  assert.equal(await first.open(), []);
  assert.is(first.kind, 'mariadb');
  assert.is(first.health().state, 'up');
  await first.close();
  const tableBefore = await db.query<{ 'Create Table': string }[]>('SHOW CREATE TABLE rooms');
  const second = open(db.url);
  assert.equal(await second.open(), []);
  await second.close();
  const steps = parseSchema(await readFile(new URL('../../schema.sql', import.meta.url), 'utf8'));
  const again = await withConnection(db.url, db.name, (c) => applySchema(c, steps));
  assert.equal(again.applied, []);
  const versions = await db.query<{ version: number }[]>('SELECT version FROM schema_version ORDER BY version');
  assert.equal(
    versions.map((v) => v.version),
    steps.map((s) => s.version),
  );
  const tableAfter = await db.query<{ 'Create Table': string }[]>('SHOW CREATE TABLE rooms');
  assert.is(tableAfter[0]!['Create Table'], tableBefore[0]!['Create Table']);
});

test('a later schema step runs once, and only once', async () => {
  const base = parseSchema(await readFile(new URL('../../schema.sql', import.meta.url), 'utf8'));
  const next = base.length + 1;
  const withStep = parseSchema(
    (await readFile(new URL('../../schema.sql', import.meta.url), 'utf8')) +
      `\n-- @step ${next}: a marker table\nCREATE TABLE migration_marker (n INT PRIMARY KEY);\nINSERT INTO migration_marker VALUES (1);\n`,
  );
  // Run twice: the INSERT would fail on a second run if the step were not guarded.
  const r1 = await withConnection(db.url, db.name, (c) => applySchema(c, withStep));
  const r2 = await withConnection(db.url, db.name, (c) => applySchema(c, withStep));
  assert.equal(r1.applied, [next]);
  assert.equal(r2.applied, []);
  assert.is(r2.from, next);
  await db.query('DROP TABLE migration_marker');
  await db.query('DELETE FROM schema_version WHERE version = ?', [next]);
});

test('schema parsing refuses a misnumbered or empty file', () => {
  assert.throws(() => parseSchema('-- @step 2: x\nSELECT 1;'), /numbered/);
  assert.throws(() => parseSchema('-- nothing here'), /no "-- @step/);
  assert.throws(() => parseSchema('SELECT 1;\n-- @step 1: x\nSELECT 1;'), /before its first/);
  assert.equal(parseSchema('-- @step 1: two\nSELECT 1;\n-- comment\nSELECT\n  2;\n')[0]!.statements, ['SELECT 1', 'SELECT\n  2']);
});

test('round trip: owner, createdAt to the millisecond, status, lastActivity; upsert; remove', async () => {
  const store = open(db.url);
  await store.open();
  const rooms = [
    rec('alpha', 'Zoë 🦊 — 東京', 1_700_000_000_123),
    rec('beta', 'b'.repeat(64), 1_700_000_000_999, 'idle'),
    rec('k'.repeat(128), 'long key', 1),
    rec('A-Z_a-z.0-9~', 'punct', 1_234_567_890_001),
  ];
  for (const r of rooms) assert.is(await store.save(r), 'durable');
  assert.is(await store.save({ ...rooms[0]!, status: 'idle', lastActivity: 1_800_000_000_000 }), 'durable');
  assert.is(await store.save(rec('doomed', 'x', 5)), 'durable');
  assert.is(await store.remove('doomed'), 'durable');
  assert.is(await store.remove('never-existed'), 'durable');
  await store.close();

  const reopened = open(db.url);
  const loaded = (await reopened.open()).sort(byRoom);
  const expected = [{ ...rooms[0]!, status: 'idle' as const, lastActivity: 1_800_000_000_000 }, ...rooms.slice(1)].sort(byRoom);
  assert.equal(loaded, expected);
  await reopened.close();
  await db.query('DELETE FROM rooms');
});

test('the merge rule in SQL: a save keeps the stored creation (owner, created_at), even against an earlier one; a save that replaces a removed room does not', async () => {
  const backend = new MariadbBackend(db.url, { ...DEFAULT_MARIADB_OPTIONS, log: () => undefined });
  await backend.connect();
  try {
    await backend.write([
      { kind: 'save', room: 'steady', record: rec('steady', 'ann', 1000, 'idle') },
      { kind: 'save', room: 'reborn', record: rec('reborn', 'ann', 1000, 'idle') },
    ]);
    // bob walked into "steady" not knowing it was stored; "reborn" was purged and zed created it again
    await backend.write([
      { kind: 'save', room: 'steady', record: rec('steady', 'bob', 5000) },
      { kind: 'save', room: 'reborn', record: rec('reborn', 'zed', 5000), replaces: true },
    ]);
    const rows = async () => new Map((await backend.load()).map((r) => [r.room, r]));
    let got = await rows();
    assert.equal(got.get('steady'), { ...rec('steady', 'bob', 5000), owner: 'ann', createdAt: 1000 }, 'ann and her created_at kept; status and last_activity are the save\'s');
    assert.equal(got.get('reborn'), rec('reborn', 'zed', 5000));
    // one statement alone (autocommit) behaves the same; an earlier creation that lands second does not take the room over
    await backend.write([{ kind: 'save', room: 'steady', record: rec('steady', 'eve', 500) }]);
    await backend.write([{ kind: 'save', room: 'reborn', record: rec('reborn', 'yan', 9000, 'idle'), replaces: true }]);
    got = await rows();
    assert.equal(got.get('steady'), { ...rec('steady', 'eve', 500), owner: 'ann', createdAt: 1000 });
    // two creations in the same millisecond are told apart: the second keeps neither its owner nor its access
    await backend.write([{ kind: 'save', room: 'twin', record: { ...rec('twin', 'ann', 3000), ownerTokenHash: 'aa' } }]);
    await backend.write([{ kind: 'save', room: 'twin', record: { ...rec('twin', 'bob', 3000), ownerTokenHash: 'bb', locked: true } }]);
    await backend.write([{ kind: 'save', room: 'twin', record: { ...rec('twin', 'ann', 3000), ownerTokenHash: 'aa', secretHash: 'scrypt$s' } }]);
    got = await rows();
    assert.equal(got.get('twin'), { ...rec('twin', 'ann', 3000), ownerTokenHash: 'aa', secretHash: 'scrypt$s' }, 'the stored creation writes its own access; the twin changed nothing');
    assert.equal(got.get('reborn'), rec('reborn', 'yan', 9000, 'idle'));
  } finally {
    await backend.close();
  }
  await db.query('DELETE FROM rooms');
});

test('keys are exact: Ops and ops are two rows', async () => {
  const store = open(db.url);
  await store.open();
  assert.is(await store.save(rec('Ops', 'upper', 1000)), 'durable');
  assert.is(await store.save(rec('ops', 'lower', 2000)), 'durable');
  assert.is(await store.save(rec('OPS', 'shout', 3000)), 'durable');
  const rows = await db.query<{ room_key: string; owner: string }[]>('SELECT room_key, owner FROM rooms ORDER BY owner');
  assert.equal(
    rows.map((r) => [r.room_key, r.owner]),
    [
      ['ops', 'lower'],
      ['OPS', 'shout'],
      ['Ops', 'upper'],
    ],
  );
  assert.is(await store.remove('ops'), 'durable');
  const left = await db.query<{ room_key: string }[]>('SELECT room_key FROM rooms ORDER BY room_key');
  assert.equal(
    left.map((r) => r.room_key),
    ['OPS', 'Ops'],
  );
  await store.close();
  await db.query('DELETE FROM rooms');
});

test('a row the database rejects (key outside the contract) is refused; the store stays up', async () => {
  const store = open(db.url);
  await store.open();
  assert.is(await store.save(rec('café', 'x', 1)), 'refused');
  assert.is(await store.save(rec('k'.repeat(129), 'x', 1)), 'refused');
  const h = store.health();
  assert.is(h.state, 'up');
  assert.is(h.pendingWrites, 0);
  assert.ok(h.errors >= 2);
  assert.is(await store.save(rec('fine', 'x', 1)), 'durable');
  const rows = await db.query<{ room_key: string }[]>('SELECT room_key FROM rooms');
  assert.equal(
    rows.map((r) => r.room_key),
    ['fine'],
  );
  await store.close();
  await db.query('DELETE FROM rooms');
});

test('many rooms in one batch (group commit over several statements)', async () => {
  const store = open(db.url);
  await store.open();
  const outcomes = await Promise.all(Array.from({ length: 1200 }, (_, i) => store.save(rec(`bulk-${i}`, `o${i}`, 1_700_000_000_000 + i))));
  assert.ok(outcomes.every((o) => o === 'durable'));
  const removals = await Promise.all(Array.from({ length: 600 }, (_, i) => store.remove(`bulk-${i * 2}`)));
  assert.ok(removals.every((o) => o === 'durable'));
  const count = await db.query<{ n: bigint }[]>('SELECT COUNT(*) AS n FROM rooms');
  assert.is(Number(count[0]!.n), 600);
  await store.close();
  await db.query('DELETE FROM rooms');
});

test('a missing database is created on first start', async () => {
  const name = randomName('rooms_test_new');
  extraDatabases.push(name);
  const store = open(urlFor(ADMIN_URL, name));
  assert.equal(await store.open(), []);
  assert.is(await store.save(rec('x', 'y', 1)), 'durable');
  await store.close();
  const rows = await withConnection(ADMIN_URL, name, (c) => c.query<{ room_key: string }[]>('SELECT room_key FROM rooms'));
  assert.equal(
    rows.map((r) => r.room_key),
    ['x'],
  );
});

test('malformed MARIADB_URL: StoreStartError that never repeats the password', async () => {
  for (const [url, why] of [
    ['not a url', /is not a URL/],
    ['http://root@127.0.0.1:3306/rooms', /scheme/],
    ['mariadb://127.0.0.1:3306/rooms', /no user/],
    ['mariadb://root:s3cret-pw@127.0.0.1:3306/', /names no database/],
    ['mariadb://root:s3cret-pw@127.0.0.1:3306/bad;name', /database name/],
    ['mariadb://root@127.0.0.1:3306/rooms?ssl=true', /options/],
    ['mariadb://root@127.0.0.1:99999/rooms', /is not a URL/],
  ] as const) {
    const err = await startError(url);
    assert.match(err.message, why, url);
    assert.match(err.message, /mariadb:\/\/USER/);
    assert.not.match(err.message, /s3cret/);
  }
});

test('description names user, host, port and database, never the password', () => {
  assert.is(identifyTarget(parseMariadbUrl('mariadb://app:p%40ss@db.example:3307/rooms')), 'mariadb db.example:3307/rooms', 'the journal is owed to the database, whoever logs in');
  const t = parseMariadbUrl('mariadb://app:p%40ss@db.example:3307/rooms');
  assert.equal(t, { host: 'db.example', port: 3307, user: 'app', password: 'p@ss', database: 'rooms' });
  assert.is(describeTarget(t), 'mariadb app@db.example:3307/rooms');
  assert.is(open('mariadb://app:secret@127.0.0.1/rooms').description, 'mariadb app@127.0.0.1:3306/rooms');
  assert.is(describeTarget(parseMariadbUrl('mysql://u@[::1]/d')), 'mariadb u@[::1]:3306/d');
});

test('nothing listening on the port: open resolves [] quickly, down, writes queued', async () => {
  const port = await freePort();
  const store = open(`mariadb://root@127.0.0.1:${port}/rooms`, { closeTimeoutMs: 300 });
  const t0 = Date.now();
  assert.equal(await store.open(), []);
  assert.ok(Date.now() - t0 < 3000, `open took ${Date.now() - t0} ms`);
  const h = store.health();
  assert.is(h.state, 'down');
  assert.ok(h.errors >= 1);
  assert.match(h.lastError ?? '', /ECONNREFUSED/);
  assert.is(await store.save(rec('r', 'o', 1)), 'queued');
  assert.is(store.health().pendingWrites, 1);
  const t1 = Date.now();
  await store.close();
  assert.ok(Date.now() - t1 < 2000);
});

test('wrong password: StoreStartError naming the user, not the password', async () => {
  const user = randomName('rooms_pw');
  users.push(user);
  await withConnection(ADMIN_URL, undefined, (c) => c.query(`CREATE USER '${user}'@'%' IDENTIFIED BY 'right-one'`));
  const err = await startError(urlFor(ADMIN_URL, db.name, { name: user, password: 'wrong-one' }));
  assert.match(err.message, /refused the login/);
  assert.match(err.message, user);
  assert.not.match(err.message, /wrong-one|right-one/);
});

test('a user without privileges on the database: StoreStartError with the GRANT to run', async () => {
  const user = randomName('rooms_nopriv');
  users.push(user);
  await withConnection(ADMIN_URL, undefined, (c) => c.query(`CREATE USER '${user}'@'%'`));
  const err = await startError(urlFor(ADMIN_URL, db.name, { name: user }));
  assert.match(err.message, /has no access to database/);
  assert.match(err.message, /GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX ON/);
  assert.match(err.message, db.name);
});

test('a read-only user: StoreStartError, and the stored rooms are still there', async () => {
  const seed = open(db.url);
  await seed.open();
  assert.is(await seed.save(rec('precious', 'owner', 42)), 'durable');
  await seed.close();
  const user = randomName('rooms_ro');
  users.push(user);
  await withConnection(ADMIN_URL, undefined, async (c) => {
    await c.query(`CREATE USER '${user}'@'%'`);
    await c.query(`GRANT SELECT ON \`${db.name}\`.* TO '${user}'@'%'`);
  });
  const err = await startError(urlFor(ADMIN_URL, db.name, { name: user }));
  assert.match(err.message, /lacks a privilege/);
  assert.match(err.message, /nothing stored was changed/);
  const rows = await db.query<{ room_key: string; owner: string }[]>('SELECT room_key, owner FROM rooms');
  assert.equal(rows, [{ room_key: 'precious', owner: 'owner' }]);
  await db.query('DELETE FROM rooms');
});

test('a database the user may not create: StoreStartError that says so', async () => {
  const user = randomName('rooms_nocreate');
  users.push(user);
  await withConnection(ADMIN_URL, undefined, (c) => c.query(`CREATE USER '${user}'@'%'`));
  const missing = randomName('rooms_test_missing');
  const err = await startError(urlFor(ADMIN_URL, missing, { name: user }));
  // MariaDB answers "access denied" rather than "unknown database" to a user
  // without rights there, so either message is acceptable; both are clear.
  assert.match(err.message, /has no access to database|does not exist/);
  assert.match(err.message, missing);
});

test.run();
