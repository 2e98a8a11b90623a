// The embedded history log on a real disk: payloads of any bytes (newlines,
// JSON look-alikes) come back exactly; a record torn by a crash is cut off at
// load so later appends are read; a failed append leads to a rewrite, never to
// records after garbage; compaction keeps exactly what the snapshot holds.

import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Opcode } from '../../src/frames/opcodes';
import { FileHistoryStore } from '../../src/history/file-history-store';
import type { HistoryEntry } from '../../src/history/room-log';

const dirs: string[] = [];
const fresh = () => {
  const dir = mkdtempSync(join(tmpdir(), 'rooms-history-file-'));
  dirs.push(dir);
  return dir;
};
test.after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const NOW = 1_800_000_000_000;
const limits = { size: 10, ttlMs: 60_000 };
const entry = (seq: number, payload: Buffer | string, opcode: 1 | 2 = Opcode.Text): HistoryEntry => ({ seq, opcode, from: 'ada', ts: NOW, payload: Buffer.from(payload) });

test('payloads of any bytes come back exactly, a JSON look-alike in a message is only a message', async () => {
  const dir = fresh();
  const store = new FileHistoryStore(dir, limits);
  assert.equal(await store.load(NOW), []);
  const tricky = [entry(1, '{"d":"r"}\n{"clean":1}\n'), entry(2, Buffer.from([0, 10, 255, 10]), Opcode.Binary), entry(3, '')];
  await store.write([{ kind: 'write', room: 'r', epoch: 'E', lastSeq: 3, replace: true, entries: tricky }]);
  await store.markClean();
  await store.close();
  const [back] = await new FileHistoryStore(dir, limits).load(NOW);
  assert.equal([back!.room, back!.epoch, back!.lastSeq, back!.clean], ['r', 'E', 3, true]);
  assert.equal(back!.entries.map((e) => [e.seq, e.opcode, [...e.payload]]), tricky.map((e) => [e.seq, e.opcode, [...e.payload]]));
});

test('a record torn by a crash is cut at load; what is appended afterwards is read', async () => {
  const dir = fresh();
  const store = new FileHistoryStore(dir, limits);
  await store.load(NOW);
  await store.write([{ kind: 'write', room: 'r', epoch: 'E', lastSeq: 1, replace: true, entries: [entry(1, 'one')] }]);
  await store.close();
  const path = join(dir, 'history.log');
  const whole = statSync(path).size;
  appendFileSync(path, '{"m":"r","e":"E","s":2,"o":1,"f":"ada","t":1800000000000,"n":10}\nhalf');
  const again = new FileHistoryStore(dir, limits);
  const [loaded] = await again.load(NOW);
  assert.equal(loaded!.entries.map((e) => e.payload.toString()), ['one']);
  assert.is(loaded!.clean, false);
  assert.is(statSync(path).size, whole + '{"open":1}\n'.length, 'cut at the last whole record, then the open mark');
  await again.write([{ kind: 'write', room: 'r', epoch: 'E', lastSeq: 2, replace: false, entries: [entry(2, 'two')] }]);
  await again.close();
  const [third] = await new FileHistoryStore(dir, limits).load(NOW);
  assert.equal(third!.entries.map((e) => e.payload.toString()), ['one', 'two']);
});

test('compaction: the log holds exactly the snapshot; drops and old epochs are gone', async () => {
  const dir = fresh();
  const store = new FileHistoryStore(dir, limits, 100);
  await store.load(NOW);
  await store.write([{ kind: 'write', room: 'a', epoch: 'E1', lastSeq: 2, replace: true, entries: [entry(1, 'a1'), entry(2, 'a2')] }]);
  await store.write([{ kind: 'drop', room: 'a' }, { kind: 'write', room: 'b', epoch: 'E2', lastSeq: 1, replace: true, entries: [entry(1, 'b1')] }]);
  assert.ok(store.needsCompaction());
  await store.compact([{ room: 'b', epoch: 'E2', lastSeq: 1, entries: [entry(1, 'b1')], clean: false }]);
  assert.not.ok(store.needsCompaction());
  await store.close();
  const text = readFileSync(join(dir, 'history.log'), 'latin1');
  assert.not.match(text, /"a"/, 'nothing of the dropped room');
  const loaded = await new FileHistoryStore(dir, limits).load(NOW);
  assert.equal(loaded.map((h) => [h.room, h.epoch, h.entries.map((e) => e.payload.toString())]), [['b', 'E2', ['b1']]]);
});

test.run();
