// Rights that outlive the process, and credentials that go nowhere: a real
// server process on MariaDB with LOG_LEVEL=debug and --trace-frames; secrets and
// owner tokens used every way the contract allows; then every log line, trace
// line, /admin, /metrics, /healthz answer and every row of every table is
// searched for their bytes. After a restart the room is still protected and
// locked, and the owner token still makes its holder the owner.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ADMIN_URL, freshDatabase, withConnection, type TestDatabase } from '../helpers/mariadb';
import { destroyAllClients, RawClient } from '../helpers/raw-client';
import { startServerProcess, stopAllServerProcesses, type ServerProcess } from '../helpers/server-process';
import { waitUntil } from '../helpers/test-server';
import { attempt, jsonMember, rawMember, refusal } from './support';

const ADMIN = 'admin-token-persist-0123456789abcdef';
const FIRST = 'S3cret-Piano-Walrus';
const ROTATED = 'Rotated-Tuba-Otter-77';
const WRONG = 'Wrong-Guess-Ferret';
let db: TestDatabase;
let srv: ServerProcess;
let dataDir: string;

test.before(async () => {
  db = await freshDatabase();
  dataDir = mkdtempSync(join(tmpdir(), 'rooms-access-'));
  srv = await startServerProcess({ env: { MARIADB_URL: db.url, DATA_DIR: dataDir, LOG_LEVEL: 'debug', ADMIN_TOKEN: ADMIN }, args: ['--trace-frames'] });
});
test.after(async () => {
  destroyAllClients();
  await stopAllServerProcesses();
  await db.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** The ways a credential could be spelled in a leak: as is, base64url (the subprotocol), base64, hex. */
function spellings(credential: string): string[] {
  const bytes = Buffer.from(credential, 'utf8');
  const hexSpaced = bytes.subarray(0, 6).toString('hex').replace(/(..)(?!$)/g, '$1 ');
  return [credential, credential.slice(0, 8), bytes.toString('base64url'), bytes.toString('base64'), bytes.toString('hex'), hexSpaced];
}

function assertAbsent(haystack: string, credentials: readonly string[], where: string): void {
  for (const credential of credentials) for (const spelling of spellings(credential)) assert.not.ok(haystack.includes(spelling), `${where} contains a credential (${spelling.slice(0, 3)}...)`);
}

async function everyRow(): Promise<string> {
  const tables = (await db.query<Array<Record<string, string>>>('SHOW TABLES')).map((row) => Object.values(row)[0]!);
  let all = '';
  for (const table of tables) {
    const rows = await db.query<Array<Record<string, unknown>>>(`SELECT * FROM \`${table}\``);
    all += JSON.stringify(rows, (_key, value: unknown) => (Buffer.isBuffer(value) ? value.toString('latin1') : typeof value === 'bigint' ? String(value) : value));
  }
  return all;
}

test('secrets and owner tokens appear in no log, trace, admin/metrics answer or database row; rights survive a restart', async () => {
  // Created with a secret in the header (wscat -H), joined with it in the subprotocol (a browser).
  const owner = await jsonMember(srv.port, 'fort', 'ada', { bearer: FIRST });
  const ownerToken = owner.welcome.ownerToken as string;
  assert.type(ownerToken, 'string');
  const member = await jsonMember(srv.port, 'fort', 'bob', { subprotocolCredential: FIRST });
  assert.is(member.welcome.role, 'member');
  await rawMember(srv.port, 'fort', 'raw', { bearer: FIRST });
  assert.is((await refusal(srv.port, 'fort', 'eve', { bearer: WRONG })).status, 403);
  assert.is((await refusal(srv.port, 'fort', 'eve', { subprotocolCredential: WRONG, json: true })).status, 403);
  // The secret first in the frame, so a tracer printing the first bytes would print it.
  owner.send(JSON.parse(`{"secret":${JSON.stringify(ROTATED)},"type":"set_secret"}`));
  assert.equal(await member.nextOf('room'), { type: 'room', locked: false, protected: true });
  owner.send({ type: 'lock' });
  assert.equal(await member.nextOf('room'), { type: 'room', locked: true, protected: true });
  // The owner comes back with the owner token, past the lock.
  const again = await jsonMember(srv.port, 'fort', 'ada-phone', { subprotocolCredential: ownerToken });
  assert.is(again.welcome.role, 'owner');
  assert.is((await refusal(srv.port, 'fort', 'x', { bearer: 'a'.repeat(300) })).status, 423);
  // A URL credential on a WebSocket attempt, refused: the refusal is logged, the value is not.
  const viaUrl = await RawClient.open(srv.port, { path: `/?room=fort&name=u&secret=${encodeURIComponent(WRONG)}` });
  viaUrl.client.destroy();
  assert.is(viaUrl.response.status, 400);
  await fetch(`${srv.httpUrl}/?room=fort&name=u&secret=${encodeURIComponent(WRONG)}`).catch(() => undefined);

  const credentials = [FIRST, ROTATED, WRONG, ownerToken];
  await waitUntil(() => srv.stdout.some((line) => line.includes('"event":"refused"')), 'refusals to be logged', 5000);
  const answers = await Promise.all(
    ['/admin/rooms', '/metrics', '/healthz'].map(async (path) => (await fetch(`${srv.httpUrl}${path}`, { headers: { Authorization: `Bearer ${ADMIN}` } })).text()),
  );
  assert.ok(answers[0]!.includes('"protected":true') && answers[0]!.includes('"locked":true'), answers[0]);
  answers.forEach((answer, i) => assertAbsent(answer, credentials, ['/admin/rooms', '/metrics', '/healthz'][i]!));
  assert.ok(srv.stderr.some((line) => line.includes('(payload not shown)')), 'the tracer ran and hid the owner command');
  assertAbsent(srv.transcript(), credentials, 'the logs and traces');
  const rows = await everyRow();
  assert.ok(rows.includes('scrypt$'), 'the secret is stored as a scrypt hash');
  assertAbsent(rows, credentials, 'the database');

  // A restart: the room is still protected (with the rotated secret) and locked; the owner token works.
  destroyAllClients();
  await srv.restart();
  assert.is((await refusal(srv.port, 'fort', 'eve', { bearer: ROTATED })).status, 423, 'still locked');
  const back = await jsonMember(srv.port, 'fort', 'ada', { bearer: ownerToken });
  assert.equal([back.welcome.role, back.welcome.protected], ['owner', true]);
  back.send({ type: 'unlock' });
  await back.nextOf('room');
  assert.is((await refusal(srv.port, 'fort', 'eve')).status, 401, 'still protected');
  assert.is((await refusal(srv.port, 'fort', 'eve', { bearer: FIRST })).status, 403, 'the old secret is gone');
  assert.is((await attempt(srv.port, 'fort', 'eve', { bearer: ROTATED })).response.status, 101);
  // close_room leaves no row behind, history included.
  back.send({ type: 'message', text: 'kept until the room closes' });
  for (let i = 0; i < 100 && (await db.query<unknown[]>("SELECT seq FROM history_messages WHERE room_key = 'fort'")).length === 0; i++) await new Promise((r) => setTimeout(r, 100));
  assert.is((await db.query<unknown[]>("SELECT seq FROM history_messages WHERE room_key = 'fort'")).length, 1, 'the message reached the history table');
  back.send({ type: 'close_room' });
  await back.client.expectClose(4002);
  for (let i = 0; i < 50; i++) {
    const left = await db.query<unknown[]>("SELECT room_key FROM rooms WHERE room_key = 'fort'");
    if (left.length === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(await db.query<unknown[]>("SELECT room_key FROM rooms WHERE room_key = 'fort'"), []);
  // Its history and epoch go too (written behind the relay: wait for the writer).
  for (let i = 0; i < 50; i++) {
    const left = await db.query<unknown[]>("SELECT room_key FROM history_rooms WHERE room_key = 'fort' UNION ALL SELECT room_key FROM history_messages WHERE room_key = 'fort'");
    if (left.length === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(await db.query<unknown[]>("SELECT room_key FROM history_rooms WHERE room_key = 'fort' UNION ALL SELECT room_key FROM history_messages WHERE room_key = 'fort'"), []);
  assertAbsent(srv.transcript(), credentials, 'the logs after the restart');
});

test('a lock is announced once it is stored, so one the members saw survives a kill -9 at that moment', async () => {
  const owner = await jsonMember(srv.port, 'vault', 'ada');
  const member = await jsonMember(srv.port, 'vault', 'bob');
  let announced: Promise<Record<string, unknown>> | null = null;
  await withConnection(ADMIN_URL, db.name, async (blocker) => {
    // The room's row held by another transaction: the server's write of the lock waits for it.
    await blocker.query('BEGIN');
    await blocker.query('SELECT room_key FROM rooms WHERE room_key = ? FOR UPDATE', ['vault']);
    owner.send({ type: 'lock' });
    // In force for new joins at once, stored or not.
    for (let tries = 0; (await refusal(srv.port, 'vault', 'eve')).status !== 423; tries++) {
      assert.ok(tries < 100, 'the lock is in force for new joins');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    announced = member.nextOf('room');
    const early = await Promise.race([announced, new Promise<null>((resolve) => setTimeout(() => resolve(null), 500))]);
    assert.is(early, null, 'announced before it was stored');
    await blocker.query('COMMIT');
  });
  assert.equal(await announced, { type: 'room', locked: true, protected: false });
  destroyAllClients();
  await srv.restart();
  assert.is((await refusal(srv.port, 'vault', 'eve')).status, 423, 'the lock came back');
});

test.run();
