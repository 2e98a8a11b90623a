// Client-to-server masking (RFC 6455 section 5.3): payload byte i is XORed with
// mask byte i % 4. Unmasking is the same operation, done in place.

/**
 * XORs `bytes[start..end)` in place with the 4-byte `mask`, where `phase` is the
 * payload offset of `bytes[start]` (a payload may be unmasked in pieces as it
 * arrives). Large runs go 32 bits at a time; small ones are not worth the setup.
 */
export function applyMask(bytes: Uint8Array, start: number, end: number, mask: Uint8Array, phase: number): void {
  let i = start;
  let p = phase & 3;
  // Byte at a time until the mask phase is 0, so 32-bit words line up with the mask.
  while (i < end && p !== 0) {
    bytes[i] = bytes[i]! ^ mask[p]!;
    i++;
    p = (p + 1) & 3;
  }
  if (end - i >= 64) {
    const wordMask = (mask[0]! | (mask[1]! << 8) | (mask[2]! << 16) | (mask[3]! << 24)) >>> 0;
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    const last = end - 3;
    for (; i < last; i += 4) view.setUint32(i, view.getUint32(i, true) ^ wordMask, true);
  }
  for (; i < end; i++) {
    bytes[i] = bytes[i]! ^ mask[p]!;
    p = (p + 1) & 3;
  }
}
