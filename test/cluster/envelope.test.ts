// The bytes that cross Redis (src/cluster/envelope.ts): a message body survives
// the round trip whole, binary included (no base64, any byte, ':' too), behind
// the script's "m:SEQ:EPOCH:" head; presence and resync notices are text; and
// anything malformed decodes to null instead of throwing.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeChannelEvent, encodeMessageBody } from '../../src/cluster/envelope';
import { roomHash } from '../../src/cluster/names';

const node = '0123456789abcdef';

test('a binary message round-trips behind the sequencer head', () => {
  const payload = Buffer.from([0x3a, 0, 0xff, 0x6d, 0x3a, 0x0a]);
  const body = encodeMessageBody({ node, conn: 4_000_000_000, opcode: 2, ts: 1_764_662_400_123, from: 'zoë:1', payload });
  const published = Buffer.concat([Buffer.from('m:42:epoch-x.1:'), body]);
  const event = decodeChannelEvent(published);
  assert.ok(event !== null && event.kind === 'message');
  if (event?.kind !== 'message') return;
  assert.equal({ seq: event.seq, epoch: event.epoch, node: event.node, conn: event.conn, opcode: event.opcode, ts: event.ts, from: event.from }, { seq: 42, epoch: 'epoch-x.1', node, conn: 4_000_000_000, opcode: 2, ts: 1_764_662_400_123, from: 'zoë:1' });
  assert.equal([...event.payload], [...payload]);
  assert.is(body.length, 16 + 4 + 1 + 8 + 2 + Buffer.byteLength('zoë:1') + payload.length, 'no base64, no padding');
});

test('presence and resync notices', () => {
  assert.equal(decodeChannelEvent(Buffer.from(`p:7:${node}:-2:a:b c`)), { kind: 'presence', version: 7, node, delta: -2, name: 'a:b c' });
  assert.equal(decodeChannelEvent(Buffer.from(`s:8:${node}`)), { kind: 'sync', version: 8, node });
});

test('malformed input is null, never a throw', () => {
  for (const raw of ['', 'm', 'm:', 'm:1:e:', 'm:x:e:' + 'y'.repeat(40), 'p:1:zz:1:a', 's:1:short', 'q:1:2', `p:1:${node}:one:a`]) {
    assert.is(decodeChannelEvent(Buffer.from(raw)), null, JSON.stringify(raw));
  }
  const body = encodeMessageBody({ node, conn: 1, opcode: 1, ts: 0, from: 'a', payload: Buffer.from('x') });
  body.writeUInt8(9, 20); // opcode 9 is not a data opcode
  assert.is(decodeChannelEvent(Buffer.concat([Buffer.from('m:1:e:'), body])), null);
  const truncated = encodeMessageBody({ node, conn: 1, opcode: 1, ts: 0, from: 'a-long-name', payload: Buffer.alloc(0) }).subarray(0, 33);
  assert.is(decodeChannelEvent(Buffer.concat([Buffer.from('m:1:e:'), truncated])), null);
});

test('room names are hashed per cluster: no key in them, and clusters differ', () => {
  const h = roomHash('rooms', 'my-secret-room');
  assert.match(h, /^[A-Za-z0-9_-]{22}$/);
  assert.not.ok(h.includes('secret'));
  assert.is.not(roomHash('other', 'my-secret-room'), h);
  assert.is(roomHash('rooms', 'my-secret-room'), h);
  assert.is.not(roomHash('rooms', 'My-secret-room'), h, 'keys are case-sensitive');
});

test.run();
