// The frame encoder (RFC 6455 section 5.2): a pure function from opcode and
// payload to the exact bytes on the wire, header and payload in one buffer, so a
// broadcast is encoded once and the same bytes are written to every receiver.
// A large payload can go with a header of its own instead (`encodeHeader`): the
// two leave in one writev, and the payload is never copied into a frame.

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

/** Writes the unmasked part of a header (the mask bit as told) at the start of `out`. */
function writeHeader(out: Buffer, opcode: number, length: number, options: EncodeOptions, masked: boolean): void {
  out[0] = (options.fin === false ? 0 : 0x80) | (options.rsv1 ? 0x40 : 0) | opcode;
  const maskBit = masked ? 0x80 : 0;
  // Section 5.2: the minimal length encoding: 7 bits, or 126 + 16 bits, or 127 + 64 bits.
  if (length < 126) {
    out[1] = maskBit | length;
  } else if (length < 0x10000) {
    out[1] = maskBit | 126;
    out.writeUInt16BE(length, 2);
  } else {
    out[1] = maskBit | 127;
    out.writeUInt32BE(Math.floor(length / 0x100000000), 2);
    out.writeUInt32BE(length >>> 0, 6);
  }
}

/**
 * The header alone of an unmasked frame whose payload is `payloadLength` bytes:
 * the header followed by the payload is byte for byte `encodeFrame`'s output.
 */
export function encodeHeader(opcode: number, payloadLength: number, options: Omit<EncodeOptions, 'mask'> = {}): Buffer {
  const header = Buffer.allocUnsafe(headerLengthFor(payloadLength, false));
  writeHeader(header, opcode, payloadLength, options, false);
  return header;
}

export function encodeFrame(opcode: number, payload: Uint8Array, options: EncodeOptions = {}): Buffer {
  const mask = options.mask === true ? randomFillSync(Buffer.allocUnsafe(4)) : options.mask;
  const length = payload.length;
  const headerLength = headerLengthFor(length, mask !== undefined);
  const frame = Buffer.allocUnsafe(headerLength + length);
  writeHeader(frame, opcode, length, options, mask !== undefined);
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
