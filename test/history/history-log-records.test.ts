// The history log's bytes without a disk: whatever a grouped write encodes reads
// back exactly; a log cut anywhere (a crash mid-append) reads back exactly the
// whole records before the cut and says where they end; garbage never throws and
// never becomes a message.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { MAGIC, encodeMark, encodeOps, readLog } from '../../src/history/history-log-records';
import { runOf, type HistoryOp } from '../../src/history/history-store';

const entryArb = fc.record({
  seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  opcode: fc.constantFrom(1 as const, 2 as const),
  from: fc.string({ minLength: 1, maxLength: 64, unit: 'grapheme' }),
  ts: fc.integer({ min: 0, max: 4_000_000_000_000 }),
  // Sizes on both sides of the byte-by-byte copy (128 B) and of the by-reference threshold (2 KiB).
  payload: fc
    .oneof(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ minLength: 120, maxLength: 136 }), fc.uint8Array({ minLength: 2040, maxLength: 2100 }))
    .map((bytes) => Buffer.from(bytes)),
});
const opArb: fc.Arbitrary<HistoryOp> = fc.oneof(
  fc.record({
    kind: fc.constant('write' as const),
    room: fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' }),
    epoch: fc.string({ minLength: 1, maxLength: 16 }),
    lastSeq: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    replace: fc.boolean(),
    messages: fc.array(entryArb, { maxLength: 4 }).map(runOf),
  }),
  fc.record({ kind: fc.constant('drop' as const), room: fc.string({ minLength: 1, maxLength: 40 }) }),
);

/** Each op's bytes on its own, so the test knows where every record ends. */
const recordsOf = (ops: HistoryOp[]): Buffer[] => ops.map((op) => Buffer.concat(encodeOps([op])));

const plain = (op: HistoryOp) =>
  op.kind === 'drop' ? { ...op } : { kind: op.kind, room: op.room, epoch: op.epoch, lastSeq: op.lastSeq, replace: op.replace, entries: op.messages.entries().map((e) => ({ ...e, payload: [...e.payload] })) };
const plainRecord = (r: ReturnType<typeof readLog>['records'][number]) =>
  r.kind === 'write' ? { ...r, entries: r.entries.map((e) => ({ ...e, payload: [...e.payload] })) } : r;

test('what a grouped write encodes reads back exactly, whatever the strings and payloads', () => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 6 }), (ops) => {
      const log = Buffer.concat([MAGIC, encodeMark('open'), ...encodeOps(ops), encodeMark('clean')]);
      const { records, end, legacy } = readLog(log);
      assert.is(legacy, false);
      assert.is(end, log.length);
      assert.equal(records.map(plainRecord), [{ kind: 'open' }, ...ops.map(plain), { kind: 'clean' }]);
    }),
    { numRuns: 200 },
  );
});

test('strings read back exactly on both sides of the ASCII copy: all ASCII, non-ASCII late in the string, past its length limit', () => {
  const names = ['a'.repeat(64), 'a'.repeat(65), `${'a'.repeat(63)}é`, 'zoë', 'x\u{1F600}y', '\ud800 lone', ''];
  const ops: HistoryOp[] = names.map((name, i) => ({
    kind: 'write',
    room: name || 'r',
    epoch: 'E0123456789abcde',
    lastSeq: i + 1,
    replace: false,
    messages: runOf([{ seq: i + 1, opcode: 1, from: name, ts: 5, payload: Buffer.from('hi') }]),
  }));
  const { records } = readLog(Buffer.concat([MAGIC, ...encodeOps(ops)]));
  const back = records.map((r) => (r.kind === 'write' ? [r.room, r.entries[0]!.from] : []));
  // A lone surrogate has no UTF-8: it is written as U+FFFD, as Buffer#write does.
  assert.equal(back, names.map((name) => [(name || 'r').replace('\ud800', '\ufffd'), name.replace('\ud800', '\ufffd')]));
});

test('a log cut anywhere reads back the whole records before the cut, and ends where the last one ends', () => {
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 1, maxLength: 5 }), fc.double({ min: 0, max: 1, noNaN: true }), (ops, where) => {
      const records = recordsOf(ops);
      const whole = Buffer.concat([MAGIC, ...records]);
      const cut = MAGIC.length + Math.floor(where * (whole.length - MAGIC.length));
      let complete = 0;
      let end = MAGIC.length;
      for (const r of records) {
        if (end + r.length > cut) break;
        end += r.length;
        complete++;
      }
      const read = readLog(whole.subarray(0, cut));
      assert.is(read.end, end);
      assert.equal(read.records.map(plainRecord), ops.slice(0, complete).map(plain));
    }),
    { numRuns: 300 },
  );
});

test('garbage after the magic never throws and never reads as a message', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      const read = readLog(Buffer.concat([MAGIC, Buffer.from(bytes)]));
      for (const r of read.records) if (r.kind === 'write') assert.ok(r.entries.every((e) => e.opcode === 1 || e.opcode === 2));
      assert.ok(read.end >= MAGIC.length && read.end <= MAGIC.length + bytes.length);
    }),
    { numRuns: 500 },
  );
});

test.run();
