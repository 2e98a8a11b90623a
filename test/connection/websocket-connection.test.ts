import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WebSocketConnection } from '../../src/connection/websocket-connection';
import type { Message } from '../../src/frames/message-assembler';
import { clientFrame, hex } from '../frames/bytes';

/** A connection with a recording output: what it wrote, delivered, and whether it asked to end TCP. */
function connection(maxMessageBytes = 1 << 20) {
  const written: Buffer[] = [];
  const messages: Message[] = [];
  let shutdowns = 0;
  const conn = new WebSocketConnection(
    {
      write: (bytes) => written.push(Buffer.from(bytes)),
      message: (m) => messages.push({ ...m, payload: Buffer.from(m.payload) }),
      shutdown: () => shutdowns++,
    },
    { maxMessageBytes },
  );
  return { conn, written, messages, shutdowns: () => shutdowns };
}

test('5.5.2/5.5.3: a ping is answered with a pong carrying the same payload', () => {
  const c = connection();
  c.conn.receive(clientFrame({ opcode: 9, payload: 'Hello' }));
  assert.equal(c.written, [hex('8a 05 48 65 6c 6c 6f')]);
});

test('an unsolicited pong is ignored', () => {
  const c = connection();
  c.conn.receive(clientFrame({ opcode: 10, payload: 'x' }));
  assert.equal(c.written, []);
  assert.is(c.conn.state, 'open');
});

test('a ping between fragments is answered before the message completes', () => {
  const c = connection();
  c.conn.receive(Buffer.concat([clientFrame({ opcode: 1, fin: false, payload: 'Hel' }), clientFrame({ opcode: 9, payload: 'p' })]));
  assert.equal(c.written, [hex('8a 01 70')]);
  assert.equal(c.messages, []);
  c.conn.receive(clientFrame({ opcode: 0, payload: 'lo' }));
  assert.equal(c.messages.map((m) => m.payload.toString()), ['Hello']);
});

test('5.5.1: a close is echoed with the peer\'s code and reason, then TCP is ended', () => {
  const c = connection();
  c.conn.receive(clientFrame({ opcode: 8, payload: hex('03 e8 62 79 65') }));
  assert.equal(c.written, [hex('88 05 03 e8 62 79 65')]);
  assert.is(c.conn.state, 'closed');
  assert.is(c.conn.closeCode, 1000);
  assert.is(c.conn.endedBy, 'peer');
  assert.is(c.shutdowns(), 1);
});

test('an empty close is echoed empty (1005 is never sent)', () => {
  const c = connection();
  c.conn.receive(clientFrame({ opcode: 8 }));
  assert.equal(c.written, [hex('88 00')]);
  assert.is(c.conn.closeCode, 1005);
});

test('an invalid close code fails with 1002; an invalid reason with 1007', () => {
  const bad = connection();
  bad.conn.receive(clientFrame({ opcode: 8, payload: hex('03 ed') })); // 1005 on the wire
  assert.is(bad.written[0]![0], 0x88);
  assert.equal(bad.written[0]!.subarray(2, 4), hex('03 ea'));
  const badReason = connection();
  badReason.conn.receive(clientFrame({ opcode: 8, payload: hex('03 e8 ff') }));
  assert.equal(badReason.written[0]!.subarray(2, 4), hex('03 ef'));
});

test('everything after the peer\'s close frame is discarded', () => {
  const c = connection();
  c.conn.receive(Buffer.concat([clientFrame({ opcode: 8 }), clientFrame({ opcode: 1, payload: 'late' }), clientFrame({ opcode: 9 })]));
  c.conn.receive(clientFrame({ opcode: 1, payload: 'later' }));
  assert.equal(c.messages, []);
  assert.is(c.written.length, 1, 'only the close echo');
});

test('messages before a bad frame are delivered before the failure', () => {
  const c = connection();
  c.conn.receive(Buffer.concat([clientFrame({ opcode: 1, payload: 'one' }), clientFrame({ opcode: 2, payload: 'two' }), clientFrame({ opcode: 1, rsv: 2 })]));
  assert.equal(c.messages.map((m) => m.payload.toString()), ['one', 'two']);
  assert.equal(c.written.map((b) => b.subarray(0, 4).toString('hex')), ['8813' + '03ea']);
  assert.is(c.conn.endedBy, 'protocol-error');
  assert.is(c.shutdowns(), 1);
});

test('a message over the limit fails with 1009', () => {
  const c = connection(10);
  c.conn.receive(clientFrame({ opcode: 2, payload: Buffer.alloc(11) }));
  assert.is(c.conn.closeCode, 1009);
  assert.equal(c.written[0]!.subarray(2, 4), hex('03 f1'));
});

test('7.1.2: our close waits in CLOSING for the peer\'s close, discarding data meanwhile', () => {
  const c = connection();
  c.conn.close(1001, 'going away');
  assert.is(c.conn.state, 'closing');
  assert.equal(c.written[0]!.subarray(0, 4), hex('88 0c 03 e9'));
  c.conn.receive(clientFrame({ opcode: 1, payload: 'in flight' }));
  assert.equal(c.messages, []);
  assert.is(c.shutdowns(), 0);
  c.conn.receive(clientFrame({ opcode: 8, payload: hex('03 e9') }));
  assert.is(c.conn.state, 'closed');
  assert.is(c.written.length, 1, 'the peer\'s close is not answered again');
  assert.is(c.shutdowns(), 1);
  assert.is(c.conn.closeCode, 1001);
});

test('no data frames after a close frame was sent', () => {
  const c = connection();
  c.conn.close(1000);
  c.conn.send(1, Buffer.from('x'));
  c.conn.sendEncoded(hex('81 01 78'));
  c.conn.ping();
  assert.is(c.written.length, 1);
});

test('TCP ending without a close frame is 1006', () => {
  const c = connection();
  c.conn.receiveEof();
  assert.is(c.conn.closeCode, 1006);
  assert.is(c.conn.endedBy, 'eof');
  assert.is(c.shutdowns(), 1);
  c.conn.receiveEof();
  assert.is(c.shutdowns(), 1, 'once');
});

test('every received byte counts as a sign of life for the heartbeat', () => {
  const c = connection();
  c.conn.heardFrom = false;
  c.conn.receive(Buffer.from([0x81]));
  assert.ok(c.conn.heardFrom);
});

test.run();
