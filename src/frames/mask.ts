// Client-to-server masking (RFC 6455 section 5.3): payload byte i is XORed with
// mask byte i % 4. Unmasking is the same operation, done in place.

import { SIMD_BLOCK, simdXor } from './simd-xor';

/** Scratch space to turn 4 mask bytes into one machine word, whatever the byte order. */
const wordBytes = new Uint8Array(4);
const wordView = new Int32Array(wordBytes.buffer);

/** Below this many bytes, setting up a word view costs more than it saves. */
const WORD_THRESHOLD = 32;

/**
 * From this many bytes, runs go through WebAssembly SIMD (simd-xor.ts): copying a
 * block in and out is cheap next to XORing it 4 bytes at a time (256 KiB: about 70 µs
 * against 250 µs here), but a call and two copies cost more than a short loop.
 */
const SIMD_THRESHOLD = 1024;

/**
 * XORs `bytes[start..end)` in place with the 4-byte `mask`, where `phase` is the
 * payload offset of `bytes[start]` (a payload may be unmasked in pieces as it
 * arrives). Long runs go a 32-bit word at a time over 4-byte-aligned memory.
 */
export function applyMask(bytes: Uint8Array, start: number, end: number, mask: Uint8Array, phase: number): void {
  let i = start;
  let p = phase & 3;
  if (end - i >= WORD_THRESHOLD) {
    // Byte at a time up to an aligned address: a Uint32Array view needs one.
    while (((bytes.byteOffset + i) & 3) !== 0) {
      bytes[i] = bytes[i]! ^ mask[p]!;
      i++;
      p = (p + 1) & 3;
    }
    // The mask as it lines up from here: bytes p, p+1, p+2, p+3 of the key.
    wordBytes[0] = mask[p]!;
    wordBytes[1] = mask[(p + 1) & 3]!;
    wordBytes[2] = mask[(p + 2) & 3]!;
    wordBytes[3] = mask[(p + 3) & 3]!;
    const wordMask = wordView[0]!;
    if (simdXor !== null && end - i >= SIMD_THRESHOLD) {
      const { memory, xor } = simdXor;
      // Whole 16-byte steps keep the phase: the word lines up the same way for every block.
      while (end - i >= 16) {
        const length = Math.min(SIMD_BLOCK, end - i) & ~15;
        memory.set(bytes.subarray(i, i + length));
        xor(length, wordMask);
        bytes.set(memory.subarray(0, length), i);
        i += length;
      }
    }
    const count = (end - i) >>> 2;
    const words = new Int32Array(bytes.buffer, bytes.byteOffset + i, count);
    for (let w = 0; w < count; w++) words[w] = words[w]! ^ wordMask;
    i += count * 4; // whole words: the phase is unchanged
  }
  for (; i < end; i++) {
    bytes[i] = bytes[i]! ^ mask[p]!;
    p = (p + 1) & 3;
  }
}
