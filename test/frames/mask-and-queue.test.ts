import * as fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ByteQueue } from '../../src/frames/byte-queue';
import { applyMask } from '../../src/frames/mask';
import { simdXor } from '../../src/frames/simd-xor';

function maskSlow(bytes: Uint8Array, mask: Uint8Array, phase: number): Buffer {
  return Buffer.from(bytes.map((b, i) => b ^ mask[(i + phase) % 4]!));
}

test('property: word-at-a-time masking equals byte-at-a-time at any phase, offset and length', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.nat(3), fc.nat(7), (bytes, mask, phase, offset) => {
      const padded = Buffer.alloc(bytes.length + offset);
      Buffer.from(bytes).copy(padded, offset);
      applyMask(padded, offset, padded.length, mask, phase);
      assert.equal(padded.subarray(offset), maskSlow(bytes, mask, phase));
    }),
  );
});

test('a queue hands out views inside one chunk and copies across chunks', () => {
  const q = new ByteQueue();
  const a = Buffer.from('hello');
  q.push(a);
  q.push(Buffer.from('world'));
  const view = q.take(2);
  assert.is(view.buffer, a.buffer, 'a view, not a copy');
  assert.is(q.byteAt(0), 'l'.charCodeAt(0));
  assert.is(q.take(6).toString(), 'llowor');
  assert.is(q.length, 2);
  q.drop(1);
  assert.is(q.take(1).toString(), 'd');
  assert.is(q.length, 0);
});

test('forEachRun visits exactly the requested positions across chunks', () => {
  const q = new ByteQueue();
  q.push(Buffer.from('abc'));
  q.push(Buffer.from('def'));
  q.push(Buffer.from('ghi'));
  q.drop(1);
  const seen: string[] = [];
  q.forEachRun(1, 6, (chunk, from, to, position) => seen.push(`${position}:${chunk.subarray(from, to).toString()}`));
  assert.equal(seen, ['1:c', '2:def', '5:g']);
});


test('property: long runs (the WebAssembly SIMD path, several blocks) equal byte-at-a-time masking', () => {
  assert.ok(simdXor !== null, 'Node 20 has WebAssembly SIMD: the path under test is the one taken');
  fc.assert(
    fc.property(
      fc.oneof(fc.integer({ min: 1000, max: 5000 }), fc.integer({ min: 65_000, max: 200_000 })),
      fc.uint8Array({ minLength: 4, maxLength: 4 }),
      fc.nat(3),
      fc.nat(7),
      fc.nat(255),
      (length, mask, phase, offset, seed) => {
        const bytes = Buffer.alloc(length);
        for (let i = 0; i < length; i++) bytes[i] = (i * 131 + seed) & 0xff;
        const padded = Buffer.alloc(length + offset + 5, 0xee);
        bytes.copy(padded, offset);
        applyMask(padded, offset, offset + length, mask, phase);
        assert.ok(padded.subarray(offset, offset + length).equals(maskSlow(bytes, mask, phase)), `length ${length}, phase ${phase}, offset ${offset}`);
        assert.ok(padded.subarray(offset + length).equals(Buffer.alloc(5, 0xee)), 'nothing past the run touched');
        assert.ok(padded.subarray(0, offset).equals(Buffer.alloc(offset, 0xee)), 'nothing before the run touched');
      },
    ),
    { numRuns: 40 },
  );
});

test.run();
