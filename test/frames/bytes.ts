// Test helpers: literal bytes from hex, and client frames built by the tests' own
// encoder (test/helpers/raw-client.ts, not the encoder under test) with a fixed mask.

import { frame } from '../helpers/raw-client';

export function hex(text: string): Buffer {
  return Buffer.from(text.replace(/0x/g, '').replace(/[\s,]/g, ''), 'hex');
}

export interface RawFrameSpec {
  fin?: boolean;
  rsv?: number;
  opcode: number;
  payload?: Buffer | string;
  mask?: Buffer | null;
  /** Declared length when it should differ from the payload (limit tests). */
  declaredLength?: number;
}

/** A frame as a client would send it: masked with a fixed key unless `mask: null`. */
export function clientFrame(spec: RawFrameSpec): Buffer {
  return frame({
    opcode: spec.opcode,
    payload: spec.payload,
    fin: spec.fin,
    rsv: spec.rsv,
    mask: spec.mask === null ? false : (spec.mask ?? FIXED_MASK),
    declaredLength: spec.declaredLength,
  });
}

/** The RFC's own example key (section 5.7), so expected bytes can be written down. */
const FIXED_MASK = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
