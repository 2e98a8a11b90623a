// The incremental frame parser (RFC 6455 section 5): bytes in, frames or one
// typed ProtocolError out. Sans-I/O: it never sees a socket, so every rule below
// can be tested by feeding literal bytes, whole or one at a time.

import { isUtf8 } from 'node:buffer';
import { ByteQueue } from './byte-queue';
import { CloseCode } from './close-codes';
import { applyMask } from './mask';
import { Opcode, isControlOpcode, isKnownOpcode } from './opcodes';
import { ProtocolError } from './protocol-error';
import { Utf8Validator } from './utf8';

/** The first two bytes of every frame, decoded (section 5.2). */
export interface FrameHeader {
  fin: boolean;
  rsv1: boolean;
  rsv2: boolean;
  rsv3: boolean;
  opcode: number;
  masked: boolean;
}

export interface Frame extends FrameHeader {
  /** Unmasked payload. A view into the received bytes when they arrived in one chunk. */
  payload: Buffer;
}

export interface FrameParserOptions {
  /** Largest message, summed over its fragments; a header that would pass it fails with 1009. */
  maxMessageBytes: number;
  /** A server must reject unmasked frames (section 5.1); a client must reject masked ones. */
  expectMasked: boolean;
  /** Fragments one message may have, so a stream of tiny frames has a bounded cost. */
  maxFragments?: number;
  /** RSV1 on a message's first frame, when permessage-deflate was negotiated (RFC 7692). */
  allowRsv1?: boolean;
  /**
   * Wire limit of a compressed message (RSV1), whose `maxMessageBytes` applies once
   * inflated: the longest a message within the limit can deflate to. Default: maxMessageBytes.
   */
  maxCompressedBytes?: number;
  /** Added to that limit per fragment: the sync flush each compressed fragment may end with. */
  compressedBytesPerFragment?: number;
}

interface PendingHeader extends FrameHeader {
  mask: Buffer;
  length: number;
}

const NO_MASK = Buffer.alloc(4);

export class FrameParser {
  private readonly queue = new ByteQueue();
  private readonly maxMessageBytes: number;
  private readonly expectMasked: boolean;
  private readonly maxFragments: number;
  private readonly allowRsv1: boolean;
  private readonly maxCompressedBytes: number;
  private readonly compressedBytesPerFragment: number;

  private header: PendingHeader | null = null;
  /** Payload bytes of the current frame already unmasked (and UTF-8 checked) in place. */
  private payloadDone = 0;

  /** Opcode of the fragmented message in progress, or Continuation when there is none. */
  private messageOpcode: number = Opcode.Continuation;
  private messageCompressed = false;
  private messageBytes = 0;
  private messageFragments = 0;
  /** Made when a text message is first checked piece by piece (fragmented, or arriving in parts). */
  private utf8Validator: Utf8Validator | null = null;
  /** True once this text message's bytes are being checked piecewise by `utf8`. */
  private utf8Streaming = false;

  private failure: ProtocolError | null = null;

  constructor(options: FrameParserOptions) {
    this.maxMessageBytes = options.maxMessageBytes;
    this.expectMasked = options.expectMasked;
    this.maxFragments = options.maxFragments ?? Math.max(1024, Math.ceil(options.maxMessageBytes / 64));
    this.allowRsv1 = options.allowRsv1 ?? false;
    this.maxCompressedBytes = options.maxCompressedBytes ?? options.maxMessageBytes;
    this.compressedBytesPerFragment = options.compressedBytesPerFragment ?? 0;
  }

  /** Bytes received and not yet returned as frames. */
  get bufferedBytes(): number {
    return this.queue.length;
  }

  /** True between the first and the last frame of a fragmented message. */
  get inFragmentedMessage(): boolean {
    return this.messageOpcode !== Opcode.Continuation;
  }

  /** Whether the message the last returned data frame belongs to is compressed (RSV1 on its first frame). */
  get currentMessageCompressed(): boolean {
    return this.messageCompressed;
  }

  push(chunk: Buffer): void {
    if (this.failure === null) this.queue.push(chunk);
  }

  /**
   * The next complete frame, `null` when more bytes are needed, or the error that
   * failed the connection. After an error, input is discarded and `null` returned.
   */
  next(): Frame | ProtocolError | null {
    if (this.failure !== null) return null;
    const header = this.header ?? this.readHeader();
    if (header === null || header instanceof ProtocolError) return header === null ? null : this.fail(header);

    if (this.queue.length < header.length) {
      // Section 8.1 "fail fast": check the part of a text payload that is already here.
      const error = this.checkPartialPayload(header);
      return error === null ? null : this.fail(error);
    }
    return this.completeFrame(header);
  }

  private readHeader(): PendingHeader | ProtocolError | null {
    const queue = this.queue;
    if (queue.length < 2) return null;
    const head = queue.head()!;
    const b0 = head.length >= 2 ? head[0]! : queue.byteAt(0);
    const b1 = head.length >= 2 ? head[1]! : queue.byteAt(1);

    const fin = (b0 & 0x80) !== 0;
    const rsv1 = (b0 & 0x40) !== 0;
    const rsv2 = (b0 & 0x20) !== 0;
    const rsv3 = (b0 & 0x10) !== 0;
    const opcode = b0 & 0x0f;
    const masked = (b1 & 0x80) !== 0;
    const length7 = b1 & 0x7f;

    // Section 5.2: reserved bits MUST be 0 unless an extension defines them.
    if (rsv2 || rsv3 || (rsv1 && !this.allowRsv1)) return new ProtocolError(CloseCode.ProtocolError, 'reserved bits set', 'WS_ERR_RESERVED_BITS');
    if (!isKnownOpcode(opcode)) return new ProtocolError(CloseCode.ProtocolError, `reserved opcode 0x${opcode.toString(16)}`, 'WS_ERR_RESERVED_OPCODE');
    // Section 5.1: client-to-server frames are masked, server-to-client frames are not.
    if (masked !== this.expectMasked) {
      return new ProtocolError(CloseCode.ProtocolError, masked ? 'masked frame from server' : 'unmasked frame from client', 'WS_ERR_UNMASKED_FRAME');
    }
    const control = isControlOpcode(opcode);
    if (control) {
      // Section 5.5: control frames carry at most 125 bytes and are never fragmented.
      if (length7 > 125) return new ProtocolError(CloseCode.ProtocolError, 'control frame longer than 125 bytes', 'WS_ERR_CONTROL_FRAME_TOO_LONG');
      if (!fin) return new ProtocolError(CloseCode.ProtocolError, 'fragmented control frame', 'WS_ERR_FRAGMENTED_CONTROL_FRAME');
      // RFC 7692 section 6: RSV1 marks a compressed message; control frames are never compressed.
      if (rsv1) return new ProtocolError(CloseCode.ProtocolError, 'reserved bits set', 'WS_ERR_RESERVED_BITS');
    } else if (opcode === Opcode.Continuation) {
      // Section 5.4: a continuation frame only continues a message that was started.
      if (this.messageOpcode === Opcode.Continuation) return new ProtocolError(CloseCode.ProtocolError, 'continuation frame without a message to continue', 'WS_ERR_UNEXPECTED_CONTINUATION');
      if (rsv1) return new ProtocolError(CloseCode.ProtocolError, 'RSV1 on a continuation frame', 'WS_ERR_RESERVED_BITS');
    } else if (this.messageOpcode !== Opcode.Continuation) {
      // Section 5.4: fragments of one message are not interleaved with another message.
      return new ProtocolError(CloseCode.ProtocolError, 'new message before the previous one finished', 'WS_ERR_EXPECTED_CONTINUATION');
    }

    const lengthBytes = length7 === 126 ? 2 : length7 === 127 ? 8 : 0;
    const headerLength = 2 + lengthBytes + (masked ? 4 : 0);
    if (queue.length < headerLength) return null;
    const bytes = head.length >= headerLength ? head : queue.take(headerLength);
    if (bytes === head) queue.drop(headerLength);

    let length = length7;
    if (length7 === 126) {
      length = bytes.readUInt16BE(2);
    } else if (length7 === 127) {
      const high = bytes.readUInt32BE(2);
      // Section 5.2: the most significant bit of a 64-bit length MUST be 0.
      if (high >= 0x80000000) return new ProtocolError(CloseCode.ProtocolError, '64-bit length with the high bit set', 'WS_ERR_LENGTH_MSB_SET');
      // Anything at or past 2^53 cannot be a JS number exactly, and no message that size is accepted.
      length = high >= 0x200000 ? Number.MAX_SAFE_INTEGER : high * 0x100000000 + bytes.readUInt32BE(6);
    }
    if (!control) {
      const compressed = opcode === Opcode.Continuation ? this.messageCompressed : rsv1;
      const limit = compressed ? this.maxCompressedBytes + this.compressedBytesPerFragment * (this.messageFragments + 1) : this.maxMessageBytes;
      if (this.messageBytes + length > limit) {
        return new ProtocolError(CloseCode.MessageTooBig, `message over ${this.maxMessageBytes} bytes`, 'WS_ERR_MESSAGE_TOO_BIG');
      }
      if (this.messageFragments + 1 > this.maxFragments) {
        return new ProtocolError(CloseCode.MessageTooBig, `message in more than ${this.maxFragments} fragments`, 'WS_ERR_TOO_MANY_FRAGMENTS');
      }
    }
    const mask = masked ? bytes.subarray(lengthBytes + 2, lengthBytes + 6) : NO_MASK;
    const header: PendingHeader = { fin, rsv1, rsv2, rsv3, opcode, masked, mask, length };
    this.header = header;
    this.payloadDone = 0;
    if (!control) {
      if (opcode !== Opcode.Continuation) {
        this.messageOpcode = opcode;
        this.messageCompressed = rsv1;
        this.utf8Streaming = false;
      }
      this.messageBytes += length;
      this.messageFragments++;
    }
    return header;
  }

  /** Whether this data frame's bytes must be valid UTF-8 as they stand (compressed text is checked after inflating). */
  private carriesText(header: PendingHeader): boolean {
    return !isControlOpcode(header.opcode) && this.messageOpcode === Opcode.Text && !this.messageCompressed;
  }

  private checkPartialPayload(header: PendingHeader): ProtocolError | null {
    const available = this.queue.length;
    if (!this.carriesText(header) || available <= this.payloadDone) return null;
    this.utf8Streaming = true;
    if (!this.unmaskAndValidate(header, this.payloadDone, available)) return invalidUtf8();
    this.payloadDone = available;
    return null;
  }

  /** Unmasks payload bytes [from, to) in place and feeds them to the UTF-8 validator when they are text. */
  private unmaskAndValidate(header: PendingHeader, from: number, to: number): boolean {
    const text = this.carriesText(header);
    let valid = true;
    this.queue.forEachRun(from, to, (chunk, start, end, position) => {
      if (header.masked) applyMask(chunk, start, end, header.mask, position);
      if (text && valid) valid = this.utf8().feed(chunk, start, end);
    });
    return valid;
  }

  private completeFrame(header: PendingHeader): Frame | ProtocolError {
    const control = isControlOpcode(header.opcode);
    const text = this.carriesText(header);
    const lastOfMessage = !control && header.fin;
    const wholeMessage = lastOfMessage && header.opcode !== Opcode.Continuation;

    let payload: Buffer;
    if (text && (this.utf8Streaming || !wholeMessage)) {
      // Part of a text message checked piece by piece: continue the running check.
      this.utf8Streaming = true;
      if (!this.unmaskAndValidate(header, this.payloadDone, header.length)) return this.fail(invalidUtf8());
      payload = this.queue.take(header.length);
      if (lastOfMessage && !this.utf8().atBoundary) return this.fail(invalidUtf8());
    } else {
      payload = this.queue.take(header.length);
      if (header.masked) applyMask(payload, this.payloadDone, payload.length, header.mask, this.payloadDone);
      // A whole text message in one frame: one native pass is the fastest check.
      if (text && !isUtf8(payload)) return this.fail(invalidUtf8());
    }

    this.header = null;
    this.payloadDone = 0;
    if (lastOfMessage) {
      this.messageOpcode = Opcode.Continuation;
      this.messageBytes = 0;
      this.messageFragments = 0;
      this.utf8Streaming = false;
      this.utf8Validator?.reset();
    }
    return { fin: header.fin, rsv1: header.rsv1, rsv2: header.rsv2, rsv3: header.rsv3, opcode: header.opcode, masked: header.masked, payload };
  }

  private utf8(): Utf8Validator {
    return (this.utf8Validator ??= new Utf8Validator());
  }

  private fail(error: ProtocolError): ProtocolError {
    this.failure = error;
    this.queue.clear();
    return error;
  }
}

function invalidUtf8(): ProtocolError {
  return new ProtocolError(CloseCode.InvalidPayload, 'text is not valid UTF-8', 'WS_ERR_INVALID_UTF8');
}
