// Raw-mode rooms over real sockets (CONTRACT.md "Raw mode" and "JSON mode"):
// a message goes to every other member of its room and nowhere else, in the
// sender's order, fragments joined; raw and JSON members hear each other; the
// first member owns the room; keys are case-sensitive; an emptied room is
// deleted (retention 0) or kept idle (retention > 0).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OP, RawClient, binary, close, cont, destroyAllClients, handshakeRequest, text } from '../helpers/raw-client';
import { startTestServer, waitUntil, type TestServer } from '../helpers/test-server';
import type { RoomRecord, RoomStore, StoreHealth, WriteOutcome } from '../../src/persistence/types';

let ts: TestServer;
let noRetention: TestServer | null = null;
let gated: TestServer | null = null;

test.before(async () => {
  ts = await startTestServer();
});
test.after.each(() => destroyAllClients());
test.after(async () => {
  destroyAllClients();
  await noRetention?.stop();
  await gated?.stop();
  await ts.stop();
});

const join = (room: string, name: string, protocol?: string) => RawClient.room(ts.port, room, name, protocol === undefined ? {} : { protocol });

async function expectText(client: RawClient, expected: string, what: string): Promise<void> {
  const message = await client.message();
  assert.is(message.opcode, OP.text, `${what}: text`);
  assert.is(message.payload.toString('utf8'), expected, what);
}

interface JsonFrame {
  type: string;
  [field: string]: unknown;
}

async function jsonFrame(client: RawClient): Promise<JsonFrame> {
  const message = await client.message();
  assert.is(message.opcode, OP.text, 'JSON mode frames are text');
  return JSON.parse(message.payload.toString('utf8')) as JsonFrame;
}

/** The next JSON frame of `type`, skipping presence frames (joined/left). */
async function jsonOfType(client: RawClient, type: string): Promise<JsonFrame> {
  for (;;) {
    const frame = await jsonFrame(client);
    if (frame.type === type) return frame;
    if (frame.type !== 'joined' && frame.type !== 'left') assert.unreachable(`expected ${type}, got ${JSON.stringify(frame)}`);
  }
}

test('relay goes to every other member, never back to the sender', async () => {
  const ada = await join('relay', 'ada');
  const bob = await join('relay', 'bob');
  const cy = await join('relay', 'cy');
  ada.send(text('hello from ada'));
  await expectText(bob, 'hello from ada', 'bob hears ada');
  await expectText(cy, 'hello from ada', 'cy hears ada');
  // Had ada's message come back to her, it would arrive before bob's reply.
  bob.send(text('reply from bob'));
  await expectText(ada, 'reply from bob', 'ada hears bob, and not her own message first');
  await expectText(cy, 'reply from bob', 'cy hears bob');
  cy.send(text('marker from cy'));
  await expectText(bob, 'marker from cy', 'bob did not get his own reply back');
  await expectText(ada, 'marker from cy', 'ada');
});

test('binary messages are relayed as binary, byte for byte', async () => {
  const ada = await join('bin', 'ada');
  const bob = await join('bin', 'bob');
  const payload = Buffer.from([0x00, 0xff, 0x80, 0x7f, 0xc0, 0xaf, 0xed, 0xa0, 0x80]);
  ada.send(binary(payload));
  const message = await bob.message();
  assert.is(message.opcode, OP.binary);
  assert.ok(message.payload.equals(payload));
  assert.is(message.frames, 1);
});

test('a member alone in its room hears nothing of its own messages', async () => {
  const solo = await join('solo', 'ada');
  solo.send(text('anyone?'));
  solo.send(close(1000));
  const result = await solo.expectClose(1000);
  assert.is(result.before.length, 0, 'nothing relayed back before the close');
  await solo.waitForEnd();
});

test('isolation: nothing crosses to another room', async () => {
  const a1 = await join('iso-a', 'a1');
  const a2 = await join('iso-a', 'a2');
  const b1 = await join('iso-b', 'b1');
  const b2 = await join('iso-b', 'b2');
  a1.send(text('only for room a'));
  await expectText(a2, 'only for room a', 'a2 hears a1');
  // b1's next message is b2's, not a1's.
  b2.send(text('only for room b'));
  await expectText(b1, 'only for room b', 'b1 hears only room b');
  a2.send(text('marker a'));
  await expectText(a1, 'marker a', 'a1 hears only room a');
});

test('keys are case-sensitive: Ops and ops are two rooms', async () => {
  const upper = await join('Ops', 'ada');
  const lower = await join('ops', 'bob');
  const upper2 = await join('Ops', 'cy');
  const lower2 = await join('ops', 'dee');
  assert.is(ts.server.registry.get('Ops')?.owner, 'ada');
  assert.is(ts.server.registry.get('ops')?.owner, 'bob');
  assert.is(ts.server.registry.get('OPS'), undefined);
  upper.send(text('in Ops'));
  await expectText(upper2, 'in Ops', 'Ops member');
  lower2.send(text('in ops'));
  await expectText(lower, 'in ops', 'ops member hears ops, not Ops');
});

test('per-sender order: 1000 messages from one member reach two receivers in order', async () => {
  const sender = await join('order', 'sender');
  const r1 = await join('order', 'r1');
  const r2 = await join('order', 'r2');
  const count = 1000;
  // Mixed sizes, several writes, some frames split across writes.
  const all = Buffer.concat(Array.from({ length: count }, (_, i) => text(`message ${i} ${'.'.repeat(i % 37)}`)));
  await sender.sendAll(all, { chunkSize: 4093, delayMs: 0 });
  for (const [name, receiver] of [['r1', r1], ['r2', r2]] as const) {
    for (let i = 0; i < count; i++) {
      const message = await receiver.message(5000);
      assert.is(message.payload.toString('utf8'), `message ${i} ${'.'.repeat(i % 37)}`, `${name} message ${i}`);
    }
  }
});

test('two senders at once: each sender\'s order is kept at the receiver', async () => {
  const s1 = await join('order2', 's1');
  const s2 = await join('order2', 's2');
  const receiver = await join('order2', 'rx');
  const count = 200;
  s1.send(Buffer.concat(Array.from({ length: count }, (_, i) => text(`s1:${i}`))));
  s2.send(Buffer.concat(Array.from({ length: count }, (_, i) => text(`s2:${i}`))));
  const next = { s1: 0, s2: 0 };
  for (let i = 0; i < 2 * count; i++) {
    const [who, n] = (await receiver.message()).payload.toString('utf8').split(':') as ['s1' | 's2', string];
    assert.is(Number(n), next[who], `${who} in order`);
    next[who]++;
  }
  // Each sender hears the other's messages, in order.
  for (let i = 0; i < count; i++) await expectText(s1, `s2:${i}`, 's1 hears s2 in order');
  for (let i = 0; i < count; i++) await expectText(s2, `s1:${i}`, 's2 hears s1 in order');
});

test('a fragmented message is relayed as one message', async () => {
  const ada = await join('frag', 'ada');
  const bob = await join('frag', 'bob');
  ada.send(Buffer.concat([text('frag', { fin: false }), cont('men', { fin: false }), cont('ted')]));
  await expectText(bob, 'fragmented', 'joined fragments');
  ada.send(Buffer.concat([binary(Buffer.from([1, 2]), { fin: false }), cont(Buffer.from([3]))]));
  const message = await bob.message();
  assert.is(message.opcode, OP.binary);
  assert.ok(message.payload.equals(Buffer.from([1, 2, 3])));
});

test('a member whose connection fails is gone; the others keep talking', async () => {
  const ada = await join('fail', 'ada');
  const bad = await join('fail', 'bad');
  const bob = await join('fail', 'bob');
  bad.send(text('unmasked', { mask: false }));
  await bad.expectClose(1002);
  await waitUntil(() => ts.server.registry.get('fail')?.members.size === 2, 'the failed member to leave');
  ada.send(text('still here'));
  await expectText(bob, 'still here', 'bob hears ada');
});

test('raw and JSON members hear each other', async () => {
  const json = await join('mixed', 'jay', 'rooms.v1.json');
  const welcome = await jsonFrame(json);
  const { ownerToken, ...rest } = welcome as unknown as { ownerToken: unknown; epoch: unknown };
  assert.equal(rest, { type: 'welcome', room: 'mixed', you: 'jay', members: ['jay'], epoch: rest.epoch, seq: 0, protected: false, role: 'owner' });
  assert.match(String(rest.epoch), /^[A-Za-z0-9_-]{16}$/);
  assert.type(ownerToken, 'string');
  const raw = await join('mixed', 'rae');
  assert.equal(await jsonFrame(json), { type: 'joined', name: 'rae' });

  raw.send(text('hello from raw'));
  const relayed = await jsonOfType(json, 'message');
  assert.is(relayed.from, 'rae');
  assert.is(relayed.text, 'hello from raw');
  assert.is(typeof relayed.ts, 'number');
  assert.ok(Math.abs((relayed.ts as number) - Date.now()) < 60_000, 'ts is ms since the epoch');
  assert.equal(Object.keys(relayed).sort(), ['from', 'seq', 'text', 'ts', 'type']);
  assert.is(relayed.seq, 1);

  json.send(text(JSON.stringify({ type: 'message', text: 'hello from json ✓' })));
  await expectText(raw, 'hello from json ✓', 'the raw member gets the bare text');

  // Two JSON members: the message reaches the other as JSON, never the sender.
  const json2 = await join('mixed', 'jo', 'rooms.v1.json');
  assert.equal((await jsonFrame(json2)).type, 'welcome');
  json2.send(text(JSON.stringify({ type: 'message', text: 'json to json' })));
  const toJson = await jsonOfType(json, 'message');
  assert.is(toJson.from, 'jo');
  assert.is(toJson.text, 'json to json');
  await expectText(raw, 'json to json', 'raw hears jo');
});

test('the first member to join is the owner, and stays so', async () => {
  const first = await join('owned', 'first');
  const second = await join('owned', 'second');
  assert.is(ts.server.registry.get('owned')?.owner, 'first');
  await first.closeCleanly();
  await waitUntil(() => ts.server.registry.get('owned')?.members.size === 1, 'the owner to leave');
  assert.is(ts.server.registry.get('owned')?.owner, 'first', 'ownership does not pass to the next member');
  second.destroy();
});

test('with retention > 0, an emptied room is kept as idle, with its owner', async () => {
  const only = await join('kept', 'keeper');
  assert.is(ts.server.registry.get('kept')?.status, 'live');
  await only.closeCleanly();
  await waitUntil(() => ts.server.registry.get('kept')?.members.size === 0, 'the member to leave');
  const room = ts.server.registry.get('kept');
  assert.ok(room, 'room still there');
  assert.is(room.status, 'idle');
  assert.is(room.owner, 'keeper');
  // Rejoining brings it back to live, same owner.
  const back = await join('kept', 'someone-else');
  assert.is(ts.server.registry.get('kept')?.status, 'live');
  assert.is(ts.server.registry.get('kept')?.owner, 'keeper');
  await back.closeCleanly();
});

test('with ROOM_RETENTION=0, an emptied room is deleted from the registry', async () => {
  noRetention = await startTestServer({ roomRetentionMs: 0 });
  const a = await RawClient.room(noRetention.port, 'ephemeral', 'ada');
  const b = await RawClient.room(noRetention.port, 'ephemeral', 'bob');
  assert.is(noRetention.server.registry.get('ephemeral')?.owner, 'ada');
  await a.closeCleanly();
  await waitUntil(() => noRetention!.server.registry.get('ephemeral')?.members.size === 1, 'ada to leave');
  assert.ok(noRetention.server.registry.get('ephemeral'), 'not deleted while bob is in it');
  b.destroy(); // a dropped TCP connection, no close frame
  await waitUntil(() => noRetention!.server.registry.get('ephemeral') === undefined, 'the empty room to be deleted');
  // The next join creates it afresh, with a new owner.
  const c = await RawClient.room(noRetention.port, 'ephemeral', 'cy');
  assert.is(noRetention.server.registry.get('ephemeral')?.owner, 'cy');
  await c.closeCleanly();
  await waitUntil(() => noRetention!.server.registry.get('ephemeral') === undefined, 'deleted again');
});

/** An in-memory store whose saves wait while the gate is shut: a slow store, made deterministic. */
class GatedStore implements RoomStore {
  readonly kind = 'file' as const;
  readonly description = 'gated in-memory store (test)';
  private shut: Promise<void> | null = null;
  private release: (() => void) | null = null;
  shutGate(): void {
    this.shut = new Promise((resolve) => (this.release = resolve));
  }
  openGate(): void {
    this.release?.();
    this.shut = null;
  }
  async open(): Promise<RoomRecord[]> {
    return [];
  }
  onLateLoad(): void {}
  async save(): Promise<WriteOutcome> {
    await this.shut;
    return 'durable';
  }
  async remove(): Promise<WriteOutcome> {
    return 'durable';
  }
  health(): StoreHealth {
    return { kind: 'file', state: 'up', pendingWrites: 0, errors: 0, lastError: null, description: this.description };
  }
  async close(): Promise<void> {
    this.openGate();
  }
}

test('ROOM_RETENTION=0: a creator that disconnects while the room is being stored does not strand the next joiner in a deleted room', async () => {
  const store = new GatedStore();
  gated = await startTestServer({ roomRetentionMs: 0 }, { store });
  const { registry } = gated.server;
  let admits = 0;
  const admit = registry.admit.bind(registry);
  registry.admit = (key, name) => {
    admits++;
    return admit(key, name);
  };
  store.shutGate();
  // The creator's join starts the room's write, which now waits.
  const creator = await RawClient.connect(gated.port);
  creator.send(handshakeRequest(gated.port, { path: '/?room=race&name=creator' }).bytes);
  await waitUntil(() => admits === 1 && registry.get('race') !== undefined, 'the creator\'s admission');
  // The creator leaves before its 101; a second member asks to join meanwhile.
  creator.destroy();
  const joiner = await RawClient.connect(gated.port);
  joiner.send(handshakeRequest(gated.port, { path: '/?room=race&name=joiner' }).bytes);
  await waitUntil(() => admits === 2, 'the joiner\'s admission');
  await new Promise((resolve) => setTimeout(resolve, 50)); // let the server see the creator's socket close
  store.openGate();
  assert.is((await joiner.readResponse()).status, 101);
  // The joiner is a member of the room the registry knows as "race": a third member hears it.
  await waitUntil(() => registry.get('race') !== undefined, 'the room the joiner is in to be in the registry', 1000);
  assert.is(registry.get('race')?.members.size, 1, 'the joiner is in the registry\'s room');
  const third = await RawClient.room(gated.port, 'race', 'third');
  joiner.send(text('can anyone hear me?'));
  await expectText(third, 'can anyone hear me?', 'the third member hears the joiner');
});

test.run();
