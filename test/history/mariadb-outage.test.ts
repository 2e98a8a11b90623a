// History while MariaDB is down, against a throwaway MariaDB of our own: the
// relay goes on unchanged (every message, consecutive seqs), what the writer
// owes stays bounded (one entry per room, the rings themselves), and continuity
// is reported honestly: written whole once the database is back (same epoch),
// or, stopped while it is still down, a new epoch after the restart.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startThrowawayMariadb, type ThrowawayMariadb } from '../helpers/mariadb';
import { destroyAllClients } from '../helpers/raw-client';
import { startServerProcess, stopAllServerProcesses, type ServerProcess } from '../helpers/server-process';
import { cleanup, eventually, health, tempDataDir } from '../recovery/support';
import { joinJson, quiet } from './support';

let tdb: ThrowawayMariadb | null = null;

test.before(async () => {
  tdb = await startThrowawayMariadb();
});
test.after(async () => {
  destroyAllClients();
  cleanup();
  await stopAllServerProcesses();
  await tdb?.destroy();
});

interface HistoryHealth {
  kept: boolean;
  store: string;
  state: 'up' | 'down';
  pendingRooms: number;
}

async function historyHealth(srv: ServerProcess): Promise<HistoryHealth> {
  return (await health(srv.httpUrl) as unknown as { history: HistoryHealth }).history;
}

test('MariaDB down during traffic: relay unaffected, bounded, then written whole; stopped while down: a new epoch', async () => {
  const srv = await startServerProcess({ env: { MARIADB_URL: tdb!.url('rooms_history'), DATA_DIR: tempDataDir(), LOG_LEVEL: 'warn', HISTORY_SIZE: '20' } });
  const ada = await joinJson(srv.port, 'outage', 'ada');
  const bob = await joinJson(srv.port, 'outage', 'bob');
  const epoch = String(ada.welcome.epoch);
  for (let i = 1; i <= 5; i++) ada.say(`before ${i}`);
  await bob.messages(5);
  await eventually('the first writes', async () => (await historyHealth(srv)).pendingRooms === 0, 10_000);
  assert.equal([(await historyHealth(srv)).kept, (await historyHealth(srv)).store], [true, 'mariadb']);

  await tdb!.stop();
  for (let i = 1; i <= 200; i++) ada.say(`during ${i}`);
  const during = await bob.messages(200, 10_000);
  assert.equal(during.map((m) => m.seq), Array.from({ length: 200 }, (_, i) => 6 + i), 'every message relayed, seqs consecutive');
  await eventually('the writer to notice', async () => (await historyHealth(srv)).state === 'down', 20_000);
  const owed = await historyHealth(srv);
  assert.ok(owed.pendingRooms <= 1, `one room owes writes, whatever the message count: ${JSON.stringify(owed)}`);

  // Back: the ring (the latest 20) is written whole under the same epoch.
  await tdb!.start();
  await eventually('the history written', async () => {
    const h = await historyHealth(srv);
    return h.state === 'up' && h.pendingRooms === 0;
  }, 40_000);
  assert.is(await srv.term(), 0);
  await srv.restart();
  const back = await joinJson(srv.port, 'outage', 'cy', `&since=195&epoch=${epoch}`);
  assert.equal([back.welcome.epoch, back.welcome.seq, back.welcome.recovered], [epoch, 205, true]);
  assert.equal((await back.messages(10)).map((m) => m.text), Array.from({ length: 10 }, (_, i) => `during ${191 + i}`));
  const tooOld = await joinJson(srv.port, 'outage', 'dee', `&since=100&epoch=${epoch}`);
  assert.is(tooOld.welcome.recovered, false, 'seq 101 is no longer kept (20 kept)');
  assert.ok(await quiet(tooOld.client));

  // Down again, and stopped before it is back: the history cannot be vouched for, so the epoch changes.
  const eve = await joinJson(srv.port, 'outage', 'eve');
  const fay = await joinJson(srv.port, 'outage', 'fay');
  await tdb!.stop();
  for (let i = 1; i <= 3; i++) eve.say(`unwritten ${i}`);
  await fay.messages(3);
  assert.is(await srv.term(30_000), 0);
  await tdb!.start();
  await srv.restart();
  const later = await joinJson(srv.port, 'outage', 'gus', `&since=205&epoch=${epoch}`);
  assert.not.equal(later.welcome.epoch, epoch);
  assert.is(later.welcome.recovered, false);
  assert.ok(await quiet(later.client));
  await srv.term();
});

test('a frozen MariaDB (it hangs instead of refusing): relay unaffected, SIGTERM still exits in time, then a new epoch', async () => {
  const srv = await startServerProcess({ env: { MARIADB_URL: tdb!.url('rooms_frozen'), DATA_DIR: tempDataDir(), LOG_LEVEL: 'warn', HISTORY_SIZE: '20' } });
  const ada = await joinJson(srv.port, 'frozen', 'ada');
  const bob = await joinJson(srv.port, 'frozen', 'bob');
  const epoch = String(ada.welcome.epoch);
  ada.say('before');
  await bob.messages(1);
  await eventually('the first write', async () => (await historyHealth(srv)).pendingRooms === 0, 10_000);
  tdb!.pause();
  try {
    for (let i = 1; i <= 50; i++) ada.say(`frozen ${i}`);
    const got = await bob.messages(50, 10_000);
    assert.equal(got.map((m) => m.seq), Array.from({ length: 50 }, (_, i) => 2 + i), 'relayed at once, seqs consecutive');
    const t0 = Date.now();
    assert.is(await srv.term(60_000), 0);
    assert.ok(Date.now() - t0 < 30_000, `stopped in ${Date.now() - t0} ms despite the hung database`);
  } finally {
    tdb!.resume();
  }
  await srv.restart();
  const later = await joinJson(srv.port, 'frozen', 'cy', `&since=1&epoch=${epoch}`);
  assert.not.equal(later.welcome.epoch, epoch, 'the last writes may be missing: a new epoch');
  assert.is(later.welcome.recovered, false);
  await srv.term();
});

test.run();
