// One line per frame for the learner's tracer (--trace-frames): the header
// fields of RFC 6455 section 5.2 spelled out, and the first payload bytes in hex.

import type { FrameHeader } from './frame-parser';
import { opcodeName } from './opcodes';

export interface FrameFacts extends FrameHeader {
  length: number;
  /** Unmasked payload, or at least its first bytes. */
  payload: Uint8Array;
}

const SHOWN_BYTES = 16;

export function describeFrame(facts: FrameFacts): string {
  const rsv = `${facts.rsv1 ? 1 : 0}${facts.rsv2 ? 1 : 0}${facts.rsv3 ? 1 : 0}`;
  const shown = Buffer.from(facts.payload.subarray(0, SHOWN_BYTES)).toString('hex').replace(/(..)(?!$)/g, '$1 ');
  const more = facts.length > SHOWN_BYTES ? ' …' : '';
  return `${opcodeName(facts.opcode).padEnd(6)} fin=${facts.fin ? 1 : 0} rsv=${rsv} mask=${facts.masked ? 1 : 0} len=${facts.length} ${shown}${more}`;
}

/** Reads the facts back from a frame this server encoded (unmasked, header and payload in one buffer). */
export function factsOfEncodedFrame(frame: Uint8Array): FrameFacts {
  const b0 = frame[0]!;
  const b1 = frame[1]!;
  let length = b1 & 0x7f;
  let offset = 2;
  const view = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  if (length === 126) {
    length = view.readUInt16BE(2);
    offset = 4;
  } else if (length === 127) {
    length = view.readUInt32BE(2) * 0x100000000 + view.readUInt32BE(6);
    offset = 10;
  }
  return {
    fin: (b0 & 0x80) !== 0,
    rsv1: (b0 & 0x40) !== 0,
    rsv2: (b0 & 0x20) !== 0,
    rsv3: (b0 & 0x10) !== 0,
    opcode: b0 & 0x0f,
    masked: (b1 & 0x80) !== 0,
    length,
    payload: view.subarray(offset, offset + Math.min(length, SHOWN_BYTES)),
  };
}
