// The pure parts of history: the resume rule of one room's log, the runs a
// write reads from its ring, and the process-wide memory bound
// (HISTORY_MAX_BYTES) that drops the oldest kept messages of any room first and
// keeps its accounting exact.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { Opcode } from '../../src/frames/opcodes';
import { MAGIC, encodeOps, readLog } from '../../src/history/history-log-records';
import { runOf, type MessageRun } from '../../src/history/history-store';
import { RoomHistory } from '../../src/history/room-history';
import { entryBytes, RoomLog } from '../../src/history/room-log';

const say = (h: RoomHistory, room: string, text: string, ts = 1000) => h.append(room, Opcode.Text, 'ada', Buffer.from(text), ts);
const texts = (log: RoomLog, now = 1000) => log.kept(now).map((e) => e.payload.toString());

test('resume: all after since, or nothing', () => {
  const log = new RoomLog('E', 0, [], { size: 3, ttlMs: 1000 });
  for (let i = 1; i <= 5; i++) log.append(Opcode.Text, 'a', Buffer.from(`m${i}`), 100 * i);
  assert.equal(log.resume(5, 'E', 600), { recovered: true, entries: [] });
  const two = log.resume(3, 'E', 600);
  assert.ok(two.recovered);
  assert.equal(two.recovered && two.entries.map((e) => e.seq), [4, 5]);
  assert.is(log.resume(2, 'E', 600).recovered, true, 'oldest kept is 3: since 2 still whole');
  assert.is(log.resume(1, 'E', 600).recovered, false, 'seq 2 no longer kept');
  assert.is(log.resume(6, 'E', 600).recovered, false, 'past the latest');
  assert.is(log.resume(4, 'F', 600).recovered, false, 'another epoch');
  assert.is(log.resume(3, 'E', 1450).recovered, false, 'seq 4 expired (ts 400, ttl 1000)');
  assert.is(log.resume(4, 'E', 1450).recovered, true);
});

test('a log handed back with a hole keeps only the whole run that ends at its last seq', () => {
  const e = (seq: number) => ({ seq, opcode: Opcode.Text, from: 'a', ts: 1, payload: Buffer.from(String(seq)) });
  const log = new RoomLog('E', 9, [e(1), e(2), e(5), e(6), e(7)], { size: 10, ttlMs: 1e9 });
  assert.equal(log.kept(1), [], 'seqs 8 and 9 are missing: nothing after them can be vouched for');
  const whole = new RoomLog('E', 7, [e(7), e(5), e(6), e(2)], { size: 10, ttlMs: 1e9 });
  assert.equal(whole.kept(1).map((x) => x.seq), [5, 6, 7]);
});

test('a kept payload never pins a larger socket chunk; a payload that fills its own memory is kept without a copy', () => {
  const log = new RoomLog('E', 0, [], { size: 10, ttlMs: 1e9 });
  const chunk = Buffer.alloc(65536, 0x61);
  const view = chunk.subarray(100, 164);
  log.append(Opcode.Binary, 'a', view, 1);
  const own = Buffer.alloc(256 * 1024, 0x62);
  log.append(Opcode.Binary, 'a', own, 1);
  const [small, large] = log.kept(1);
  assert.is(small!.payload.buffer === chunk.buffer, false, 'the view was copied out of its chunk');
  assert.equal(small!.payload, view);
  assert.ok(large!.payload === own, 'the large payload is kept as it is');
});

test('property: the ring keeps exactly what a plain list would, and entries handed out never change afterwards', () => {
  const step = fc.oneof(
    fc.record({ t: fc.constant('append' as const), size: fc.oneof(fc.nat(300), fc.integer({ min: 4000, max: 5000 })), dt: fc.nat(30) }),
    fc.record({ t: fc.constant('dropThrough' as const), back: fc.nat(12) }),
    fc.record({ t: fc.constant('look' as const) }),
  );
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 12 }), fc.array(step, { maxLength: 120 }), (size, steps) => {
      const budget = { bytes: 0, entries: 0 };
      const log = new RoomLog('E', 0, [], { size, ttlMs: 100 }, budget);
      const model: { seq: number; ts: number; payload: Buffer }[] = [];
      const handedOut: { seq: number; payload: Buffer; copy: Buffer }[] = [];
      let now = 0;
      let byte = 0;
      for (const s of steps) {
        if (s.t === 'append') {
          now += s.dt;
          const payload = Buffer.alloc(s.size, byte++ & 0xff);
          const seq = log.append(Opcode.Binary, 'ann', payload, now);
          model.push({ seq, ts: now, payload: Buffer.from(payload) });
          if (model.length > size) model.splice(0, model.length - size);
        } else if (s.t === 'dropThrough') {
          const seq = log.lastSeq - s.back;
          log.dropThrough(seq);
          while (model.length > 0 && model[0]!.seq <= seq) model.shift();
        } else {
          for (const entry of log.kept(now)) handedOut.push({ seq: entry.seq, payload: entry.payload, copy: Buffer.from(entry.payload) });
        }
        while (model.length > 0 && model[0]!.ts < now - 100) model.shift();
        const kept = log.kept(now);
        assert.equal(kept.map((e) => [e.seq, e.ts, [...e.payload]]), model.map((m) => [m.seq, m.ts, [...m.payload]]));
        assert.is(budget.entries, model.length);
      }
      for (const h of handedOut) assert.ok(h.payload.equals(h.copy), `entry ${h.seq} handed out earlier was overwritten`);
    }),
    { numRuns: 300 },
  );
});

test('HISTORY_MAX_BYTES: the oldest kept message of any room goes first; the accounting stays exact', () => {
  const one = entryBytes({ seq: 1, opcode: Opcode.Text, from: 'ada', ts: 0, payload: Buffer.from('xxxx') });
  const h = new RoomHistory({ size: 100, ttlMs: 1e9, maxBytes: 3 * one, now: () => 1000 });
  say(h, 'a', 'a1xx');
  say(h, 'b', 'b1xx');
  say(h, 'a', 'a2xx');
  say(h, 'b', 'b2xx');
  assert.equal([texts(h.get('a')!), texts(h.get('b')!)], [['a2xx'], ['b1xx', 'b2xx']]);
  assert.is(h.budget.bytes, 3 * one);
  const epoch = h.get('a')!.epoch;
  assert.is(h.get('a')!.resume(0, epoch, 1000).recovered, false, 'a1 was dropped: a resume from before it is refused');
  h.removed('b');
  assert.equal(h.budget, { bytes: one, entries: 1 });
});

test('property: the budget always equals what the rooms keep, and stays under the bound', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(3), fc.nat(60), fc.constantFrom('say', 'say', 'say', 'remove', 'create')), { maxLength: 300 }), fc.integer({ min: 200, max: 3000 }), (ops, maxBytes) => {
      const h = new RoomHistory({ size: 5, ttlMs: 1e9, maxBytes, now: () => 1000 });
      for (const [room, size, kind] of ops) {
        const key = `r${room}`;
        if (kind === 'say') say(h, key, 'x'.repeat(size));
        else if (kind === 'remove') h.removed(key);
        else h.created(key);
        let bytes = 0;
        let entries = 0;
        for (const [, log] of h.rooms()) {
          bytes += log.bytes;
          entries += log.kept(1000).length;
        }
        assert.equal(h.budget, { bytes, entries });
        assert.ok(bytes <= maxBytes, `${bytes} over ${maxBytes}`);
      }
    }),
    { numRuns: 300 },
  );
});

test('property: the bound evicts exactly what a single oldest-first queue of every kept message would', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(4), fc.nat(40), fc.constantFrom('say', 'say', 'say', 'say', 'remove', 'create')), { maxLength: 300 }), fc.integer({ min: 300, max: 2000 }), (ops, maxBytes) => {
      const h = new RoomHistory({ size: 5, ttlMs: 1e9, maxBytes, now: () => 1000 });
      // The model: one queue of every kept message, oldest first, with its room.
      let model: { room: string; text: string; bytes: number }[] = [];
      ops.forEach(([room, size, kind], i) => {
        const key = `r${room}`;
        if (kind === 'say') {
          const text = `${i}:`.padEnd(size + 3, 'x');
          say(h, key, text);
          model.push({ room: key, text, bytes: entryBytes({ seq: 0, opcode: Opcode.Text, from: 'ada', ts: 0, payload: Buffer.from(text) }) });
          const ofRoom = model.filter((m) => m.room === key);
          if (ofRoom.length > 5) model.splice(model.indexOf(ofRoom[0]!), 1);
          let total = model.reduce((sum, m) => sum + m.bytes, 0);
          while (total > maxBytes) total -= model.shift()!.bytes;
        } else {
          if (kind === 'remove') h.removed(key);
          else h.created(key);
          model = model.filter((m) => m.room !== key);
        }
        for (let r = 0; r <= 4; r++) {
          const log = h.get(`r${r}`);
          assert.equal(log === undefined ? [] : texts(log), model.filter((m) => m.room === `r${r}`).map((m) => m.text));
        }
      });
    }),
    { numRuns: 300 },
  );
});


test("a ring's runs: the store's records made straight from the ring are those of its entries, and a run read after the ring moved throws", () => {
  const log = new RoomLog('E', 0, [], { size: 8, ttlMs: 1e9 });
  // Sizes around the encoder's byte-by-byte copy (128), its by-reference threshold (2 KiB) and the ring's slabs (4 KiB).
  const sizes = [0, 1, 64, 128, 129, 2048, 2049, 4096, 4097, 70_000];
  sizes.forEach((size, i) => log.append(i % 2 === 0 ? Opcode.Text : Opcode.Binary, `from-${i}`, Buffer.alloc(size, 0x41 + i), 1000 + i));
  const whole = log.keptRun(2000);
  assert.equal([whole.firstSeq, whole.length], [3, 8]);
  const asEntries = (ops: Parameters<typeof encodeOps>[0]) => readLog(Buffer.concat([MAGIC, ...encodeOps(ops)])).records;
  const op = (messages: MessageRun) => ({ kind: 'write' as const, room: 'r', epoch: 'E', lastSeq: 10, replace: true, messages });
  const fromRing = asEntries([op(whole)]);
  assert.equal(fromRing, asEntries([op(runOf(log.kept(2000)))]));
  const first = fromRing[0];
  assert.ok(first?.kind === 'write');
  assert.equal(
    first.entries.map((e) => [e.seq, e.opcode, e.from, e.ts, e.payload.length, e.payload.every((b) => b === 0x41 + e.seq - 1)]),
    sizes.slice(2).map((size, k) => [k + 3, k % 2 === 0 ? Opcode.Text : Opcode.Binary, `from-${k + 2}`, 1002 + k, size, true]),
  );
  const after = log.runAfter(8, 2000);
  assert.equal([after.firstSeq, after.entries().map((e) => e.seq)], [9, [9, 10]]);
  assert.equal(log.runAfter(10, 2000).length, 0);
  log.append(Opcode.Text, 'late', Buffer.from('x'), 3000);
  assert.throws(() => whole.forEach(() => undefined), /ring moved on/, 'seq 3 was dropped for seq 11');
  assert.equal(after.entries().map((e) => e.seq), [9, 10], 'a run still kept whole reads the same');
});
test.run();
