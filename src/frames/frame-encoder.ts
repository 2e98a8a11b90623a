// The frame encoder (RFC 6455 section 5.2): a pure function from opcode and
// payload to the exact bytes on the wire, header and payload in one buffer, so a
// broadcast is encoded once and the same bytes are written to every receiver.

import { randomFillSync } from 'node:crypto';
import { applyMask } from './mask';

export interface EncodeOptions {
  /** Last frame of its message (default true). */
  fin?: boolean;
  /** RSV1: the message is compressed (RFC 7692); set on its first frame only. */
  rsv1?: boolean;
  /** Mask with these 4 bytes (clients must; servers must not), or `true` for a random mask. */
  mask?: Uint8Array | true;
}

/** Bytes a header takes for a payload of this length: 2, plus 2 or 8 for the extended length. */
export function headerLengthFor(payloadLength: number, masked: boolean): number {
  return (payloadLength < 126 ? 2 : payloadLength < 0x10000 ? 4 : 10) + (masked ? 4 : 0);
}

export function encodeFrame(opcode: number, payload: Uint8Array, options: EncodeOptions = {}): Buffer {
  const mask = options.mask === true ? randomFillSync(Buffer.allocUnsafe(4)) : options.mask;
  const length = payload.length;
  const headerLength = headerLengthFor(length, mask !== undefined);
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = (options.fin === false ? 0 : 0x80) | (options.rsv1 ? 0x40 : 0) | opcode;
  const maskBit = mask !== undefined ? 0x80 : 0;
  // Section 5.2: the minimal length encoding: 7 bits, or 126 + 16 bits, or 127 + 64 bits.
  if (length < 126) {
    frame[1] = maskBit | length;
  } else if (length < 0x10000) {
    frame[1] = maskBit | 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = maskBit | 127;
    frame.writeUInt32BE(Math.floor(length / 0x100000000), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  if (mask !== undefined) {
    const maskAt = headerLength - 4;
    frame.set(mask.subarray(0, 4), maskAt);
    frame.set(payload, headerLength);
    applyMask(frame, headerLength, frame.length, mask, 0);
  } else {
    frame.set(payload, headerLength);
  }
  return frame;
}
