// A crash (kill -9) during a MariaDB outage, the server as a child process against
// a throwaway MariaDB of our own (never the shared one): a room created while the
// database is down is in DATA_DIR/pending-writes.json before its creator gets the
// 101, so after kill -9 the next start serves it (database still down) and writes
// it once the database is back, then deletes the journal. A journal that cannot
// be written makes a join that would create a room fail with 503: nothing is
// promised that is durable nowhere.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join as joinPath } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeJournal } from '../../src/persistence/journal';
import { startThrowawayMariadb, withConnection, type ThrowawayMariadb } from '../helpers/mariadb';
import { startServerProcess, stopAllServerProcesses, type ServerProcess } from '../helpers/server-process';
import { ADMIN_TOKEN, adminRoomMap, assertRelay, cleanup, eventually, health, join, tempDataDir, terminateClients, byRoomKey, ROOM_ROWS_SQL, type RoomRow } from './support';

const DATABASE = 'rooms_crash';
/** the server's defaults: a 5 s liveness check, reconnects backing off to 10 s */
const NOTICE_MS = 20_000;
const RECOVER_MS = 40_000;

let tdb: ThrowawayMariadb | null = null;
let srv: ServerProcess | null = null;
const DATA_DIR = tempDataDir();
const JOURNAL = joinPath(DATA_DIR, 'pending-writes.json');

test.before(async () => {
  tdb = await startThrowawayMariadb();
});
test.after(async () => {
  cleanup();
  await stopAllServerProcesses();
  await tdb?.destroy();
});


async function rows(): Promise<Map<string, RoomRow>> {
  return byRoomKey(await withConnection(tdb!.url(DATABASE), DATABASE, (c) => c.query<RoomRow[]>(ROOM_ROWS_SQL)));
}

function settings(dataDir = DATA_DIR): Record<string, string> {
  return { MARIADB_URL: tdb!.url(DATABASE), DATA_DIR: dataDir, ADMIN_TOKEN, JOINS_PER_MINUTE: '1000000' };
}

function journalRooms(): string[] {
  return decodeJournal(readFileSync(JOURNAL)).ops.map((op) => op.room);
}

test('kill -9 while the database is down: the rooms created meanwhile are back at the next start, written once it is back, and the journal goes', async () => {
  srv = await startServerProcess({ env: settings() });
  assert.is((await health(srv.httpUrl)).status, 'ok');
  await join(srv.url, 'before', 'ann');
  assert.not.ok(existsSync(JOURNAL), 'no journal while the database is up');

  await tdb!.stop();
  // Created before the server has noticed: its write fails, and the 101 comes only once the journal holds it.
  await join(srv.url, 'crash-0', 'first-in-outage', { timeoutMs: 15_000 });
  assert.ok(existsSync(JOURNAL), 'the journal is on disk before the 101');
  assert.ok(journalRooms().includes('crash-0'), `crash-0 in the journal: ${journalRooms().join(' ')}`);
  await eventually('/healthz says degraded', async () => (await health(srv!.httpUrl)).status === 'degraded', NOTICE_MS);
  // Created while the server knows it is down.
  const cleo = await join(srv.url, 'crash-1', 'cleo');
  const dan = await join(srv.url, 'crash-1', 'dan');
  await assertRelay(dan, cleo, 'crash-1 while the database is down');
  assert.equal(journalRooms().sort(), ['crash-0', 'crash-1']);
  const during = await adminRoomMap(srv.httpUrl);

  await srv.kill9();
  terminateClients();

  // Restarted with the database still down: the rooms are served from the journal.
  await srv.restart();
  assert.is((await health(srv.httpUrl)).status, 'degraded');
  assert.ok(srv.stdout.some((l) => l.includes('"store.journal_replayed"')), srv.transcript());
  const after = await adminRoomMap(srv.httpUrl);
  for (const key of ['crash-0', 'crash-1']) {
    const was = during.get(key)!;
    const now = after.get(key);
    assert.equal(now && [now.owner, now.createdAt, now.members], [was.owner, was.createdAt, 0], `${key} is back after kill -9: ${JSON.stringify(now)}`);
  }
  const cleo2 = await join(srv.url, 'crash-1', 'cleo');
  const erin = await join(srv.url, 'crash-1', 'erin');
  await assertRelay(erin, cleo2, 'crash-1 rejoined from the journal');
  assert.is((await adminRoomMap(srv.httpUrl)).get('crash-1')?.owner, 'cleo');
  assert.ok(existsSync(JOURNAL), 'kept until its writes are durable');

  await tdb!.start();
  await eventually('written and the journal gone', async () => (await health(srv!.httpUrl)).store.pendingWrites === 0 && !existsSync(JOURNAL), RECOVER_MS);
  const stored = await rows();
  for (const key of ['crash-0', 'crash-1']) {
    const was = during.get(key)!;
    const row = stored.get(key);
    assert.equal(row && [row.owner, new Date(Number(row.created_at)).toISOString()], [was.owner, was.createdAt], `the row of ${key}`);
  }
  assert.is(stored.get('before')?.owner, 'ann');
  assert.ok(srv.stdout.some((l) => l.includes('"store.journal_written"')));

  // From the database now: another crash and restart keep them.
  await srv.kill9();
  terminateClients();
  await srv.restart();
  const again = await adminRoomMap(srv.httpUrl);
  assert.equal([...again.keys()].sort(), ['before', 'crash-0', 'crash-1']);
  assert.is(again.get('crash-0')?.owner, 'first-in-outage');
  assert.not.ok(existsSync(JOURNAL));
  assert.is(await srv.term(), 0);
});

test('a journal that cannot be written during an outage: a join that would create a room is refused with 503, existing rooms keep working, the stop exits 0 owing nothing', async () => {
  const blocked = joinPath(tempDataDir(), 'a-file');
  writeFileSync(blocked, 'not a folder\n');
  const lost = await startServerProcess({ env: settings(joinPath(blocked, 'data')) });
  const ann = await join(lost.url, 'open', 'ann');
  await tdb!.stop();
  let refusal = '';
  await join(lost.url, 'doomed', 'dora', { timeoutMs: 15_000 }).then(
    () => assert.unreachable('the join should be refused'),
    (err: Error) => (refusal = err.message),
  );
  assert.match(refusal, /refused: 503/);
  assert.ok(lost.stdout.some((l) => l.includes('"store.journal_write_failed"')), lost.transcript());
  assert.not.ok((await adminRoomMap(lost.httpUrl)).has('doomed'));
  const bob = await join(lost.url, 'open', 'bob');
  await assertRelay(bob, ann, 'an existing room during the outage');
  terminateClients();
  assert.is(await lost.term(), 0, lost.transcript());
  assert.not.ok(lost.stderr.some((l) => l.includes('were lost')), lost.stderr.join('\n'));
  await tdb!.start();
  assert.not.ok((await rows()).has('doomed'), 'a refused room is never written');
});

test.run();
