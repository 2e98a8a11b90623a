import * as fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeFrame, encodeHeader, headerLengthFor } from '../../src/frames/frame-encoder';
import { FrameParser } from '../../src/frames/frame-parser';
import { ProtocolError } from '../../src/frames/protocol-error';
import { hex } from './bytes';

test('5.7: "Hello" unmasked is 81 05 48 65 6c 6c 6f', () => {
  assert.equal(encodeFrame(1, Buffer.from('Hello')), hex('81 05 48 65 6c 6c 6f'));
});

test('5.7: "Hello" masked with 37 fa 21 3d', () => {
  assert.equal(encodeFrame(1, Buffer.from('Hello'), { mask: hex('37 fa 21 3d') }), hex('81 85 37 fa 21 3d 7f 9f 4d 51 58'));
});

const lengthCases: Array<[number, string]> = [
  [0, '82 00'],
  [125, '82 7d'],
  [126, '82 7e 00 7e'],
  [65535, '82 7e ff ff'],
  [65536, '82 7f 00 00 00 00 00 01 00 00'],
];
for (const [length, header] of lengthCases) {
  test(`a ${length}-byte payload uses the minimal length encoding (5.2)`, () => {
    const frame = encodeFrame(2, Buffer.alloc(length, 0x61));
    assert.equal(frame.subarray(0, hex(header).length), hex(header));
    assert.is(frame.length, hex(header).length + length);
    assert.is(headerLengthFor(length, false), hex(header).length);
  });
}

test('fin=false and rsv1 set the first byte', () => {
  assert.is(encodeFrame(1, Buffer.alloc(0), { fin: false })[0], 0x01);
  assert.is(encodeFrame(1, Buffer.alloc(0), { rsv1: true })[0], 0xc1);
});

test('property: encoder -> parser round-trips every opcode, length and mask', () => {
  fc.assert(
    fc.property(fc.constantFrom(1, 2, 9, 10), fc.uint8Array({ maxLength: 70000 }), fc.uint8Array({ minLength: 4, maxLength: 4 }), (opcode, payload, mask) => {
      const body = opcode === 1 ? Buffer.from(Buffer.from(payload).toString('utf8')) : Buffer.from(payload.subarray(0, opcode >= 8 ? 125 : payload.length));
      const parser = new FrameParser({ maxMessageBytes: 1 << 20, expectMasked: true });
      parser.push(encodeFrame(opcode, body, { mask }));
      const frame = parser.next();
      assert.not.instance(frame, ProtocolError);
      assert.ok(frame !== null);
      if (frame === null || frame instanceof ProtocolError) return;
      assert.is(frame.opcode, opcode);
      assert.ok(frame.payload.equals(body));
    }),
    { numRuns: 150 },
  );
});


test('encodeHeader followed by the payload is encodeFrame byte for byte (every length encoding, fin and rsv1)', () => {
  const lengths = fc.oneof(fc.integer({ min: 0, max: 300 }), fc.constantFrom(125, 126, 127, 65535, 65536, 65537, 256 * 1024), fc.integer({ min: 0, max: 200_000 }));
  fc.assert(
    fc.property(lengths, fc.constantFrom(0, 1, 2), fc.boolean(), fc.boolean(), (length, opcode, fin, rsv1) => {
      const payload = Buffer.alloc(length, 0x5a);
      const whole = encodeFrame(opcode, payload, { fin, rsv1 });
      const header = encodeHeader(opcode, length, { fin, rsv1 });
      assert.is(header.length, headerLengthFor(length, false));
      assert.ok(Buffer.concat([header, payload]).equals(whole), `length ${length}`);
    }),
    { numRuns: 300 },
  );
});

test.run();
