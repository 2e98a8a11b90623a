import * as fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FrameParser, type Frame } from '../../src/frames/frame-parser';
import { ProtocolError } from '../../src/frames/protocol-error';
import { clientFrame, hex } from './bytes';

type Result = { frames: Array<{ fin: boolean; opcode: number; rsv1: boolean; payload: string }>; error: { closeCode: number; code: string } | null };

function parseChunks(chunks: Buffer[], options: { maxMessageBytes?: number; expectMasked?: boolean; maxFragments?: number } = {}): Result {
  const parser = new FrameParser({ maxMessageBytes: options.maxMessageBytes ?? 1 << 20, expectMasked: options.expectMasked ?? true, maxFragments: options.maxFragments });
  const result: Result = { frames: [], error: null };
  for (const chunk of chunks) {
    parser.push(Buffer.from(chunk)); // a copy: the parser unmasks in place
    for (;;) {
      const out = parser.next();
      if (out === null) break;
      if (out instanceof ProtocolError) {
        result.error = { closeCode: out.closeCode, code: out.code };
        return result;
      }
      result.frames.push(summary(out));
    }
  }
  return result;
}

function summary(frame: Frame) {
  return { fin: frame.fin, opcode: frame.opcode, rsv1: frame.rsv1, payload: frame.payload.toString('hex') };
}

function oneByteAtATime(bytes: Buffer): Buffer[] {
  return [...bytes].map((b) => Buffer.from([b]));
}

// --- RFC 6455 section 5.7 examples

test('5.7: a single-frame unmasked text message (as a client reads it)', () => {
  const r = parseChunks([hex('81 05 48 65 6c 6c 6f')], { expectMasked: false });
  assert.equal(r.frames, [{ fin: true, opcode: 1, rsv1: false, payload: Buffer.from('Hello').toString('hex') }]);
});

test('5.7: a single-frame masked text message', () => {
  const r = parseChunks([hex('81 85 37 fa 21 3d 7f 9f 4d 51 58')]);
  assert.is(Buffer.from(r.frames[0]!.payload, 'hex').toString(), 'Hello');
});

test('5.7: a fragmented unmasked text message', () => {
  const r = parseChunks([hex('01 03 48 65 6c'), hex('80 02 6c 6f')], { expectMasked: false });
  assert.equal(r.frames.map((f) => [f.fin, f.opcode, Buffer.from(f.payload, 'hex').toString()]), [
    [false, 1, 'Hel'],
    [true, 0, 'lo'],
  ]);
});

test('5.7: masked pong and 16-bit and 64-bit lengths', () => {
  const pong = parseChunks([hex('8a 85 37 fa 21 3d 7f 9f 4d 51 58')]);
  assert.is(pong.frames[0]!.opcode, 0xa);
  const r256 = parseChunks([Buffer.concat([hex('82 7e 01 00'), Buffer.alloc(256, 7)])], { expectMasked: false });
  assert.is(r256.frames[0]!.payload.length, 512);
  const r64k = parseChunks([Buffer.concat([hex('82 7f 00 00 00 00 00 01 00 00'), Buffer.alloc(65536, 1)])], { expectMasked: false });
  assert.is(r64k.frames[0]!.payload.length, 131072);
});

// --- chunking never changes the result

const stream = Buffer.concat([
  clientFrame({ opcode: 1, payload: 'héllo wörld' }),
  clientFrame({ opcode: 9, payload: 'ping!' }),
  clientFrame({ opcode: 2, fin: false, payload: Buffer.alloc(130, 0xab) }),
  clientFrame({ opcode: 10, payload: '' }),
  clientFrame({ opcode: 0, fin: false, payload: '' }),
  clientFrame({ opcode: 0, payload: Buffer.alloc(70000, 0x5a) }),
  clientFrame({ opcode: 1, fin: false, payload: Buffer.from([0xe2, 0x82]) }),
  clientFrame({ opcode: 0, payload: Buffer.from([0xac]) }),
  clientFrame({ opcode: 8, payload: Buffer.from([0x03, 0xe8, 0x6f, 0x6b]) }),
]);

test('a multi-frame buffer gives the same frames split at every point', () => {
  const whole = parseChunks([stream]);
  assert.is(whole.error, null);
  assert.is(whole.frames.length, 9);
  const step = 1;
  for (let i = 0; i <= stream.length; i += i < 300 || i > stream.length - 300 ? step : 997) {
    const split = parseChunks([stream.subarray(0, i), stream.subarray(i)]);
    assert.equal(split, whole, `split at ${i}`);
  }
});

test('the same frames delivered one byte at a time', () => {
  const small = Buffer.concat([
    clientFrame({ opcode: 1, payload: 'a€𝄞' }),
    clientFrame({ opcode: 9, payload: 'p' }),
    clientFrame({ opcode: 2, payload: Buffer.alloc(300, 1) }),
  ]);
  assert.equal(parseChunks(oneByteAtATime(small)), parseChunks([small]));
});

test('property: any chunking of the same bytes gives the same frames or the same error', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: stream.length }), { maxLength: 12 }), (cuts) => {
      const points = [...new Set(cuts)].sort((a, b) => a - b);
      const chunks: Buffer[] = [];
      let last = 0;
      for (const p of points) {
        chunks.push(stream.subarray(last, p));
        last = p;
      }
      chunks.push(stream.subarray(last));
      assert.equal(parseChunks(chunks), parseChunks([stream]));
    }),
    { numRuns: 200 },
  );
});

test('property: arbitrary bytes never throw and never return more than they were given', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), fc.integer({ min: 1, max: 50 }), (bytes, chunkSize) => {
      const buf = Buffer.from(bytes);
      const chunks: Buffer[] = [];
      for (let i = 0; i < buf.length; i += chunkSize) chunks.push(buf.subarray(i, i + chunkSize));
      const r = parseChunks(chunks, { maxMessageBytes: 200 });
      const total = r.frames.reduce((n, f) => n + f.payload.length / 2, 0);
      assert.ok(total <= buf.length);
      if (r.error) assert.ok([1002, 1007, 1009].includes(r.error.closeCode));
    }),
    { numRuns: 500 },
  );
});

// --- section 5 rules, each with its close code

const violations: Array<[string, Buffer, number, string]> = [
  ['unmasked client frame (5.1)', clientFrame({ opcode: 1, payload: 'x', mask: null }), 1002, 'WS_ERR_UNMASKED_FRAME'],
  ['RSV1 without an extension (5.2)', clientFrame({ opcode: 1, rsv: 4, payload: 'x' }), 1002, 'WS_ERR_RESERVED_BITS'],
  ['RSV2 (5.2)', clientFrame({ opcode: 1, rsv: 2, payload: 'x' }), 1002, 'WS_ERR_RESERVED_BITS'],
  ['RSV3 (5.2)', clientFrame({ opcode: 1, rsv: 1, payload: 'x' }), 1002, 'WS_ERR_RESERVED_BITS'],
  ['reserved data opcode 0x3 (5.2)', clientFrame({ opcode: 3 }), 1002, 'WS_ERR_RESERVED_OPCODE'],
  ['reserved data opcode 0x7 (5.2)', clientFrame({ opcode: 7 }), 1002, 'WS_ERR_RESERVED_OPCODE'],
  ['reserved control opcode 0xB (5.2)', clientFrame({ opcode: 0xb }), 1002, 'WS_ERR_RESERVED_OPCODE'],
  ['reserved control opcode 0xF (5.2)', clientFrame({ opcode: 0xf }), 1002, 'WS_ERR_RESERVED_OPCODE'],
  ['ping of 126 bytes (5.5)', clientFrame({ opcode: 9, payload: Buffer.alloc(126) }), 1002, 'WS_ERR_CONTROL_FRAME_TOO_LONG'],
  ['fragmented ping (5.5)', clientFrame({ opcode: 9, fin: false, payload: 'x' }), 1002, 'WS_ERR_FRAGMENTED_CONTROL_FRAME'],
  ['fragmented close (5.5)', clientFrame({ opcode: 8, fin: false }), 1002, 'WS_ERR_FRAGMENTED_CONTROL_FRAME'],
  ['continuation with nothing to continue (5.4)', clientFrame({ opcode: 0, payload: 'x' }), 1002, 'WS_ERR_UNEXPECTED_CONTINUATION'],
  [
    'new text message inside a fragmented one (5.4)',
    Buffer.concat([clientFrame({ opcode: 1, fin: false, payload: 'a' }), clientFrame({ opcode: 1, payload: 'b' })]),
    1002,
    'WS_ERR_EXPECTED_CONTINUATION',
  ],
  ['64-bit length with its most significant bit set (5.2)', hex('82 ff 80 00 00 00 00 00 00 00 37 fa 21 3d'), 1002, 'WS_ERR_LENGTH_MSB_SET'],
  ['64-bit length no message could reach: 2^62', hex('82 ff 40 00 00 00 00 00 00 00 37 fa 21 3d'), 1009, 'WS_ERR_MESSAGE_TOO_BIG'],
  ['invalid UTF-8 in a text frame (8.1)', clientFrame({ opcode: 1, payload: Buffer.from([0xce, 0xba, 0xe1, 0xbd]) }), 1007, 'WS_ERR_INVALID_UTF8'],
  ['surrogate encoded in UTF-8', clientFrame({ opcode: 1, payload: Buffer.from([0xed, 0xa0, 0x80]) }), 1007, 'WS_ERR_INVALID_UTF8'],
  ['overlong encoding', clientFrame({ opcode: 1, payload: Buffer.from([0xc0, 0xaf]) }), 1007, 'WS_ERR_INVALID_UTF8'],
  ['code point past U+10FFFF', clientFrame({ opcode: 1, payload: Buffer.from([0xf4, 0x90, 0x80, 0x80]) }), 1007, 'WS_ERR_INVALID_UTF8'],
  [
    'text message ending inside a code point',
    Buffer.concat([clientFrame({ opcode: 1, fin: false, payload: 'ok' }), clientFrame({ opcode: 0, payload: Buffer.from([0xe2, 0x82]) })]),
    1007,
    'WS_ERR_INVALID_UTF8',
  ],
];

for (const [name, bytes, closeCode, code] of violations) {
  test(`${name} -> ${closeCode}`, () => {
    assert.equal(parseChunks([bytes]).error, { closeCode, code });
    assert.equal(parseChunks(oneByteAtATime(bytes)).error, { closeCode, code }, 'one byte at a time');
  });
}

test('a server parser rejects masked frames (as a client must)', () => {
  assert.equal(parseChunks([clientFrame({ opcode: 1, payload: 'x' })], { expectMasked: false }).error, { closeCode: 1002, code: 'WS_ERR_UNMASKED_FRAME' });
});

test('frames before a bad frame are returned before the error', () => {
  const bytes = Buffer.concat([clientFrame({ opcode: 1, payload: 'first' }), clientFrame({ opcode: 9, payload: 'p' }), clientFrame({ opcode: 3 })]);
  const r = parseChunks([bytes]);
  assert.is(r.frames.length, 2);
  assert.equal(r.error, { closeCode: 1002, code: 'WS_ERR_RESERVED_OPCODE' });
});

test('control frames between fragments are returned at once, before the message completes', () => {
  const r = parseChunks([clientFrame({ opcode: 1, fin: false, payload: 'frag1' }), clientFrame({ opcode: 9, payload: 'mid' })]);
  assert.equal(r.frames.map((f) => f.opcode), [1, 9]);
  assert.is(r.error, null);
});

test('control frames of 125 bytes are fine', () => {
  assert.is(parseChunks([clientFrame({ opcode: 9, payload: Buffer.alloc(125, 1) })]).frames[0]!.payload.length, 250);
});

// --- size limits

test('a message of exactly the limit is accepted; one byte more is 1009 at the header', () => {
  assert.is(parseChunks([clientFrame({ opcode: 2, payload: Buffer.alloc(1000) })], { maxMessageBytes: 1000 }).error, null);
  // Only the header is sent: the limit is enforced before any payload is buffered.
  const header = clientFrame({ opcode: 2, declaredLength: 1001 }).subarray(0, 8);
  assert.equal(parseChunks([header], { maxMessageBytes: 1000 }).error, { closeCode: 1009, code: 'WS_ERR_MESSAGE_TOO_BIG' });
});

test('fragments summing over the limit are 1009 at the fragment that crosses it', () => {
  const bytes = Buffer.concat([clientFrame({ opcode: 2, fin: false, payload: Buffer.alloc(600) }), clientFrame({ opcode: 0, declaredLength: 401 }).subarray(0, 8)]);
  assert.equal(parseChunks([bytes], { maxMessageBytes: 1000 }), {
    frames: [{ fin: false, opcode: 2, rsv1: false, payload: Buffer.alloc(600).toString('hex') }],
    error: { closeCode: 1009, code: 'WS_ERR_MESSAGE_TOO_BIG' },
  });
});

test('a stream of tiny fragments is bounded by the fragment limit', () => {
  const parts = [clientFrame({ opcode: 2, fin: false, payload: 'a' })];
  for (let i = 0; i < 10; i++) parts.push(clientFrame({ opcode: 0, fin: false, payload: '' }));
  assert.equal(parseChunks([Buffer.concat(parts)], { maxFragments: 8 }).error, { closeCode: 1009, code: 'WS_ERR_TOO_MANY_FRAGMENTS' });
});

// --- UTF-8 fails fast (section 8.1)

test('invalid UTF-8 fails mid-frame, as soon as the bytes so far are certainly invalid', () => {
  const frame = clientFrame({ opcode: 1, payload: Buffer.concat([Buffer.from('κόσμε'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('more text')]) });
  const parser = new FrameParser({ maxMessageBytes: 1 << 20, expectMasked: true });
  const cut = 6 + Buffer.from('κόσμε').length + 2; // header + valid text + "ED A0": certain already
  parser.push(Buffer.from(frame.subarray(0, cut - 1)));
  assert.is(parser.next(), null, 'ED alone could still be valid');
  parser.push(Buffer.from(frame.subarray(cut - 1, cut)));
  const out = parser.next();
  assert.instance(out, ProtocolError);
  assert.is((out as ProtocolError).closeCode, 1007);
});

test('invalid UTF-8 fails in the fragment that carries it, before the message ends', () => {
  const first = clientFrame({ opcode: 1, fin: false, payload: 'valid' });
  const second = clientFrame({ opcode: 0, fin: false, payload: Buffer.from([0xf8, 0x88]) });
  assert.equal(parseChunks([first, second]).error, { closeCode: 1007, code: 'WS_ERR_INVALID_UTF8' });
});

test('a code point split across fragments is valid', () => {
  const euro = Buffer.from('€'); // e2 82 ac
  const r = parseChunks([
    clientFrame({ opcode: 1, fin: false, payload: euro.subarray(0, 1) }),
    clientFrame({ opcode: 0, fin: false, payload: euro.subarray(1, 2) }),
    clientFrame({ opcode: 0, payload: euro.subarray(2) }),
  ]);
  assert.is(r.error, null);
  assert.is(r.frames.length, 3);
});

test('a 4-byte code point split across fragments and chunks is valid', () => {
  const clef = Buffer.from('x𝄞y'); // 78 f0 9d 84 9e 79
  const bytes = Buffer.concat([clientFrame({ opcode: 1, fin: false, payload: clef.subarray(0, 3) }), clientFrame({ opcode: 0, payload: clef.subarray(3) })]);
  assert.is(parseChunks(oneByteAtATime(bytes)).error, null);
});

test('binary payloads are never UTF-8 checked', () => {
  assert.is(parseChunks([clientFrame({ opcode: 2, payload: Buffer.from([0xff, 0xfe]) })]).error, null);
});

test('after an error, further input is discarded', () => {
  const parser = new FrameParser({ maxMessageBytes: 100, expectMasked: true });
  parser.push(clientFrame({ opcode: 3 }));
  assert.instance(parser.next(), ProtocolError);
  parser.push(clientFrame({ opcode: 1, payload: 'ignored' }));
  assert.is(parser.next(), null);
  assert.is(parser.bufferedBytes, 0);
});

test.run();
