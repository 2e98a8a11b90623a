// LocalDelivery's large-payload path (issue 15): a member that takes header and
// payload apart gets exactly the bytes a member taking whole frames gets, the
// payload itself not copied; small payloads, deflate members and members without
// deliverParts keep receiving whole frames through deliver().
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeFrame } from '../../src/frames/frame-encoder';
import { Opcode } from '../../src/frames/opcodes';
import { LocalDelivery } from '../../src/rooms/delivery';
import type { RoomMember } from '../../src/rooms/member';
import { Room } from '../../src/rooms/room';

interface Recorder extends RoomMember {
  whole: Buffer[];
  parts: Array<[Buffer, Buffer]>;
}

function recorder(name: string, takesParts: boolean, deflateWindowBits = 0): Recorder {
  const r: Recorder = {
    name,
    mode: 'raw',
    deflateWindowBits,
    whole: [],
    parts: [],
    deliver: (frame: Buffer) => r.whole.push(frame),
  };
  if (takesParts) r.deliverParts = (header: Buffer, payload: Buffer) => r.parts.push([header, payload]);
  return r;
}

function roomOf(...members: RoomMember[]): Room {
  const room = new Room('r', { owner: 'x', createdAt: 0 }, 'live', 0);
  for (const m of members) room.members.add(m);
  return room;
}

const sender = recorder('sender', true);

test('a 256 KiB binary message: header + payload to members with deliverParts, equal to the whole frame the others get', () => {
  const payload = Buffer.alloc(256 * 1024);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
  const a = recorder('a', true);
  const b = recorder('b', true);
  const plainOnly = recorder('c', false);
  new LocalDelivery().relay(roomOf(sender, a, b, plainOnly), sender, { from: 'sender', opcode: Opcode.Binary, payload, ts: 0, seq: 1 });
  const expected = encodeFrame(Opcode.Binary, payload);
  for (const m of [a, b]) {
    assert.is(m.whole.length, 0, `${m.name}: no whole frame`);
    assert.is(m.parts.length, 1, `${m.name}: one frame in two parts`);
    const [header, body] = m.parts[0]!;
    assert.ok(body === payload, `${m.name}: the payload itself, not a copy`);
    assert.ok(Buffer.concat([header, body]).equals(expected), `${m.name}: byte for byte the single-buffer frame`);
  }
  assert.ok(a.parts[0]![0] === b.parts[0]![0], 'one header encoded for all receivers');
  assert.is(plainOnly.whole.length, 1);
  assert.ok(plainOnly.whole[0]!.equals(expected), 'a member without deliverParts gets the whole frame');
  assert.is(sender.parts.length + sender.whole.length, 0, 'nothing back to the sender');
});

test('small payloads still go as one whole frame, encoded once', () => {
  const a = recorder('a', true);
  const b = recorder('b', true);
  new LocalDelivery().relay(roomOf(sender, a, b), sender, { from: 'sender', opcode: Opcode.Text, payload: Buffer.from('hello'), ts: 0, seq: 1 });
  assert.is(a.parts.length + b.parts.length, 0);
  assert.ok(a.whole[0]!.equals(encodeFrame(Opcode.Text, Buffer.from('hello'))));
  assert.ok(a.whole[0] === b.whole[0], 'the same bytes for every receiver');
});

test('a member with permessage-deflate gets a compressed whole frame, not the plain parts', () => {
  const payload = Buffer.alloc(64 * 1024, 0x61);
  const deflating = recorder('z', true, 15);
  new LocalDelivery().relay(roomOf(sender, deflating), sender, { from: 'sender', opcode: Opcode.Binary, payload, ts: 0, seq: 1 });
  assert.is(deflating.parts.length, 0);
  assert.is(deflating.whole.length, 1);
  assert.is(deflating.whole[0]![0], 0x80 | 0x40 | Opcode.Binary, 'FIN + RSV1 (compressed) + binary');
  assert.ok(deflating.whole[0]!.length < payload.length / 10);
});

test.run();
