// The MariaDB history store on its own, against a fresh database with the real
// schema.sql: grouped writes, replace, pruning by count and by age, drops, the
// clean mark, and rows of another epoch never read back as this one's.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { Opcode } from '../../src/frames/opcodes';
import { runOf } from '../../src/history/history-store';
import { MariadbHistoryStore } from '../../src/history/mariadb-history-store';
import type { HistoryEntry } from '../../src/history/room-log';
import { applySchema, parseSchema, SCHEMA_FILE } from '../../src/persistence/schema';
import { freshDatabase, type TestDatabase } from '../helpers/mariadb';

let db: TestDatabase;
let store: MariadbHistoryStore;
const NOW = 1_800_000_000_000;
const TTL = 60_000;

test.before(async () => {
  db = await freshDatabase();
  await applySchema({ query: (sql, values) => db.query(sql, values) }, parseSchema(readFileSync(SCHEMA_FILE, 'utf8')));
  store = new MariadbHistoryStore(db.url, { size: 3, ttlMs: TTL });
});
test.after(async () => {
  await store.close();
  await db.drop();
});

const entry = (seq: number, ts = NOW, text = `m${seq}`): HistoryEntry => ({ seq, opcode: Opcode.Text, from: 'ada', ts, payload: Buffer.from(text) });
const texts = (entries: readonly HistoryEntry[]) => entries.map((e) => e.payload.toString());

test('grouped writes come back in order, pruned to HISTORY_SIZE; not clean until marked', async () => {
  await store.write([{ kind: 'write', room: 'r', epoch: 'E1', lastSeq: 2, replace: true, messages: runOf([entry(1), entry(2)]) }]);
  await store.write([{ kind: 'write', room: 'r', epoch: 'E1', lastSeq: 5, replace: false, messages: runOf([entry(3), entry(4), entry(5)]) }]);
  const rows = await db.query<{ seq: number }[]>('SELECT seq FROM history_messages WHERE room_key = ? ORDER BY seq', ['r']);
  assert.equal(rows.map((r) => Number(r.seq)), [3, 4, 5], 'surplus deleted as written');
  let loaded = await store.load(NOW);
  assert.equal(loaded.map((h) => [h.room, h.epoch, h.lastSeq, h.clean, texts(h.entries)]), [['r', 'E1', 5, false, ['m3', 'm4', 'm5']]]);
  await store.markClean();
  loaded = await store.load(NOW);
  assert.is(loaded[0]!.clean, true);
  // Loading starts a new run: clean again only after the next markClean.
  assert.is((await store.load(NOW))[0]!.clean, false);
});

test('a replace under a new epoch: rows of the old epoch are gone and never read as the new one', async () => {
  await store.write([{ kind: 'write', room: 'r', epoch: 'E2', lastSeq: 1, replace: true, messages: runOf([entry(1, NOW, 'new one')]) }]);
  const loaded = await store.load(NOW);
  assert.equal(loaded.map((h) => [h.epoch, h.lastSeq, texts(h.entries)]), [['E2', 1, ['new one']]]);
  // A stray row of another epoch (a replace that never landed) is not read back.
  await db.query("INSERT INTO history_messages (room_key, seq, epoch, opcode, sender, ts, payload) VALUES ('r', 2, 'E1', 1, 'x', ?, 'stale')", [NOW]);
  assert.equal(texts((await store.load(NOW))[0]!.entries), ['new one']);
});

test('expired messages are pruned in batches and not loaded; a drop deletes the room', async () => {
  await store.write([{ kind: 'write', room: 'old', epoch: 'E', lastSeq: 2, replace: true, messages: runOf([entry(1, NOW - 2 * TTL), entry(2, NOW)]) }]);
  assert.equal(texts((await store.load(NOW)).find((h) => h.room === 'old')!.entries), ['m2']);
  assert.is(await store.prune(NOW), false, 'one small batch was enough');
  const left = await db.query<{ seq: number }[]>("SELECT seq FROM history_messages WHERE room_key = 'old'");
  assert.equal(left.map((r) => Number(r.seq)), [2]);
  await store.write([{ kind: 'drop', room: 'old' }]);
  assert.is((await store.load(NOW)).find((h) => h.room === 'old'), undefined);
  assert.equal(await db.query("SELECT * FROM history_messages WHERE room_key = 'old'"), []);
});

test('a failed group leaves nothing half-written (one transaction)', async () => {
  const tooLongSender = { ...entry(2), from: 'x'.repeat(300) };
  let failed = false;
  try {
    await store.write([
      { kind: 'write', room: 'tx', epoch: 'E', lastSeq: 1, replace: true, messages: runOf([entry(1)]) },
      { kind: 'write', room: 'tx2', epoch: 'E', lastSeq: 2, replace: true, messages: runOf([tooLongSender]) },
    ]);
  } catch {
    failed = true;
  }
  assert.ok(failed, 'the database rejects a sender over 64 characters (strict mode)');
  assert.equal(await db.query("SELECT * FROM history_rooms WHERE room_key IN ('tx', 'tx2')"), []);
});

test.run();
