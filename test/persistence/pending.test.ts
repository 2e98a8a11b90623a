// The pending-writes queue on its own: coalescing (latest op per room wins),
// acks that cannot erase a newer op, waiting callers first, and a property test
// that whatever the interleaving, draining leaves the latest op of every room;
// a save that follows a remove replaces the old row instead of merging into it.

import * as fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PendingWrites } from '../../src/persistence/pending';
import { applySave, type PendingOp, type RoomRecord, type WriteOutcome } from '../../src/persistence/types';

const rec = (room: string, owner = 'ann', n = 0): RoomRecord => ({ room, owner, createdAt: 1000 + n, status: 'live', lastActivity: 2000 + n });
const save = (room: string, owner = 'ann', n = 0): PendingOp => ({ kind: 'save', room, record: rec(room, owner, n) });

test('coalesces per room: only the latest op is kept, first-queued order', () => {
  const q = new PendingWrites(10);
  q.put(save('a', 'v1'));
  q.put(save('b'));
  q.put(save('a', 'v2'));
  q.put({ kind: 'remove', room: 'b' });
  assert.is(q.size, 2);
  const batch = q.takeBatch(10);
  assert.equal(
    batch.map((i) => i.op),
    [save('a', 'v2'), { kind: 'remove', room: 'b' }],
  );
});

test('an ack of an older op keeps the newer one queued', () => {
  const q = new PendingWrites(10);
  const outcomes: WriteOutcome[] = [];
  q.put(save('a', 'v1'), (o) => outcomes.push(o));
  const batch = q.takeBatch(10);
  q.put(save('a', 'v2'), (o) => outcomes.push(o));
  q.ack(batch);
  assert.equal(outcomes, ['durable']);
  assert.is(q.size, 1);
  const next = q.takeBatch(10);
  assert.equal(next[0]!.op, save('a', 'v2'));
  q.ack(next);
  assert.equal(outcomes, ['durable', 'durable']);
  assert.is(q.size, 0);
});

test('a failed batch stays queued and its callers hear queued', () => {
  const q = new PendingWrites(10);
  let outcome: WriteOutcome | null = null;
  q.put(save('a'), (o) => (outcome = o));
  q.fail(q.takeBatch(10));
  assert.is(outcome, 'queued');
  assert.is(q.size, 1);
  assert.is(q.takeBatch(10)[0]!.waiters.length, 0);
});

test('callers waiting for durability go before the backlog', () => {
  const q = new PendingWrites(10);
  for (const r of ['x1', 'x2', 'x3']) q.put(save(r));
  q.put(save('join'), () => undefined);
  assert.equal(
    q.takeBatch(2).map((i) => i.op.room),
    ['join', 'x1'],
  );
});

test('the bound applies to rooms not yet queued only', () => {
  const q = new PendingWrites(2);
  q.put(save('a'));
  q.put(save('b'));
  assert.ok(q.isFullFor('c'));
  assert.not.ok(q.isFullFor('a'));
});

test('drop forgets the op and refuses its callers', () => {
  const q = new PendingWrites(10);
  let outcome: WriteOutcome | null = null;
  q.put(save('a'), (o) => (outcome = o));
  q.drop(q.takeBatch(1)[0]!);
  assert.is(outcome, 'refused');
  assert.is(q.size, 0);
});

test('property: any interleaving drains to the latest op per room, every caller answered once', () => {
  const rooms = ['a', 'b', 'c', 'Ops', 'ops'];
  const step = fc.oneof(
    fc.record({ t: fc.constant('save' as const), room: fc.constantFrom(...rooms), n: fc.nat(1000), wait: fc.boolean() }),
    fc.record({ t: fc.constant('remove' as const), room: fc.constantFrom(...rooms), wait: fc.boolean() }),
    fc.record({ t: fc.constant('take' as const), max: fc.integer({ min: 1, max: 4 }), ok: fc.boolean() }),
  );
  fc.assert(
    fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
      const q = new PendingWrites(1000);
      const db = new Map<string, RoomRecord>();
      const latest = new Map<string, RoomRecord | null>();
      const answers = new Map<number, number>();
      let callers = 0;
      const waiter = () => {
        const id = callers++;
        answers.set(id, 0);
        return () => answers.set(id, answers.get(id)! + 1);
      };
      const apply = (ops: PendingOp[]) => {
        for (const op of ops) {
          if (op.kind === 'save') db.set(op.room, op.record);
          else db.delete(op.room);
        }
      };
      for (const s of steps) {
        if (s.t === 'save') {
          q.put(save(s.room, 'o', s.n), s.wait ? waiter() : undefined);
          latest.set(s.room, rec(s.room, 'o', s.n));
        } else if (s.t === 'remove') {
          q.put({ kind: 'remove', room: s.room }, s.wait ? waiter() : undefined);
          latest.set(s.room, null);
        } else {
          const batch = q.takeBatch(s.max);
          if (s.ok) {
            apply(batch.map((i) => i.op));
            q.ack(batch);
          } else {
            q.fail(batch);
          }
        }
      }
      for (let guard = 0; q.size > 0 && guard < 100; guard++) {
        const batch = q.takeBatch(3);
        apply(batch.map((i) => i.op));
        q.ack(batch);
      }
      assert.is(q.size, 0);
      for (const [room, r] of latest) assert.equal(db.get(room) ?? null, r, room);
      for (const [id, n] of answers) assert.is(n, 1, `caller ${id} answered ${n} times`);
    }),
    { numRuns: 300 },
  );
});

test('a save coalesced with a remove of its room replaces the old row; a plain save merges', () => {
  const q = new PendingWrites(10);
  q.put(save('plain', 'ann'));
  q.put(save('plain', 'ann', 1));
  q.put({ kind: 'remove', room: 'reborn' });
  q.put(save('reborn', 'zed'));
  // and the room changes again before it is written: still a new incarnation
  q.put({ kind: 'save', room: 'reborn', record: { ...rec('reborn', 'zed'), status: 'idle' } });
  const ops = Object.fromEntries(q.takeBatch(10).map((i) => [i.op.room, i.op]));
  assert.is(ops.plain!.kind === 'save' && ops.plain!.replaces, undefined);
  assert.ok(ops.reborn!.kind === 'save' && ops.reborn!.replaces === true);
  assert.is(ops.reborn!.kind === 'save' && ops.reborn!.record.status, 'idle');
});

test('a save after a remove that is already in flight replaces too', () => {
  const q = new PendingWrites(10);
  q.put({ kind: 'remove', room: 'r' });
  const inFlight = q.takeBatch(10);
  q.put(save('r', 'zed'));
  q.ack(inFlight);
  const next = q.takeBatch(10);
  assert.ok(next[0]!.op.kind === 'save' && next[0]!.op.replaces === true);
  q.ack(next);
  q.put(save('r', 'zed'));
  const after = q.opOf('r');
  assert.ok(after?.kind === 'save' && after.replaces === undefined, 'once written, later saves merge again');
});

test('applySave: the stored creation keeps owner, createdAt and access; status and activity are the latest; replaces overrides', () => {
  const stored = rec('r', 'ann', 0);
  const later = { kind: 'save' as const, room: 'r', record: { ...rec('r', 'bob', 5), status: 'idle' as const } };
  assert.equal(applySave(stored, later), { ...later.record, owner: 'ann', createdAt: 1000 });
  // An earlier creation that lands second does not take the room over: the first one stored is the room.
  assert.equal(applySave(rec('r', 'bob', 5), { kind: 'save', room: 'r', record: { ...rec('r', 'ann', 0), locked: true } }), { ...rec('r', 'ann', 0), owner: 'bob', createdAt: rec('r', 'bob', 5).createdAt });
  // The same creation writes its access.
  assert.equal(applySave(stored, { kind: 'save', room: 'r', record: { ...rec('r', 'ann', 0), locked: true } }), { ...rec('r', 'ann', 0), locked: true });
  assert.equal(applySave(stored, { ...later, replaces: true }), later.record);
  assert.equal(applySave(undefined, later), later.record);
});

test('property: draining coalesced ops (merge, or replace after a remove) ends where writing every op in order would', () => {
  const rooms = ['a', 'b', 'c'];
  const step = fc.oneof(
    fc.record({ t: fc.constant('save' as const), room: fc.constantFrom(...rooms), idle: fc.boolean() }),
    fc.record({ t: fc.constant('remove' as const), room: fc.constantFrom(...rooms), createdAt: fc.nat(3000) }),
    fc.record({ t: fc.constant('take' as const), max: fc.integer({ min: 1, max: 3 }), ok: fc.boolean() }),
  );
  const stored = fc.array(fc.option(fc.nat(3000)), { minLength: 3, maxLength: 3 });
  const first = fc.array(fc.nat(3000), { minLength: 3, maxLength: 3 });
  fc.assert(
    fc.property(stored, first, fc.array(step, { maxLength: 50 }), (storedAt, firstAt, steps) => {
      const q = new PendingWrites(1000);
      const db = new Map<string, RoomRecord>();
      rooms.forEach((room, i) => {
        const at = storedAt[i];
        if (at !== null && at !== undefined) db.set(room, { room, owner: 'stored', createdAt: at, status: 'idle', lastActivity: 0 });
      });
      const model = new Map(db);
      // each room's current incarnation: the registry's Room (its origin is fixed until it is removed)
      const incarnation = new Map(rooms.map((room, i) => [room, { owner: `${room}-0`, createdAt: firstAt[i]! }]));
      let clock = 1;
      const write = (target: Map<string, RoomRecord>, op: PendingOp) => {
        if (op.kind === 'save') target.set(op.room, applySave(target.get(op.room), op));
        else target.delete(op.room);
      };
      for (const s of steps) {
        if (s.t === 'save') {
          const inc = incarnation.get(s.room)!;
          const op: PendingOp = { kind: 'save', room: s.room, record: { room: s.room, ...inc, status: s.idle ? 'idle' : 'live', lastActivity: clock++ } };
          write(model, op);
          q.put(op);
        } else if (s.t === 'remove') {
          const op: PendingOp = { kind: 'remove', room: s.room };
          write(model, op);
          q.put(op);
          incarnation.set(s.room, { owner: `${s.room}-${clock++}`, createdAt: s.createdAt });
        } else {
          const batch = q.takeBatch(s.max);
          if (s.ok) {
            for (const item of batch) write(db, item.op);
            q.ack(batch);
          } else q.fail(batch);
        }
      }
      for (let guard = 0; q.size > 0 && guard < 100; guard++) {
        const batch = q.takeBatch(2);
        for (const item of batch) write(db, item.op);
        q.ack(batch);
      }
      assert.equal(Object.fromEntries(db), Object.fromEntries(model));
    }),
    { numRuns: 500 },
  );
});

test('revert takes back an op that is still the latest: to what is kept elsewhere, or out of the queue', () => {
  const q = new PendingWrites(10);
  const kept = q.put(save('a', 'v1'));
  const newer = q.put(save('a', 'v2'));
  const other = q.put(save('b'));
  assert.ok(kept < newer && newer < other, 'put returns increasing seqs');
  assert.not.ok(q.revert('a', kept, undefined), 'an op superseded already is left alone');
  assert.ok(q.revert('a', newer, { op: save('a', 'v1'), seq: kept }));
  assert.equal(q.current('a'), { op: save('a', 'v1'), seq: kept });
  assert.ok(q.revert('b', other, undefined));
  assert.not.ok(q.has('b'));
  assert.equal(
    q.snapshot().map((e) => e.op),
    [save('a', 'v1')],
  );
});

test('rewait: the latest op is written again for new callers, even if an older write of it is in flight', () => {
  const q = new PendingWrites(10);
  q.put(save('a'));
  const inFlight = q.takeBatch(10);
  const outcomes: WriteOutcome[] = [];
  assert.ok(q.rewait('a', [(o) => outcomes.push(o)]));
  q.ack(inFlight);
  assert.ok(q.has('a'), 'the ack of the older write does not forget it');
  const again = q.takeBatch(10);
  assert.is(again.length, 1);
  q.ack(again);
  assert.equal(outcomes, ['durable']);
  assert.not.ok(q.has('a'));
  assert.not.ok(q.rewait('a', []), 'nothing queued for the room');
});

test('detachWaiters hands over every waiting caller with its room and seq, keeping the ops', () => {
  const q = new PendingWrites(10);
  const seen: WriteOutcome[] = [];
  q.put(save('a'), (o) => seen.push(o));
  const seq = q.put(save('a', 'v2'), (o) => seen.push(o));
  const detached = q.detachWaiters();
  assert.equal(
    detached.map((d) => [d.room, d.seq]),
    [
      ['a', seq],
      ['a', seq],
    ],
  );
  assert.is(q.size, 1);
  assert.equal(seen, []);
});

test.run();
