// Starts that must not go on, the server as a child process: a corrupt or
// unreadable embedded file, a malformed MARIADB_URL, a wrong password, a user
// without privileges. Each exits non-zero with a clear message (never a stack
// trace, never the password), without touching what is stored: the file stays
// byte-identical and the rows stay; with the right settings the rooms are back.

import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join as joinPath } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ADMIN_URL, freshDatabase, randomName, urlFor, withConnection, type TestDatabase } from '../helpers/mariadb';
import { runFailingStart, startServerProcess, stopAllServerProcesses, type FailedStart } from '../helpers/server-process';
import { ADMIN_TOKEN, adminRoomMap, cleanup, join, tempDataDir, terminateClients, type AdminRoom } from './support';

let db: TestDatabase | null = null;
const users: string[] = [];

test.after(async () => {
  cleanup();
  await stopAllServerProcesses();
  for (const user of users) await withConnection(ADMIN_URL, undefined, (c) => c.query(`DROP USER IF EXISTS '${user}'@'%'`)).catch(() => undefined);
  await db?.drop();
});
test.after.each(() => terminateClients());

/** Exit code 3 and one "rooms: cannot start: ..." line on stderr, no stack trace, no ready line. */
function assertRefused(result: FailedStart, what: string): string {
  const all = `${result.stdout}\n${result.stderr}`;
  assert.is(result.status.code, 3, `${what}: exit code 3 (got ${JSON.stringify(result.status)})\n${all}`);
  const lines = result.stderr.split('\n').filter((l) => l !== '');
  assert.is(lines.length, 1, `${what}: exactly one line on stderr\n${result.stderr}`);
  const line = lines[0]!;
  assert.ok(line.startsWith('rooms: cannot start: '), `${what}: a "rooms: cannot start:" line on stderr\n${all}`);
  assert.not.match(line, /[\u0000-\u001f\u007f\ufffd]/, `${what}: no control characters or broken bytes (from the file) in the message: ${JSON.stringify(line)}`);
  assert.not.match(all, /\n\s+at .*:\d+:\d+/, `${what}: no stack trace\n${all}`);
  assert.not.match(result.stdout, /listening on/, `${what}: never ready`);
  return line;
}

// --- the embedded file ---------------------------------------------------------

let goodFile: Buffer;
let goodRooms: Map<string, AdminRoom>;

async function storeWithRooms(): Promise<string> {
  const dataDir = tempDataDir();
  const srv = await startServerProcess({ env: { DATA_DIR: dataDir, ADMIN_TOKEN } });
  await join(srv.url, 'kept-1', 'ann');
  await join(srv.url, 'kept-2', 'bob');
  goodRooms = await adminRoomMap(srv.httpUrl);
  await srv.kill9();
  // The rooms are in rooms.log until a start folds it into rooms.json.
  await srv.restart();
  await srv.term();
  goodFile = readFileSync(joinPath(dataDir, 'rooms.json'));
  return dataDir;
}

const CORRUPTIONS: Array<[what: string, damage: (good: Buffer) => Buffer, says: RegExp]> = [
  ['a torn write (the file cut in the middle)', (good) => good.subarray(0, Math.floor(good.length / 2)), /not valid JSON/],
  ['another program\'s JSON', () => Buffer.from('{"hello":"world"}\n'), /not a rooms store file/],
  ['binary garbage', () => Buffer.from([0x00, 0xff, 0x13, 0x37, 0x80, 0x81, 0x0a]), /not valid JSON/],
  ['a format version from the future', (good) => Buffer.from(good.toString('utf8').replace('"version":1', '"version":99')), /version 99/],
  ['a room listed twice', (good) => Buffer.from(good.toString('utf8').replace('"room":"kept-2"', '"room":"kept-1"')), /appears twice/],
];

for (const [what, damage, says] of CORRUPTIONS) {
  test(`corrupt embedded file, ${what}: exits non-zero naming the file, which stays byte-identical`, async () => {
    const dataDir = await storeWithRooms();
    const file = joinPath(dataDir, 'rooms.json');
    const corrupt = damage(goodFile);
    assert.not.ok(corrupt.equals(goodFile), 'the damage changed something');
    writeFileSync(file, corrupt);
    const listing = readdirSync(dataDir).sort();

    const result = await runFailingStart({ env: { DATA_DIR: dataDir, ADMIN_TOKEN } });
    const line = assertRefused(result, what);
    assert.ok(line.includes(file), `the message names the file ${file}: ${line}`);
    assert.match(line, says, `the message says what is wrong: ${line}`);
    assert.match(line, /left untouched/);
    assert.ok(readFileSync(file).equals(corrupt), 'the corrupt file is byte-identical afterwards');
    assert.equal(readdirSync(dataDir).sort(), listing, 'no file added or removed next to it');

    // Once repaired (the good bytes back), every room is there again.
    writeFileSync(file, goodFile);
    const srv = await startServerProcess({ env: { DATA_DIR: dataDir, ADMIN_TOKEN } });
    const rooms = await adminRoomMap(srv.httpUrl);
    assert.equal([...rooms.keys()], [...goodRooms.keys()]);
    for (const r of goodRooms.values()) assert.is(rooms.get(r.room)?.createdAt, r.createdAt);
    await srv.kill9();
  });
}

test('unreadable embedded file (rooms.json is a folder): exits non-zero naming it, leaves it alone', async () => {
  const dataDir = tempDataDir();
  const file = joinPath(dataDir, 'rooms.json');
  mkdirSync(file);
  writeFileSync(joinPath(file, 'inside'), 'x');
  const result = await runFailingStart({ env: { DATA_DIR: dataDir } });
  const line = assertRefused(result, 'rooms.json is a folder');
  assert.ok(line.includes(file), line);
  assert.match(line, /cannot read the room store/);
  assert.equal(readdirSync(file), ['inside']);
  assert.equal(readdirSync(dataDir), ['rooms.json']);
});

// --- the pending-writes journal -------------------------------------------------------

const BAD_JOURNALS: Array<[what: string, bytes: Buffer, says: RegExp]> = [
  ['binary garbage', Buffer.from([0x00, 0xff, 0x13, 0x37, 0x80, 0x81, 0x0a]), /is unreadable: it is not valid JSON/],
  [
    'owed to another store',
    Buffer.from('{"format":"rooms-pending-writes","version":1,"store":"mariadb db.example:3306/rooms","savedAt":"2024-01-01T00:00:00.000Z","ops":[\n{"op":"remove","room":"x"}\n]}\n'),
    /holds 1 room write\(s\) owed to "mariadb db\.example:3306\/rooms", but this server is set to use "file"/,
  ],
];

for (const [what, bytes, says] of BAD_JOURNALS) {
  test(`pending-writes journal ${what}: exits non-zero naming it, which stays byte-identical; the rooms are kept`, async () => {
    const dataDir = await storeWithRooms();
    const journal = joinPath(dataDir, 'pending-writes.json');
    writeFileSync(journal, bytes);
    const result = await runFailingStart({ env: { DATA_DIR: dataDir, ADMIN_TOKEN } });
    const line = assertRefused(result, what);
    assert.ok(line.includes(journal), `the message names the journal ${journal}: ${line}`);
    assert.match(line, says, line);
    assert.match(line, /left untouched/);
    assert.ok(readFileSync(journal).equals(bytes), 'the journal is byte-identical afterwards');
    assert.ok(readFileSync(joinPath(dataDir, 'rooms.json')).equals(goodFile), 'the store too');
  });
}

// --- MariaDB settings --------------------------------------------------------------

const MALFORMED: Array<[what: string, url: string, says: RegExp]> = [
  ['not a URL', 'root at 127.0.0.1 please', /MARIADB_URL is not a URL/],
  ['another scheme', 'postgres://root@127.0.0.1:5432/rooms', /scheme "postgres:"/],
  ['no database', 'mariadb://root@127.0.0.1:3306', /names no database/],
  ['no user', 'mariadb://127.0.0.1:3306/rooms', /has no user/],
  ['a database name needing quotes, with a password', 'mariadb://app:S3cret-Pa55@127.0.0.1:3306/rooms%60%3B%20DROP', /database name/],
  ['options after the database', 'mariadb://app:S3cret-Pa55@127.0.0.1:3306/rooms?ssl=true', /options after the database name/],
];

for (const [what, url, says] of MALFORMED) {
  test(`MARIADB_URL malformed (${what}): a clear message, exit non-zero, the password never printed`, async () => {
    const dataDir = tempDataDir();
    const result = await runFailingStart({ env: { MARIADB_URL: url, DATA_DIR: dataDir } });
    const line = assertRefused(result, what);
    assert.match(line, says, line);
    assert.match(line, /expected mariadb:\/\/USER\[:PASSWORD\]@HOST\[:PORT\]\/DATABASE/, line);
    assert.not.ok(`${result.stdout}${result.stderr}`.includes('S3cret-Pa55'), 'the password is not printed');
    assert.equal(readdirSync(dataDir), [], 'the embedded store is not used instead');
  });
}

// --- MariaDB accounts ---------------------------------------------------------------

let stored: Array<Record<string, unknown>> = [];

async function allRows(): Promise<Array<Record<string, unknown>>> {
  return db!.query<Array<Record<string, unknown>>>('SELECT room_key, owner, created_at, status, last_activity, updated_at FROM rooms ORDER BY room_key');
}

async function createUser(grants: string[]): Promise<{ name: string; password: string }> {
  const name = randomName('rooms_u');
  const password = `pw-${randomName('x')}`;
  users.push(name);
  await withConnection(ADMIN_URL, undefined, async (c) => {
    await c.query(`CREATE USER '${name}'@'%' IDENTIFIED BY '${password}'`);
    for (const grant of grants) await c.query(`GRANT ${grant} ON \`${db!.name}\`.* TO '${name}'@'%'`);
  });
  return { name, password };
}

test('MariaDB setup: a real server stores rooms in a fresh database', async () => {
  db = await freshDatabase();
  const srv = await startServerProcess({ env: { MARIADB_URL: db.url, DATA_DIR: tempDataDir(), ADMIN_TOKEN } });
  await join(srv.url, 'precious', 'ann');
  await join(srv.url, 'Precious', 'bob');
  await srv.kill9();
  stored = await allRows();
  assert.equal(
    stored.map((r) => [r.room_key, r.owner]),
    [
      ['Precious', 'bob'],
      ['precious', 'ann'],
    ],
  );
});

test('wrong password: a clear message naming the user, exit non-zero, the rows untouched', async () => {
  const user = await createUser(['SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX']);
  const wrong = 'Not-The-Password-42';
  const result = await runFailingStart({ env: { MARIADB_URL: urlFor(ADMIN_URL, db!.name, { name: user.name, password: wrong }), DATA_DIR: tempDataDir() } });
  const line = assertRefused(result, 'wrong password');
  assert.match(line, new RegExp(`refused the login of user "${user.name}"`), line);
  assert.match(line, /wrong user or password/, line);
  assert.not.ok(`${result.stdout}${result.stderr}`.includes(wrong), 'the password is not printed');
  assert.equal(await allRows(), stored, 'every row as it was');

  // The same user with the right password starts and sees the rooms.
  const srv = await startServerProcess({ env: { MARIADB_URL: urlFor(ADMIN_URL, db!.name, { name: user.name, password: user.password }), DATA_DIR: tempDataDir(), ADMIN_TOKEN } });
  assert.equal([...(await adminRoomMap(srv.httpUrl)).keys()], ['Precious', 'precious']);
  await srv.term();
});

test('a user without any privilege on the database: a clear message with the GRANT to run, exit non-zero, the rows untouched', async () => {
  const user = await createUser([]);
  const result = await runFailingStart({ env: { MARIADB_URL: urlFor(ADMIN_URL, db!.name, { name: user.name, password: user.password }), DATA_DIR: tempDataDir() } });
  const line = assertRefused(result, 'no privileges');
  assert.match(line, new RegExp(`user "${user.name}" has no access to database "${db!.name}"`), line);
  assert.match(line, /GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX/, line);
  assert.not.ok(`${result.stdout}${result.stderr}`.includes(user.password), 'the password is not printed');
  assert.equal(await allRows(), stored, 'every row as it was');
});

test('a read-only user: refused at start (not a server that queues writes forever), the rows untouched', async () => {
  const user = await createUser(['SELECT']);
  const result = await runFailingStart({ env: { MARIADB_URL: urlFor(ADMIN_URL, db!.name, { name: user.name, password: user.password }), DATA_DIR: tempDataDir() } });
  const line = assertRefused(result, 'read-only user');
  assert.match(line, new RegExp(`user "${user.name}" lacks a privilege on database "${db!.name}"`), line);
  assert.match(line, /nothing stored was changed/, line);
  assert.equal(await allRows(), stored, 'every row as it was (the write probe left nothing behind)');
});

test.run();
