// The history's one promise, as a property: one (epoch, seq) never names two
// different messages, across clean stops, crashes (kill -9: whatever was not
// written is lost), purges, re-creations and compactions of the real log file.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Opcode } from '../../src/frames/opcodes';
import { FileHistoryStore } from '../../src/history/file-history-store';
import { HistoryWriter } from '../../src/history/history-writer';
import { RoomHistory } from '../../src/history/room-history';

type Op =
  | { kind: 'say'; room: number }
  | { kind: 'flush' }
  | { kind: 'purge'; room: number }
  | { kind: 'create'; room: number }
  | { kind: 'stop' }
  | { kind: 'crash' };

const ROOMS = ['a', 'b', 'c'];
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('say' as const), room: fc.nat(2) }) },
  { weight: 3, arbitrary: fc.constant({ kind: 'flush' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('purge' as const), room: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('create' as const), room: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'stop' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'crash' as const }) },
);

interface Run {
  history: RoomHistory;
  writer: HistoryWriter;
  store: FileHistoryStore;
}

async function boot(dir: string, size: number, live: Set<string>): Promise<Run> {
  const history = new RoomHistory({ size, ttlMs: 86_400_000 });
  // Tiny compaction threshold: the property covers rewrites of the log too. No timer flushes: the test decides.
  const store = new FileHistoryStore(dir, { size, ttlMs: 86_400_000 }, 300);
  const writer = new HistoryWriter(store, history, { flushDelayMs: 1e9, pruneEveryMs: 1e9 });
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
    fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 60 }), fc.constantFrom(3, 10), async (ops, size) => {
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
      let run = await boot(dir, size, live);
      try {
        for (const step of ops) {
          if (step.kind === 'say') {
            const room = ROOMS[step.room]!;
            const payload = `msg-${++counter}`;
            const seq = run.history.append(room, Opcode.Text, 'ada', Buffer.from(payload), Date.now());
            check(run.history.of(room).epoch, seq, payload);
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
            run = await boot(dir, size, live);
            assert.equal(snapshotOf(run), before);
            checkAll(run);
          } else {
            // kill -9: nothing more is written; the file handle dies with the process.
            await run.store.close();
            run = await boot(dir, size, live);
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

test.run();
