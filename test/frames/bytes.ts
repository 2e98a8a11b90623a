// Test helpers: literal bytes from hex, and client frames built by hand (not by
// the encoder under test) so parser tests read like the RFC's examples.

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
  const payload = typeof spec.payload === 'string' ? Buffer.from(spec.payload) : (spec.payload ?? Buffer.alloc(0));
  const mask = spec.mask === undefined ? Buffer.from([0x37, 0xfa, 0x21, 0x3d]) : spec.mask;
  const length = spec.declaredLength ?? payload.length;
  const bytes: number[] = [((spec.fin ?? true) ? 0x80 : 0) | ((spec.rsv ?? 0) << 4) | spec.opcode];
  const maskBit = mask ? 0x80 : 0;
  if (length < 126) bytes.push(maskBit | length);
  else if (length < 65536) bytes.push(maskBit | 126, length >> 8, length & 0xff);
  else {
    bytes.push(maskBit | 127);
    const big = BigInt(length);
    for (let shift = 56n; shift >= 0n; shift -= 8n) bytes.push(Number((big >> shift) & 0xffn));
  }
  const head = Buffer.from(bytes);
  if (!mask) return Buffer.concat([head, payload]);
  const masked = Buffer.from(payload);
  for (let i = 0; i < masked.length; i++) masked[i] = masked[i]! ^ mask[i % 4]!;
  return Buffer.concat([head, mask, masked]);
}
