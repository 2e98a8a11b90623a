// Joins the data frames of one message (RFC 6455 section 5.4) into its payload.
// The parser has already enforced the fragmentation rules and the size limit;
// this only gathers bytes, in one growing buffer so tiny fragments stay cheap.

import type { Frame } from './frame-parser';
import { Opcode } from './opcodes';

export interface Message {
  opcode: typeof Opcode.Text | typeof Opcode.Binary;
  payload: Buffer;
  /** RSV1 was set on the first frame: the payload is still deflated (RFC 7692). */
  compressed: boolean;
}

export class MessageAssembler {
  private opcode: typeof Opcode.Text | typeof Opcode.Binary = Opcode.Text;
  private compressed = false;
  private buffer: Buffer | null = null;
  private size = 0;

  /** Takes a data frame in order; returns the message when `frame` was its last one. */
  add(frame: Frame): Message | null {
    if (frame.opcode !== Opcode.Continuation) {
      this.opcode = frame.opcode === Opcode.Binary ? Opcode.Binary : Opcode.Text;
      this.compressed = frame.rsv1;
      // The common case, a message in one frame: hand the payload on untouched.
      if (frame.fin) return { opcode: this.opcode, payload: frame.payload, compressed: this.compressed };
      this.size = 0;
    }
    this.append(frame.payload);
    if (!frame.fin) return null;
    const payload = this.buffer === null ? Buffer.alloc(0) : this.buffer.subarray(0, this.size);
    this.buffer = null;
    this.size = 0;
    return { opcode: this.opcode, payload, compressed: this.compressed };
  }

  /** Bytes held for the message in progress. */
  get heldBytes(): number {
    return this.buffer?.length ?? 0;
  }

  private append(bytes: Buffer): void {
    const needed = this.size + bytes.length;
    if (this.buffer === null || needed > this.buffer.length) {
      // Doubling keeps copying linear in the message size however small the fragments.
      const grown = Buffer.allocUnsafe(Math.max(needed, 2 * (this.buffer?.length ?? 0), 256));
      if (this.buffer !== null) this.buffer.copy(grown, 0, 0, this.size);
      this.buffer = grown;
    }
    bytes.copy(this.buffer, this.size);
    this.size = needed;
  }
}
