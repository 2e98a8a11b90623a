import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { RoomRecord, WriteOutcome } from '../../src/persistence/types';
import { LocalDelivery } from '../../src/rooms/delivery';
import type { MemberMode, RoomMember } from '../../src/rooms/member';
import { RoomRegistry, type RoomPersistence } from '../../src/rooms/room-registry';

/** Records what the registry asks of its store; the outcome is chosen by the test. */
class RecordingPersistence implements RoomPersistence {
  saves: RoomRecord[] = [];
  removes: string[] = [];
  outcome: WriteOutcome = 'durable';
  release: (() => void) | null = null;
  gate: Promise<void> | null = null;
  async save(record: RoomRecord): Promise<WriteOutcome> {
    this.saves.push({ ...record });
    if (this.gate) await this.gate;
    return this.outcome;
  }
  async remove(room: string): Promise<WriteOutcome> {
    this.removes.push(room);
    return this.outcome;
  }
}

function member(name: string, mode: MemberMode = 'raw'): RoomMember & { got: string[] } {
  const got: string[] = [];
  return { name, mode, deflateWindowBits: 0, got, deliver: (frame: Buffer) => got.push(frame.subarray(2).toString()) };
}

function setup(retentionMs = 1000) {
  let now = 1_000_000;
  const store = new RecordingPersistence();
  const registry = new RoomRegistry(store, new LocalDelivery(), { retentionMs, now: () => now });
  return { store, registry, advance: (ms: number) => (now += ms), now: () => now };
}

test('the first join creates the room with its owner, written before admission completes', async () => {
  const { store, registry } = setup();
  let released = false;
  store.gate = new Promise((resolve) => setTimeout(() => { released = true; resolve(); }, 20));
  const admission = await registry.admit('Ops', 'ada');
  assert.ok(released, 'admission waited for the write');
  assert.ok(admission.ok && admission.created && admission.room.owner === 'ada');
  assert.equal(store.saves.map((r) => [r.room, r.owner, r.status]), [['Ops', 'ada', 'live']]);
});

test('concurrent first joins share one room and one write', async () => {
  const { store, registry } = setup();
  const [a, b] = await Promise.all([registry.admit('r', 'ada'), registry.admit('r', 'bob')]);
  assert.ok(a.ok && b.ok && a.room === b.room && a.room.owner === 'ada');
  assert.is(store.saves.length, 1);
});

test("a creation whose read-back finds another node's creation stored first adopts that room, and the join did not create it", async () => {
  const store = new RecordingPersistence();
  const stored = { room: 'r', owner: 'zoe', createdAt: 5, status: 'live' as const, lastActivity: 5, secretHash: 'scrypt$x', ownerTokenHash: 'ab', locked: true };
  const registry = new RoomRegistry(store, new LocalDelivery(), { retentionMs: 1000, now: () => 1_000_000, readBack: async () => stored });
  const admission = await registry.admit('r', 'ada', { secretHash: null, ownerTokenHash: 'cd', locked: false });
  assert.ok(admission.ok);
  assert.is(admission.ok && admission.created, false, 'decided again as a join (access-control.ts)');
  const room = registry.get('r')!;
  assert.equal([room.owner, room.createdAt, room.access], ['zoe', 5, { secretHash: 'scrypt$x', ownerTokenHash: 'ab', locked: true }]);
  // Its own creation read back: created, nothing adopted.
  const own = new RoomRegistry(new RecordingPersistence(), new LocalDelivery(), { retentionMs: 1000, now: () => 7, readBack: async () => ({ room: 's', owner: 'ada', createdAt: 7, status: 'live', lastActivity: 7 }) });
  const mine = await own.admit('s', 'ada');
  assert.ok(mine.ok && mine.created && mine.room.owner === 'ada');
});

test('a refused write refuses the join and forgets the room', async () => {
  const { store, registry } = setup();
  store.outcome = 'refused';
  const admission = await registry.admit('r', 'ada');
  assert.is(admission.ok, false);
  assert.is(registry.get('r'), undefined);
});

test('relay reaches every other member, never the sender, never another room', async () => {
  const { registry } = setup();
  const [ada, bob, cy, other] = [member('ada'), member('bob'), member('cy'), member('dee')];
  for (const [m, key] of [[ada, 'a'], [bob, 'a'], [cy, 'a'], [other, 'b']] as const) {
    const admission = await registry.admit(key, m.name);
    if (admission.ok) registry.join(admission.room, m);
  }
  registry.relay(registry.get('a')!, ada, { from: 'ada', opcode: 1, payload: Buffer.from('hi'), ts: 1, seq: 0 });
  assert.equal([ada.got, bob.got, cy.got, other.got], [[], ['hi'], ['hi'], []]);
});

test('JSON members get presence and envelopes; raw members get bare text', async () => {
  const { registry } = setup();
  const raw = member('raw');
  const json = member('json', 'json');
  for (const m of [json, raw]) {
    const admission = await registry.admit('r', m.name);
    if (admission.ok) registry.join(admission.room, m);
  }
  const room = registry.get('r')!;
  registry.relay(room, raw, { from: 'raw', opcode: 1, payload: Buffer.from('hello'), ts: 7, seq: 0 });
  registry.relay(room, json, { from: 'json', opcode: 1, payload: Buffer.from('back'), ts: 8, seq: 0 });
  registry.relay(room, raw, { from: 'raw', opcode: 2, payload: Buffer.from([0xff, 0x00]), ts: 9, seq: 0 });
  registry.leave(room, raw);
  assert.equal(json.got.map((s) => JSON.parse(s)), [
    { type: 'joined', name: 'raw' },
    { type: 'message', from: 'raw', text: 'hello', ts: 7, seq: 1 },
    { type: 'message', from: 'raw', text: '/wA=', ts: 9, encoding: 'base64', seq: 3 },
    { type: 'left', name: 'raw' },
  ]);
  assert.equal(raw.got, ['back']);
});

test('an emptied room turns idle, keeps its owner, and is purged after the retention', async () => {
  const { store, registry, advance } = setup(1000);
  const ada = member('ada');
  const admission = await registry.admit('r', 'ada');
  if (!admission.ok) throw new Error('refused');
  registry.join(admission.room, ada);
  registry.leave(admission.room, ada);
  assert.is(registry.get('r')?.status, 'idle');
  assert.is(store.saves.at(-1)?.status, 'idle');
  advance(999);
  assert.equal(registry.purgeExpired(), []);
  // A rejoin within the retention keeps the original owner.
  const back = await registry.admit('r', 'bob');
  assert.ok(back.ok && !back.created && back.room.owner === 'ada');
  advance(1);
  assert.equal(registry.purgeExpired(), ['r']);
  assert.equal(store.removes, ['r']);
  assert.is(registry.get('r'), undefined);
});

test('with no retention an emptied room is deleted at once', async () => {
  const { store, registry } = setup(0);
  const ada = member('ada');
  const admission = await registry.admit('r', 'ada');
  if (!admission.ok) throw new Error('refused');
  registry.join(admission.room, ada);
  registry.leave(admission.room, ada);
  assert.is(registry.get('r'), undefined);
  assert.equal(store.removes, ['r']);
});

test('restored rooms come back empty with owner and creation time; live ones get a fresh retention', () => {
  const { registry, now } = setup(1000);
  const restored = registry.restore([
    { room: 'live', owner: 'ada', createdAt: 5, status: 'live', lastActivity: 10 },
    { room: 'idle', owner: 'bob', createdAt: 6, status: 'idle', lastActivity: now() - 400 },
  ]);
  assert.is(restored, 2);
  const live = registry.get('live')!;
  assert.equal([live.owner, live.createdAt, live.members.size, live.lastActivity], ['ada', 5, 0, now()]);
  assert.is(registry.get('idle')!.lastActivity, now() - 400);
});

test('a late load merges into a room created meanwhile: the stored creation gives owner, createdAt and access; members stay', async () => {
  const { store, registry, now } = setup(1000);
  // started while the store was down: bob created "steady", not knowing it was stored
  const admission = await registry.admit('steady', 'bob');
  if (!admission.ok) throw new Error('refused');
  const bob = member('bob');
  registry.join(admission.room, bob);
  const room = admission.room;
  const added = registry.restore([
    { room: 'steady', owner: 'ann', createdAt: 5, status: 'idle', lastActivity: 10 },
    { room: 'other', owner: 'cy', createdAt: 6, status: 'idle', lastActivity: 10 },
  ]);
  assert.is(added, 1, 'only the key it lacked is added');
  assert.is(registry.get('steady'), room, 'the same room object: its members are not disturbed');
  assert.equal([room.owner, room.createdAt, [...room.members], room.status, room.lastActivity], ['ann', 5, [bob], 'live', now()]);
  assert.equal(room.record(), { room: 'steady', owner: 'ann', createdAt: 5, status: 'live', lastActivity: now() });
  assert.equal(store.saves.length, 1, 'nothing written: the store merged the row the same way');

  // the store's word wins whichever creation is earlier: the row it kept is the room
  registry.restore([{ room: 'steady', owner: 'mallory', createdAt: 7, status: 'live', lastActivity: 10, locked: true }]);
  assert.equal([room.owner, room.createdAt, room.access.locked], ['mallory', 7, true]);
  registry.restore([{ room: 'steady', owner: 'mallory', createdAt: 7, status: 'live', lastActivity: 10 }]);
  assert.equal([room.owner, room.access.locked], ['mallory', true], 'the same creation read again changes nothing (memory is newer)');
  registry.restore([{ room: 'steady', owner: 'eve', createdAt: 7, status: 'live', lastActivity: 10 }]);
  assert.equal([room.owner, room.access.locked], ['eve', false], 'another creation in the same millisecond is another room');
  // and the owner is not writable from outside the registry
  // @ts-expect-error Room.owner has no setter: only RoomRegistry.restore changes it
  assert.throws(() => (room.owner = 'zed'));
  assert.is(room.owner, 'eve');
});

test('while shutting down, members leaving do not change stored rooms', async () => {
  const { store, registry } = setup(1000);
  const ada = member('ada');
  const admission = await registry.admit('r', 'ada');
  if (!admission.ok) throw new Error('refused');
  registry.join(admission.room, ada);
  registry.freeze();
  registry.leave(admission.room, ada);
  assert.is(store.saves.length, 1);
  assert.is(registry.get('r')?.status, 'live');
});

test('admitNow answers at once for a written room, and defers while its creation is being written', async () => {
  const { store, registry } = setup();
  let release: () => void = () => {};
  store.gate = new Promise((resolve) => (release = resolve));
  assert.is(registry.admitNow('r'), null, 'no such room yet');
  const pending = registry.admit('r', 'ada');
  assert.is(registry.admitNow('r'), null, 'its creation is not durable yet: joiners must wait');
  release();
  const admission = await pending;
  assert.ok(admission.ok);
  assert.is(registry.admitNow('r'), admission.ok ? admission.room : null);
  registry.restore([{ room: 'old', owner: 'bob', createdAt: 1, status: 'live', lastActivity: 1 }]);
  assert.is(registry.admitNow('old')?.owner, 'bob', 'restored rooms are already stored');
});

test.run();
