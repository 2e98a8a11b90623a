// The frame opcodes of RFC 6455 section 5.2 and the one rule that splits them:
// opcodes with the high bit set (0x8-0xF) are control frames (section 5.5).

export const Opcode = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;

export type Opcode = (typeof Opcode)[keyof typeof Opcode];
export type DataOpcode = typeof Opcode.Text | typeof Opcode.Binary;

export function isControlOpcode(opcode: number): boolean {
  return (opcode & 0x8) !== 0;
}

/** Opcodes 0x3-0x7 and 0xB-0xF are reserved (section 5.2): receiving one fails the connection. */
export function isKnownOpcode(opcode: number): opcode is Opcode {
  return opcode <= 0x2 || (opcode >= 0x8 && opcode <= 0xa);
}

export function opcodeName(opcode: number): string {
  switch (opcode) {
    case Opcode.Continuation: return 'CONT';
    case Opcode.Text: return 'TEXT';
    case Opcode.Binary: return 'BINARY';
    case Opcode.Close: return 'CLOSE';
    case Opcode.Ping: return 'PING';
    case Opcode.Pong: return 'PONG';
    default: return `0x${opcode.toString(16)}`;
  }
}
