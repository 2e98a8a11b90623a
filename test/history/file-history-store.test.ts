// The embedded history log on a real disk: payloads of any bytes (newlines,
// record look-alikes) come back exactly; a record torn by a crash is cut off at
// load so later appends are read; compaction keeps exactly what the snapshot
// holds; a log in the JSON-lines format of earlier versions is read and rewritten.

import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Opcode } from '../../src/frames/opcodes';
import { FileHistoryStore } from '../../src/history/file-history-store';
import { MAGIC, encodeMark, encodeOps } from '../../src/history/history-log-records';
import { runOf } from '../../src/history/history-store';
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

/** A log holding room r's message 1 ("one"), closed: its folder, its path and its size. */
async function logOfOneMessage(): Promise<{ dir: string; path: string; whole: number }> {
  const dir = fresh();
  const store = new FileHistoryStore(dir, limits);
  await store.load(NOW);
  await store.write([{ kind: 'write', room: 'r', epoch: 'E', lastSeq: 1, replace: true, messages: runOf([entry(1, 'one')]) }]);
  await store.close();
  const path = join(dir, 'history.log');
  return { dir, path, whole: statSync(path).size };
}

test('payloads of any bytes come back exactly, a JSON look-alike in a message is only a message', async () => {
  const dir = fresh();
  const store = new FileHistoryStore(dir, limits);
  assert.equal(await store.load(NOW), []);
  const tricky = [entry(1, '{"d":"r"}\n{"clean":1}\n'), entry(2, Buffer.from([0, 10, 255, 10]), Opcode.Binary), entry(3, '')];
  await store.write([{ kind: 'write', room: 'r', epoch: 'E', lastSeq: 3, replace: true, messages: runOf(tricky) }]);
  await store.markClean();
  await store.close();
  const [back] = await new FileHistoryStore(dir, limits).load(NOW);
  assert.equal([back!.room, back!.epoch, back!.lastSeq, back!.clean], ['r', 'E', 3, true]);
  assert.equal(back!.entries.map((e) => [e.seq, e.opcode, [...e.payload]]), tricky.map((e) => [e.seq, e.opcode, [...e.payload]]));
});

test('a record torn by a crash is cut at load; what is appended afterwards is read', async () => {
  const { dir, path, whole } = await logOfOneMessage();
  // The next record as a crash may leave it: only its first bytes reached the disk.
  const next = Buffer.concat(encodeOps([{ kind: 'write', room: 'r', epoch: 'E', lastSeq: 2, replace: false, messages: runOf([entry(2, 'two')]) }]));
  appendFileSync(path, next.subarray(0, next.length - 3));
  const again = new FileHistoryStore(dir, limits);
  const [loaded] = await again.load(NOW);
  assert.equal(loaded!.entries.map((e) => e.payload.toString()), ['one']);
  assert.is(loaded!.clean, false);
  assert.is(statSync(path).size, whole + encodeMark('open').length, 'cut at the last whole record, then the open mark');
  await again.write([{ kind: 'write', room: 'r', epoch: 'E', lastSeq: 2, replace: false, messages: runOf([entry(2, 'two')]) }]);
  await again.close();
  const [third] = await new FileHistoryStore(dir, limits).load(NOW);
  assert.equal(third!.entries.map((e) => e.payload.toString()), ['one', 'two']);
});

test('a tail of zeros or a record whose length disagrees with its body is cut, never read as messages', async () => {
  const { dir, path, whole } = await logOfOneMessage();
  appendFileSync(path, Buffer.alloc(4096));
  assert.equal((await new FileHistoryStore(dir, limits).load(NOW)).map((h) => h.entries.length), [1]);
  assert.is(statSync(path).size, whole + encodeMark('open').length, 'zeros cut');
  // A whole-looking record (kind, length, END) whose entry claims more payload than the body holds.
  const lying = Buffer.concat(encodeOps([{ kind: 'write', room: 'r', epoch: 'E', lastSeq: 2, replace: false, messages: runOf([entry(2, 'two')]) }]));
  const payloadLengthAt = lying.length - 1 - 3 - 4;
  lying.writeUInt32LE(1000, payloadLengthAt);
  appendFileSync(path, lying);
  const [back] = await new FileHistoryStore(dir, limits).load(NOW);
  assert.equal(back!.entries.map((e) => e.payload.toString()), ['one']);
});

test('a log in the JSON-lines format of earlier versions keeps its history and is rewritten in the current format', async () => {
  const dir = fresh();
  const path = join(dir, 'history.log');
  const message = (seq: number, payload: string) => `{"m":"r","e":"E","s":${seq},"o":1,"f":"ada","t":${NOW},"n":${Buffer.byteLength(payload)}}\n${payload}\n`;
  writeFileSync(path, `{"open":1}\n{"w":"r","e":"E","l":2,"r":1}\n${message(1, 'one\n{"d":"r"}')}${message(2, 'two')}{"w":"gone","e":"G","l":0,"r":1}\n{"d":"gone"}\n{"clean":1}\n`);
  const store = new FileHistoryStore(dir, limits);
  const loaded = await store.load(NOW);
  assert.equal(loaded.map((h) => [h.room, h.epoch, h.lastSeq, h.clean, h.entries.map((e) => e.payload.toString())]), [['r', 'E', 2, true, ['one\n{"d":"r"}', 'two']]]);
  assert.ok(readFileSync(path).subarray(0, MAGIC.length).equals(MAGIC), 'rewritten in the current format');
  await store.write([{ kind: 'write', room: 'r', epoch: 'E', lastSeq: 3, replace: false, messages: runOf([entry(3, 'three')]) }]);
  await store.close();
  const [back] = await new FileHistoryStore(dir, limits).load(NOW);
  assert.equal([back!.epoch, back!.clean, back!.entries.map((e) => e.payload.toString())], ['E', false, ['one\n{"d":"r"}', 'two', 'three']], 'not clean: the rewrite began a run');
});

test('compaction: the log holds exactly the snapshot; drops and old epochs are gone', async () => {
  const dir = fresh();
  const store = new FileHistoryStore(dir, limits, 100);
  await store.load(NOW);
  await store.write([{ kind: 'write', room: 'dropped-room', epoch: 'E1', lastSeq: 2, replace: true, messages: runOf([entry(1, 'a1'), entry(2, 'a2')]) }]);
  await store.write([{ kind: 'drop', room: 'dropped-room' }, { kind: 'write', room: 'b', epoch: 'E2', lastSeq: 1, replace: true, messages: runOf([entry(1, 'b1')]) }]);
  assert.ok(store.needsCompaction());
  await store.compact([{ kind: 'write', room: 'b', epoch: 'E2', lastSeq: 1, replace: true, messages: runOf([entry(1, 'b1')]) }]);
  assert.not.ok(store.needsCompaction());
  await store.close();
  const text = readFileSync(join(dir, 'history.log'), 'latin1');
  assert.not.match(text, /dropped-room|a1|a2/, 'nothing of the dropped room');
  const loaded = await new FileHistoryStore(dir, limits).load(NOW);
  assert.equal(loaded.map((h) => [h.room, h.epoch, h.entries.map((e) => e.payload.toString())]), [['b', 'E2', ['b1']]]);
});

test.run();
