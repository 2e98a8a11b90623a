// What crosses Redis on a room's channel, encoded and decoded without I/O.
// A message is published once per message (not per member) by the sequencing
// script, as  "m:SEQ:EPOCH:" + binary body; the body is built here:
//   node id (16 ASCII hex) | connection id (u32) | opcode (u8) | ts (f64) |
//   name length (u16) | name (UTF-8) | payload (raw bytes, never base64)
// Presence changes are text: "p:VERSION:NODE:DELTA:NAME" (DELTA +n joined, -n left),
// and a node that rebuilt its presence says "s:VERSION:NODE". A joining member's
// history view is followed by "j:TOKEN", which only the node that read it heeds.
// An owner command for every node is "c:" + JSON (cluster-room-control.ts).

import type { DataOpcode } from '../frames/opcodes';

export const NODE_ID_LENGTH = 16;

export interface MessageBody {
  node: string;
  conn: number;
  opcode: DataOpcode;
  ts: number;
  from: string;
  payload: Buffer;
}

export type ChannelEvent =
  | ({ kind: 'message'; seq: number; epoch: string } & MessageBody)
  | { kind: 'presence'; version: number; node: string; delta: number; name: string }
  | { kind: 'sync'; version: number; node: string }
  | { kind: 'mark'; token: string }
  | { kind: 'control'; json: string };

const FIXED = NODE_ID_LENGTH + 4 + 1 + 8 + 2;

export function encodeMessageBody(m: MessageBody): Buffer {
  const nameBytes = Buffer.byteLength(m.from);
  const out = Buffer.allocUnsafe(FIXED + nameBytes + m.payload.length);
  out.write(m.node, 0, NODE_ID_LENGTH, 'latin1');
  let at = NODE_ID_LENGTH;
  out.writeUInt32BE(m.conn >>> 0, at);
  out.writeUInt8(m.opcode, at + 4);
  out.writeDoubleBE(m.ts, at + 5);
  out.writeUInt16BE(nameBytes, at + 13);
  at = FIXED;
  out.write(m.from, at, nameBytes, 'utf8');
  m.payload.copy(out, at + nameBytes);
  return out;
}

/** Null for anything malformed: a foreign publisher on our channel must not crash a node. */
export function decodeChannelEvent(raw: Buffer): ChannelEvent | null {
  const kind = raw[0];
  if (raw[1] !== 0x3a /* : */) return null;
  if (kind === 0x6d /* m */) {
    const c1 = raw.indexOf(0x3a, 2);
    const c2 = c1 < 0 ? -1 : raw.indexOf(0x3a, c1 + 1);
    if (c2 < 0) return null;
    const seq = Number(raw.toString('latin1', 2, c1));
    const epoch = raw.toString('latin1', c1 + 1, c2);
    const body = c2 + 1;
    if (!Number.isSafeInteger(seq) || raw.length < body + FIXED) return null;
    const node = raw.toString('latin1', body, body + NODE_ID_LENGTH);
    let at = body + NODE_ID_LENGTH;
    const conn = raw.readUInt32BE(at);
    const opcode = raw.readUInt8(at + 4);
    const ts = raw.readDoubleBE(at + 5);
    const nameBytes = raw.readUInt16BE(at + 13);
    at = body + FIXED;
    if ((opcode !== 1 && opcode !== 2) || raw.length < at + nameBytes) return null;
    const from = raw.toString('utf8', at, at + nameBytes);
    // A view, not a copy: the frame encoder copies it once into the frame.
    const payload = raw.subarray(at + nameBytes);
    return { kind: 'message', seq, epoch, node, conn, opcode: opcode as DataOpcode, ts, from, payload };
  }
  const text = raw.toString('utf8');
  if (kind === 0x6a /* j */) return { kind: 'mark', token: text.slice(2) };
  if (kind === 0x63 /* c */) return { kind: 'control', json: text.slice(2) };
  if (kind === 0x70 /* p */) {
    const m = /^p:(\d+):([0-9a-f]{16}):(-?\d+):([^]+)$/.exec(text);
    if (m === null) return null;
    return { kind: 'presence', version: Number(m[1]), node: m[2]!, delta: Number(m[3]), name: m[4]! };
  }
  if (kind === 0x73 /* s */) {
    const m = /^s:(\d+):([0-9a-f]{16})$/.exec(text);
    if (m === null) return null;
    return { kind: 'sync', version: Number(m[1]), node: m[2]! };
  }
  return null;
}
