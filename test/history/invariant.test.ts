// The history's one promise, as a property: one (epoch, seq) never names two
// different messages, across clean stops, crashes (kill -9: whatever was not
// written is lost), purges, re-creations, compactions of the real log file, and
// writes or compactions that fail (before anything landed, or after it all did).
// A clean stop, in between, brings back exactly what was kept.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Opcode } from '../../src/frames/opcodes';
import { FileHistoryStore } from '../../src/history/file-history-store';
import type { HistoryOp, HistoryStore, StoredHistory, WriteOp } from '../../src/history/history-store';
import { HistoryWriter } from '../../src/history/history-writer';
import { RoomHistory } from '../../src/history/room-history';

type Op =
  | { kind: 'say'; room: number }
  | { kind: 'flush' }
  | { kind: 'purge'; room: number }
  | { kind: 'create'; room: number }
  | { kind: 'stop' }
  | { kind: 'crash' }
  /** The next write or compaction fails: before it reaches the file, or after it all landed. */
  | { kind: 'fail'; when: 'before' | 'after' }
  /** The next flush rewrites the log (as if it had grown past its threshold). */
  | { kind: 'compact' };

const ROOMS = ['a', 'b', 'c'];
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('say' as const), room: fc.nat(2) }) },
  { weight: 3, arbitrary: fc.constant({ kind: 'flush' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('purge' as const), room: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('create' as const), room: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'stop' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'crash' as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('fail' as const), when: fc.constantFrom('before' as const, 'after' as const) }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'compact' as const }) },
);

/** The real log file, with one failure on demand: the writer must treat "failed" as "unknown what landed". */
class FlakyStore implements HistoryStore {
  readonly kind = 'file';
  failNext: 'before' | 'after' | null = null;
  compactNext = false;

  constructor(readonly inner: FileHistoryStore) {}

  load(now: number): Promise<StoredHistory[]> {
    return this.inner.load(now);
  }
  write(ops: readonly HistoryOp[]): Promise<void> {
    return this.faulty(() => this.inner.write(ops));
  }
  prune(): Promise<boolean> {
    return this.inner.prune();
  }
  needsCompaction(): boolean {
    return this.compactNext || this.inner.needsCompaction();
  }
  compact(snapshot: Iterable<WriteOp>): Promise<void> {
    this.compactNext = false;
    return this.faulty(() => this.inner.compact(snapshot));
  }
  markClean(): Promise<void> {
    return this.inner.markClean();
  }
  close(): Promise<void> {
    return this.inner.close();
  }

  private async faulty(run: () => Promise<void>): Promise<void> {
    const when = this.failNext;
    this.failNext = null;
    if (when === 'before') throw new Error('injected: nothing written');
    await run();
    if (when === 'after') throw new Error('injected: all written, reported failed');
  }
}

interface Run {
  history: RoomHistory;
  writer: HistoryWriter;
  store: FlakyStore;
}

/** `compactAfter`: bytes appended before the log asks to be rewritten (tiny: nearly every write is a compaction; huge: never). */
async function boot(dir: string, size: number, live: Set<string>, compactAfter = 300, sliceMessages = 2): Promise<Run> {
  const history = new RoomHistory({ size, ttlMs: 86_400_000 });
  // Tiny compaction threshold: the property covers rewrites of the log too. No timer flushes: the test decides.
  const store = new FlakyStore(new FileHistoryStore(dir, { size, ttlMs: 86_400_000 }, compactAfter));
  // Retries are the test's to make (flush, stop): the backoff's timer must not write behind its back.
  // Tiny slices: a grouped write is a store write per room, so an injected failure can land between rooms of one flush.
  const writer = new HistoryWriter(store, history, { flushDelayMs: 1e9, pruneEveryMs: 1e9, backoff: { minMs: 1e9, maxMs: 1e9 }, sliceMessages });
  await writer.open((room) => live.has(room));
  return { history, writer, store };
}

/** Each room's epoch, last seq and kept payloads, by room. */
function snapshotOf(run: Run): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [room, log] of run.history.rooms()) out[room] = `${log.epoch} ${log.lastSeq}: ${log.kept(Date.now()).map((e) => `${e.seq}=${e.payload.toString()}`).join(' ')}`;
  return out;
}

test('one (epoch, seq) never names two messages: restarts, kill -9, purges, re-creation, compaction', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 60 }), fc.constantFrom(3, 10), fc.constantFrom(300, 1e9), async (ops, size, compactAfter) => {
      const dir = mkdtempSync(join(tmpdir(), 'rooms-history-prop-'));
      const named = new Map<string, string>();
      let counter = 0;
      const live = new Set<string>(ROOMS);
      const check = (epoch: string, seq: number, payload: string) => {
        const key = `${epoch}/${seq}`;
        const before = named.get(key);
        assert.ok(before === undefined || before === payload, `${key} named ${before} and now ${payload}`);
        named.set(key, payload);
      };
      const checkAll = (run: Run) => {
        for (const [, log] of run.history.rooms()) for (const entry of log.kept(Date.now())) check(log.epoch, entry.seq, entry.payload.toString());
      };
      let run = await boot(dir, size, live, compactAfter);
      try {
        for (const step of ops) {
          if (step.kind === 'say') {
            const room = ROOMS[step.room]!;
            const payload = `msg-${++counter}`;
            const seq = run.history.append(room, Opcode.Text, 'ada', Buffer.from(payload), Date.now());
            check(run.history.of(room).epoch, seq, payload);
          } else if (step.kind === 'fail') {
            run.store.failNext = step.when;
          } else if (step.kind === 'compact') {
            run.store.compactNext = true;
          } else if (step.kind === 'flush') {
            await run.writer.flush();
          } else if (step.kind === 'purge') {
            run.history.removed(ROOMS[step.room]!);
          } else if (step.kind === 'create') {
            run.history.created(ROOMS[step.room]!);
          } else if (step.kind === 'stop') {
            // A clean stop keeps everything: each room's epoch, last seq and kept messages come back as they were.
            const before = snapshotOf(run);
            assert.ok(await run.writer.close(), 'the stop was clean');
            run = await boot(dir, size, live, compactAfter);
            assert.equal(snapshotOf(run), before);
            checkAll(run);
          } else {
            // kill -9: nothing more is written; the file handle dies with the process.
            await run.store.close();
            run = await boot(dir, size, live, compactAfter);
            checkAll(run);
          }
        }
        await run.writer.close();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }),
    { numRuns: 300 },
  );
});

test('after a clean stop everything kept comes back under the same epoch; after a crash, a new one', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rooms-history-'));
  try {
    const live = new Set(['r']);
    let run = await boot(dir, 10, live);
    for (let i = 1; i <= 12; i++) run.history.append('r', Opcode.Text, 'ada', Buffer.from(`m${i}`), Date.now());
    const epoch = run.history.of('r').epoch;
    await run.writer.close();
    run = await boot(dir, 10, live);
    const log = run.history.of('r');
    assert.equal([log.epoch, log.lastSeq], [epoch, 12]);
    assert.equal(log.kept(Date.now()).map((e) => e.payload.toString()), ['m3', 'm4', 'm5', 'm6', 'm7', 'm8', 'm9', 'm10', 'm11', 'm12']);
    run.history.append('r', Opcode.Text, 'ada', Buffer.from('m13'), Date.now());
    await run.store.close(); // crash before the write
    run = await boot(dir, 10, live);
    const after = run.history.of('r');
    assert.not.equal(after.epoch, epoch);
    assert.is(after.lastSeq, 12, 'seqs go on from what the store had, under the new epoch');
    assert.is(after.kept(Date.now()).length, 10);
    await run.writer.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

for (const kind of ['write', 'compaction'] as const) {
  test(`a ${kind} reported failed after it all landed: the next write replaces, and a clean stop keeps everything`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rooms-history-'));
    try {
      const live = new Set(['r']);
      // Compaction only when the test asks for one.
      let run = await boot(dir, 10, live, 1e9);
      const say = (from: number, to: number) => {
        for (let i = from; i <= to; i++) run.history.append('r', Opcode.Text, 'ada', Buffer.from(`m${i}`), Date.now());
      };
      say(1, 5);
      assert.ok(await run.writer.flush());
      say(6, 8);
      run.store.failNext = 'after';
      run.store.compactNext = kind === 'compaction';
      assert.not.ok(await run.writer.flush(), 'reported failed');
      say(9, 10);
      assert.ok(await run.writer.flush());
      const before = snapshotOf(run);
      assert.ok(await run.writer.close());
      run = await boot(dir, 10, live, 1e9);
      // Had the writer trusted its old idea of the store (up to m5), m6..m8 would be in the log twice and the
      // reload would keep only the run after the repeat (m6..m10).
      assert.equal(snapshotOf(run), before);
      assert.is(run.history.of('r').kept(Date.now()).length, 10);
      await run.writer.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('a grouped write in slices that fails in the middle: rooms before it stay written, it and the rest are owed, none lost or doubled', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rooms-history-'));
  try {
    const rooms = ['a', 'b', 'c'];
    const live = new Set(rooms);
    let run = await boot(dir, 10, live, 1e9, 1);
    const say = (room: string, from: number, to: number) => {
      for (let i = from; i <= to; i++) run.history.append(room, Opcode.Text, 'ada', Buffer.from(`${room}${i}`), Date.now());
    };
    for (const room of rooms) say(room, 1, 3);
    assert.ok(await run.writer.flush());
    for (const room of rooms) say(room, 4, 5);
    // One store write per room: the first lands, the second fails after landing, the third is never tried.
    const writes: string[][] = [];
    const write = run.store.write.bind(run.store);
    let calls = 0;
    run.store.write = (ops) => {
      writes.push(ops.map((op) => (op.kind === 'write' ? `${op.room}${op.replace ? ' replace' : ''} ${op.messages.firstSeq}..${op.lastSeq}` : `drop ${op.room}`)));
      if (++calls === 2) run.store.failNext = 'after';
      return write(ops);
    };
    assert.not.ok(await run.writer.flush(), 'reported failed');
    assert.equal(writes, [['a 4..5'], ['b 4..5']]);
    assert.equal(run.writer.health().pendingRooms, 2, 'b (unknown what landed) and c (not tried) are owed');
    say('a', 6, 6);
    writes.length = 0;
    assert.ok(await run.writer.flush());
    assert.equal(writes.flat().sort(), ['a 6..6', 'b replace 1..5', 'c 4..5'], 'b is written whole; a goes on; c from where it stood');
    const before = snapshotOf(run);
    assert.ok(await run.writer.close());
    run = await boot(dir, 10, live, 1e9, 1);
    assert.equal(snapshotOf(run), before);
    assert.equal(run.history.of('b').kept(Date.now()).map((e) => e.payload.toString()), ['b1', 'b2', 'b3', 'b4', 'b5']);
    await run.writer.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
