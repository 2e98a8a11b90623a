// MAX_MESSAGE_BYTES under permessage-deflate is the inflated size: the wire limit of a
// compressed message is deflate's worst-case growth of a message of the limit (checked
// from the header), inflation is capped at the limit, and exactly the limit passes
// whatever its compressibility.
import { randomBytes } from 'node:crypto';
import { constants, deflateRawSync } from 'node:zlib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WebSocketConnection } from '../../src/connection/websocket-connection';
import { FLUSH_BYTES_PER_FRAGMENT, InflateWindow, deflateMessage, maxCompressedBytes } from '../../src/extensions/permessage-deflate';
import { FrameParser } from '../../src/frames/frame-parser';
import { ProtocolError } from '../../src/frames/protocol-error';
import { clientFrame } from '../frames/bytes';

const RSV1 = 4;

/** What a client's deflater sends for one message (RFC 7692 section 7.2.1: tail removed). */
function clientDeflate(payload: Buffer, options: { level?: number; memLevel?: number; windowBits?: number; strategy?: number } = {}): Buffer {
  const out = deflateRawSync(payload, { finishFlush: constants.Z_SYNC_FLUSH, ...options });
  return out.subarray(0, out.length - 4);
}

test('the wire bound covers incompressible data under every zlib setting a client may use', () => {
  const strategies = [constants.Z_DEFAULT_STRATEGY, constants.Z_FILTERED, constants.Z_HUFFMAN_ONLY, constants.Z_RLE, constants.Z_FIXED];
  for (const size of [0, 1, 100, 4096, 65536]) {
    const data = randomBytes(size);
    for (const level of [0, 1, 6, 9]) {
      for (const memLevel of [1, 8, 9]) {
        for (const windowBits of [9, 15]) {
          for (const strategy of strategies) {
            const wire = clientDeflate(data, { level, memLevel, windowBits, strategy }).length;
            assert.ok(wire <= maxCompressedBytes(size), `size ${size} level ${level} memLevel ${memLevel} windowBits ${windowBits} strategy ${strategy}: ${wire} > ${maxCompressedBytes(size)}`);
          }
        }
      }
    }
  }
  // Random bytes really do grow: the wire limit must be above the message limit.
  assert.ok(clientDeflate(randomBytes(65536)).length > 65536);
});

test('inflating: exactly the limit passes however it compressed; one byte more is 1009', () => {
  const limit = 65536;
  const exact = randomBytes(limit);
  const wire = clientDeflate(exact);
  assert.ok(wire.length > limit, 'incompressible: longer on the wire than the limit');
  const r = new InflateWindow(false).inflate(wire, limit);
  assert.ok(r.ok && r.payload.equals(exact));
  const over = new InflateWindow(false).inflate(clientDeflate(randomBytes(limit + 1)), limit);
  assert.equal(over, { ok: false, closeCode: 1009, reason: `message over ${limit} bytes` });
  const compressibleOver = new InflateWindow(false).inflate(clientDeflate(Buffer.alloc(limit + 1, 'a')), limit);
  assert.equal(compressibleOver, { ok: false, closeCode: 1009, reason: `message over ${limit} bytes` });
});

function parserError(bytes: Buffer, maxMessageBytes: number): ProtocolError | null {
  const parser = new FrameParser({ maxMessageBytes, expectMasked: true, allowRsv1: true, maxCompressedBytes: maxCompressedBytes(maxMessageBytes), compressedBytesPerFragment: FLUSH_BYTES_PER_FRAGMENT });
  parser.push(bytes);
  for (;;) {
    const next = parser.next();
    if (next === null) return null;
    if (next instanceof ProtocolError) return next;
  }
}

test('from the header: a compressed frame longer than any message within the limit deflates to is 1009 at once', () => {
  const limit = 1000;
  const wireLimit = maxCompressedBytes(limit) + FLUSH_BYTES_PER_FRAGMENT;
  const headerOnly = (length: number, rsv: number) => clientFrame({ opcode: 2, rsv, declaredLength: length }).subarray(0, 8);
  assert.is(parserError(headerOnly(wireLimit, RSV1), limit), null, 'could still be a message within the limit: wait for it');
  const tooLong = parserError(headerOnly(wireLimit + 1, RSV1), limit);
  assert.is(tooLong?.closeCode, 1009);
  assert.is(tooLong?.reason, `message over ${limit} bytes`);
  // Uncompressed, the wire length is the message length.
  assert.is(parserError(headerOnly(limit + 1, 0), limit)?.closeCode, 1009);
  assert.is(parserError(headerOnly(limit, 0), limit), null);
  // Fragments of a compressed message: each may end in a sync flush.
  const first = clientFrame({ opcode: 2, rsv: RSV1, fin: false, payload: Buffer.alloc(maxCompressedBytes(limit)) });
  assert.is(parserError(Buffer.concat([first, clientFrame({ opcode: 0, declaredLength: FLUSH_BYTES_PER_FRAGMENT * 2 }).subarray(0, 8)]), limit), null);
  const overFragments = Buffer.concat([first, clientFrame({ opcode: 0, declaredLength: FLUSH_BYTES_PER_FRAGMENT * 2 + 1 }).subarray(0, 8)]);
  assert.is(parserError(overFragments, limit)?.closeCode, 1009);
});

test('a connection with deflate delivers a random message of exactly the limit and closes 1009 one byte over', () => {
  const limit = 4096;
  const delivered: Buffer[] = [];
  const written: Buffer[] = [];
  const connect = () =>
    new WebSocketConnection(
      { write: (b) => written.push(b), message: (m) => delivered.push(m.payload), shutdown: () => {} },
      { maxMessageBytes: limit, deflate: { clientContextTakeover: true, serverMaxWindowBits: 15 } },
    );
  const exact = randomBytes(limit);
  const conn = connect();
  conn.receive(clientFrame({ opcode: 2, rsv: RSV1, payload: clientDeflate(exact) }));
  assert.is(conn.state, 'open');
  assert.equal(delivered, [exact]);
  const over = connect();
  over.receive(clientFrame({ opcode: 2, rsv: RSV1, payload: clientDeflate(randomBytes(limit + 1)) }));
  assert.is(over.closeCode, 1009);
  assert.is(over.closeReason, `message over ${limit} bytes`);
});

test('the server sends incompressible messages plain, never longer than they are', () => {
  assert.is(deflateMessage(randomBytes(65536), 15), null);
  const text = Buffer.from('compressible '.repeat(1000));
  assert.ok(deflateMessage(text, 15)!.length < text.length);
});

test.run();
