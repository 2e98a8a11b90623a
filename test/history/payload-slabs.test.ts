// The process-wide slabs that hold every room's small kept payloads: what a room
// reads back is what it kept, a view handed out never changes, and the slabs
// never hold more than about twice what is live however rooms come and go.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { Opcode } from '../../src/frames/opcodes';
import { PayloadSlabs } from '../../src/history/payload-slabs';
import { RoomLog } from '../../src/history/room-log';

const SLAB = 512;
const ROOMS = 12;
/** What the cleaning promises: sealed slabs at most twice the live bytes plus two slabs, and the current one. */
const bound = (slabs: PayloadSlabs) => 2 * slabs.usage.live + 3 * SLAB;

test('quiet rooms keep their old messages readable and pin no slabs while busy rooms go on', () => {
  const slabs = new PayloadSlabs(SLAB);
  const limits = { size: 10, ttlMs: 1e12 };
  const busy = [0, 1, 2].map((i) => new RoomLog(`B${i}`, 0, [], limits, undefined, slabs));
  const quiet: RoomLog[] = [];
  let most = 0;
  const expected: number[][] = [[], [], []];
  for (let i = 0; i < 20_000; i++) {
    // Every 100 busy messages a new quiet room says one thing and is never heard again: without
    // cleaning each would pin the slab it landed in (200 slabs of 512 bytes, mostly dead).
    if (i % 100 === 0) {
      const log = new RoomLog(`Q${i}`, 0, [], limits, undefined, slabs);
      log.append(Opcode.Text, 'ann', Buffer.from(`quiet ${i}`), 1);
      quiet.push(log);
    }
    busy[i % 3]!.append(Opcode.Binary, 'bob', Buffer.alloc(40, i & 0xff), 2);
    expected[i % 3] = [...expected[i % 3]!, i & 0xff].slice(-10);
    most = Math.max(most, slabs.usage.held);
  }
  quiet.forEach((log, k) => assert.equal(log.kept(3).map((e) => e.payload.toString()), [`quiet ${k * 100}`]));
  // Live at the end: 30 busy payloads of 40 bytes and 200 quiet ones of 9 or 10.
  assert.ok(most <= 2 * (30 * 40 + 200 * 11) + 3 * SLAB, `the slabs held ${most} bytes`);
  busy.forEach((log, i) => assert.equal(log.kept(3).map((e) => [...new Set(e.payload)]), expected[i]!.map((b) => [b])));
});

test('after three rooms in four go at once, each new slab cleans only a few slabs, and the slabs shrink to the bound as traffic goes on', () => {
  const slabs = new PayloadSlabs(SLAB);
  const limits = { size: 10, ttlMs: 1e12 };
  const logs = Array.from({ length: 400 }, (_, i) => new RoomLog(`R${i}`, 0, [], limits, undefined, slabs));
  // Interleaved: every slab holds payloads of many rooms.
  for (let r = 0; r < 10; r++) for (const log of logs) log.append(Opcode.Binary, 'ann', Buffer.alloc(40, r), 1);
  logs.forEach((log, i) => i % 4 !== 0 && log.release());
  assert.ok(slabs.overBound, 'three rooms in four gone: far more held than live');
  let previous = slabs.usage.held;
  let biggestDrop = 0;
  let appends = 0;
  while (slabs.overBound && appends < 4000) {
    logs[0]!.append(Opcode.Binary, 'bob', Buffer.alloc(40, 0xee), 2);
    appends++;
    const held = slabs.usage.held;
    assert.ok(held <= previous + SLAB, 'the slabs do not grow while over the bound');
    biggestDrop = Math.max(biggestDrop, previous - held);
    previous = held;
  }
  assert.not.ok(slabs.overBound, 'caught up');
  // Four cleaned, and one the append's own drop may empty. Cleaning all at once would let ~150 go in one append.
  assert.ok(biggestDrop <= 5 * SLAB, `one append let ${biggestDrop / SLAB} slabs go`);
  logs.forEach((log, i) => {
    if (i % 4 === 0 && i > 0) assert.equal(log.kept(3).map((e) => e.payload[0]), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});

test('property: many rooms over shared slabs read back exactly what a plain list would; views handed out never change; the bound holds', () => {
  const step = fc.oneof(
    // Room 0 is busy; the others are mostly quiet, so their few kept payloads end up scattered over
    // slabs room 0 otherwise emptied, and cleaning has to move them.
    fc.record({ t: fc.constant('append' as const), room: fc.oneof(fc.constant(0), fc.nat(ROOMS - 1)), size: fc.nat(SLAB / 2), dt: fc.nat(3) }),
    fc.record({ t: fc.constant('append' as const), room: fc.constant(0), size: fc.nat(SLAB / 2), dt: fc.nat(3) }),
    fc.record({ t: fc.constant('dropThrough' as const), room: fc.nat(ROOMS - 1), back: fc.nat(8) }),
    fc.record({ t: fc.constant('recreate' as const), room: fc.nat(ROOMS - 1) }),
    fc.record({ t: fc.constant('look' as const), room: fc.nat(ROOMS - 1) }),
  );
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 8 }), fc.array(step, { maxLength: 300 }), (size, steps) => {
      const slabs = new PayloadSlabs(SLAB);
      const limits = { size, ttlMs: 400 };
      const logs = Array.from({ length: ROOMS }, () => new RoomLog('E', 0, [], limits, undefined, slabs));
      const models: { seq: number; ts: number; payload: Buffer }[][] = logs.map(() => []);
      const handedOut: { payload: Buffer; copy: Buffer }[] = [];
      let now = 0;
      let byte = 0;
      let held = 0;
      for (const s of steps) {
        const log = logs[s.room]!;
        const model = models[s.room]!;
        if (s.t === 'append') {
          now += s.dt;
          const payload = Buffer.alloc(s.size, byte++ & 0xff);
          model.push({ seq: log.append(Opcode.Binary, 'ann', payload, now), ts: now, payload: Buffer.from(payload) });
          if (model.length > size) model.splice(0, model.length - size);
        } else if (s.t === 'dropThrough') {
          const seq = log.lastSeq - s.back;
          log.dropThrough(seq);
          while (model.length > 0 && model[0]!.seq <= seq) model.shift();
        } else if (s.t === 'recreate') {
          log.release();
          logs[s.room] = new RoomLog('E', 0, [], limits, undefined, slabs);
          models[s.room] = [];
        } else {
          for (const entry of log.kept(now)) handedOut.push({ payload: entry.payload, copy: Buffer.from(entry.payload) });
        }
        let live = 0;
        logs.forEach((each, i) => {
          const kept = each.kept(now);
          const m = models[i]!;
          while (m.length > 0 && m[0]!.ts < now - 400) m.shift();
          assert.equal(kept.map((e) => [e.seq, [...e.payload]]), m.map((x) => [x.seq, [...x.payload]]));
          for (const e of kept) live += e.payload.length;
        });
        assert.is(slabs.usage.live, live, 'the slabs count exactly the kept bytes');
        // Cleaning is a few slabs per new slab: over the bound the slabs may stay, but not grow.
        assert.ok(slabs.usage.held <= Math.max(bound(slabs), held + SLAB), `held ${slabs.usage.held} bytes for ${live} live, ${held} before`);
        held = slabs.usage.held;
      }
      for (const h of handedOut) assert.ok(h.payload.equals(h.copy), 'a view handed out earlier was overwritten');
      // Traffic goes on: the slabs come within the bound.
      for (let k = 0; k < 4000 && slabs.overBound; k++) logs[0]!.append(Opcode.Binary, 'ann', Buffer.alloc(64), (now += 1));
      assert.not.ok(slabs.overBound, `still ${slabs.usage.held} bytes held for ${slabs.usage.live} live`);
    }),
    { numRuns: 300 },
  );
});

test.run();
