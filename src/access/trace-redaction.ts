// The frame tracer (--trace-frames) prints the first bytes of each payload. A
// JSON member's frame other than a plain message may be an owner command that
// carries a secret (set_secret), and a continuation may be any part of one: their
// bytes are not shown. Raw members cannot send owner commands.

import type { MemberMode } from '../rooms/member';
import { Opcode } from '../frames/opcodes';

const MESSAGE_PREFIX = Buffer.from('{"type":"message"');

export function traceMayShowPayload(mode: MemberMode | 'echo', opcode: number, payload: Uint8Array): boolean {
  if (mode !== 'json') return true;
  if (opcode === Opcode.Continuation) return false;
  if (opcode !== Opcode.Text) return true;
  return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).subarray(0, MESSAGE_PREFIX.length).equals(MESSAGE_PREFIX);
}
