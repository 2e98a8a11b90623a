import { isUtf8 } from 'node:buffer';
import * as fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Utf8Validator } from '../../src/frames/utf8';

/** Index of the byte at which the validator first says "invalid", or -1. */
function failsAt(bytes: number[]): number {
  const v = new Utf8Validator();
  for (let i = 0; i < bytes.length; i++) if (!v.feed(Buffer.from([bytes[i]!]))) return i;
  return -1;
}

test('fails at the first certainly-invalid byte', () => {
  assert.is(failsAt([0x80]), 0, 'stray continuation');
  assert.is(failsAt([0xc0, 0x80]), 0, 'C0 is always overlong');
  assert.is(failsAt([0xe0, 0x80]), 1, 'overlong 3-byte form, known at the 2nd byte');
  assert.is(failsAt([0xed, 0xa0]), 1, 'surrogate, known at the 2nd byte');
  assert.is(failsAt([0xf0, 0x8f]), 1, 'overlong 4-byte form');
  assert.is(failsAt([0xf4, 0x90]), 1, 'past U+10FFFF');
  assert.is(failsAt([0xf5]), 0, 'F5 never appears');
  assert.is(failsAt([0xe2, 0x82, 0x41]), 2, 'sequence cut short');
  assert.is(failsAt([0xce, 0xba, 0xe1, 0xbd, 0xb9]), -1, 'valid so far');
});

test('a sequence left open is not at a boundary', () => {
  const v = new Utf8Validator();
  assert.ok(v.feed(Buffer.from([0xf0, 0x9d])));
  assert.not.ok(v.atBoundary);
  assert.ok(v.feed(Buffer.from([0x84, 0x9e])));
  assert.ok(v.atBoundary);
});

test('property: agrees with the platform validator on any bytes, in any pieces', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 1, max: 8 }), (bytes, piece) => {
      const v = new Utf8Validator();
      let ok = true;
      for (let i = 0; i < bytes.length && ok; i += piece) ok = v.feed(bytes, i, Math.min(bytes.length, i + piece));
      assert.is(ok && v.atBoundary, isUtf8(bytes));
    }),
    { numRuns: 2000 },
  );
});

test('property: valid text of any code points is valid at any split', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.nat(), (text, at) => {
      const bytes = Buffer.from(text);
      const cut = bytes.length === 0 ? 0 : at % bytes.length;
      const v = new Utf8Validator();
      assert.ok(v.feed(bytes, 0, cut));
      assert.ok(v.feed(bytes, cut));
      assert.ok(v.atBoundary);
    }),
  );
});

test.run();
