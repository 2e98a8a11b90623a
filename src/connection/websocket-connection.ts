// The WebSocket connection state machine (RFC 6455 sections 5.5 and 7), sans-I/O:
// bytes in, messages and bytes-to-write out. OPEN -> CLOSING -> CLOSED, with the
// rules for pings, the close handshake and failing the connection in one place.

import { isUtf8 } from 'node:buffer';
import { COMPRESS_THRESHOLD, type CompressionStats, type DeflateParams, FLUSH_BYTES_PER_FRAGMENT, InflateWindow, deflateMessage, maxCompressedBytes } from '../extensions/permessage-deflate';
import { CloseCode, buildCloseBody, parseCloseBody } from '../frames/close-codes';
import { encodeFrame } from '../frames/frame-encoder';
import { FrameParser, type Frame } from '../frames/frame-parser';
import { MessageAssembler, type Message } from '../frames/message-assembler';
import { Opcode } from '../frames/opcodes';
import { ProtocolError } from '../frames/protocol-error';

/**
 * open:    messages flow both ways.
 * closing: we sent a close frame and wait for the peer's (section 7.1.2); input other than close is discarded.
 * closed:  the close handshake is over or the connection failed; the TCP connection is to be ended.
 */
export type ConnectionState = 'open' | 'closing' | 'closed';

export interface ConnectionOutput {
  /** Bytes for the peer, in order. */
  write(bytes: Buffer): void;
  /** A complete data message (fragments joined, UTF-8 checked). */
  message(message: Message): void;
  /**
   * The WebSocket is closed: end the TCP connection now. Section 7.1.1: the server
   * closes the TCP connection first, so the glue half-closes at once and only waits
   * (bounded) for the peer's FIN.
   */
  shutdown(): void;
  /** Every frame received, for the learner's tracer; absent when tracing is off. */
  frameIn?(frame: Frame): void;
  /** A ping or pong arrived (before it is answered): lets the glue count it against a rate limit. */
  controlFrame?(opcode: number): void;
}

export interface ConnectionOptions {
  maxMessageBytes: number;
  /** True for the server side (clients must mask, section 5.1). */
  expectMasked?: boolean;
  /** permessage-deflate as negotiated in the handshake (RFC 7692), or absent. */
  deflate?: DeflateParams | null;
  compressionStats?: CompressionStats;
}

export class WebSocketConnection {
  state: ConnectionState = 'open';
  /** The code that ended the connection: the peer's, ours, or 1006 when TCP ended first. */
  closeCode: number | null = null;
  closeReason = '';
  /** Who started the end: the peer's close frame, our close(), a protocol failure, or a dropped TCP connection. */
  endedBy: 'peer' | 'server' | 'protocol-error' | 'eof' | null = null;
  /** Set whenever bytes arrive; the heartbeat clears it to tell an idle peer from a dead one. */
  heardFrom = true;
  /** Data messages delivered so far: with `messageInProgress`, tells a slow upload from a stalled one. */
  messagesCompleted = 0;

  // Made on first use: an idle connection (most of them, in a big room) costs neither.
  private parser: FrameParser | null = null;
  private assembler: MessageAssembler | null = null;
  private readonly allowRsv1: boolean;
  private readonly maxMessageBytes: number;
  private readonly inflater: InflateWindow | null;
  /** Window bits our compressed messages may use, or 0 when we do not compress. */
  readonly deflateWindowBits: number;
  private readonly stats: CompressionStats | null;

  constructor(private readonly output: ConnectionOutput, options: ConnectionOptions) {
    const deflate = options.deflate ?? null;
    this.maxMessageBytes = options.maxMessageBytes;
    this.inflater = deflate === null ? null : new InflateWindow(deflate.clientContextTakeover);
    this.deflateWindowBits = deflate === null ? 0 : deflate.serverMaxWindowBits;
    this.stats = options.compressionStats ?? null;
    this.expectMasked = options.expectMasked ?? true;
    // RFC 7692 section 6: RSV1 marks a compressed message only once the extension is negotiated.
    this.allowRsv1 = deflate !== null;
  }

  private readonly expectMasked: boolean;

  private frameParser(): FrameParser {
    // With deflate, MAX_MESSAGE_BYTES is the inflated size: a compressed message may be longer
    // on the wire, up to what deflate can grow a message of the limit to (checked at each header).
    return (this.parser ??= new FrameParser({
      maxMessageBytes: this.maxMessageBytes,
      expectMasked: this.expectMasked,
      allowRsv1: this.allowRsv1,
      ...(this.allowRsv1 ? { maxCompressedBytes: maxCompressedBytes(this.maxMessageBytes), compressedBytesPerFragment: FLUSH_BYTES_PER_FRAGMENT } : {}),
    }));
  }

  /** Bytes buffered for a frame or message not yet complete. */
  get bufferedBytes(): number {
    return (this.parser?.bufferedBytes ?? 0) + (this.assembler?.heldBytes ?? 0);
  }

  receive(chunk: Buffer): void {
    this.heardFrom = true;
    if (this.isClosed()) return; // section 5.5.1: nothing after the close handshake counts
    const parser = this.frameParser();
    parser.push(chunk);
    // All frames of one read are handled before the glue writes anything out, so
    // the answers to one read leave in one batch.
    while (!this.isClosed()) {
      const frame = parser.next();
      if (frame === null) return;
      if (frame instanceof ProtocolError) return this.fail(frame);
      this.output.frameIn?.(frame);
      this.handleFrame(frame);
    }
  }

  /** Part of a frame or of a fragmented message is held, waiting for the rest. */
  get messageInProgress(): boolean {
    return this.parser !== null && (this.parser.bufferedBytes > 0 || this.parser.inFragmentedMessage);
  }

  /** A method rather than a comparison: handlers called from the loop below change the state. */
  isClosed(): boolean {
    return this.state === 'closed';
  }

  private isClosing(): boolean {
    return this.state !== 'open';
  }

  /** The peer's FIN, or the socket's end: without a close handshake this is 1006. */
  receiveEof(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.endedBy === null) {
      this.endedBy = 'eof';
      this.closeCode = CloseCode.Abnormal;
    }
    this.output.shutdown();
  }

  send(opcode: typeof Opcode.Text | typeof Opcode.Binary, payload: Uint8Array): void {
    if (this.state !== 'open') return;
    if (this.deflateWindowBits !== 0 && payload.length >= COMPRESS_THRESHOLD) {
      const compressed = deflateMessage(payload, this.deflateWindowBits);
      if (compressed !== null) {
        if (this.stats !== null) {
          this.stats.deflatedFrom += payload.length;
          this.stats.deflatedTo += compressed.length;
        }
        return this.output.write(encodeFrame(opcode, compressed, { rsv1: true }));
      }
    }
    this.output.write(encodeFrame(opcode, payload));
  }

  /** A frame already encoded (a broadcast encoded once for many receivers). */
  sendEncoded(frame: Buffer): void {
    // Section 5.5.1: after sending a close frame, no more data frames.
    if (this.state === 'open') this.output.write(frame);
  }

  ping(payload: Uint8Array = Buffer.alloc(0)): void {
    if (this.state === 'open') this.output.write(encodeFrame(Opcode.Ping, payload));
  }

  /** Starts the close handshake from our side (section 7.1.2); the glue bounds the wait for the answer. */
  close(code: number, reason = ''): void {
    if (this.state !== 'open') return;
    this.state = 'closing';
    this.endedBy = 'server';
    this.closeCode = code;
    this.closeReason = reason;
    this.output.write(encodeFrame(Opcode.Close, buildCloseBody(code, reason)));
  }

  private handleFrame(frame: Frame): void {
    if (frame.opcode === Opcode.Close) return this.handleClose(frame.payload);
    // While closing, only the peer's close frame matters (section 7.1.2).
    if (this.state !== 'open') return;
    switch (frame.opcode) {
      case Opcode.Ping:
        this.output.controlFrame?.(frame.opcode);
        // Section 5.5.3: a pong carries the ping's payload; answered at once, even between fragments.
        if (!this.isClosing()) this.output.write(encodeFrame(Opcode.Pong, frame.payload));
        return;
      case Opcode.Pong:
        // Section 5.5.3: an unsolicited pong needs no answer; heardFrom already counts it.
        this.output.controlFrame?.(frame.opcode);
        return;
      default: {
        const message = (this.assembler ??= new MessageAssembler()).add(frame);
        if (message === null) return;
        this.messagesCompleted++;
        if (!message.compressed) return this.output.message(message);
        this.deliverInflated(message);
      }
    }
  }

  /** RFC 7692 section 7.2.2: inflate, then check text as if it had arrived plain. */
  private deliverInflated(message: Message): void {
    if (this.inflater === null) return; // unreachable: RSV1 is refused by the parser without deflate
    const result = this.inflater.inflate(message.payload, this.maxMessageBytes);
    if (!result.ok) {
      return this.fail(new ProtocolError(result.closeCode, result.reason, result.closeCode === 1009 ? 'WS_ERR_INFLATED_TOO_BIG' : 'WS_ERR_INFLATE'));
    }
    if (this.stats !== null) {
      this.stats.inflatedFrom += message.payload.length;
      this.stats.inflatedTo += result.payload.length;
    }
    if (message.opcode === Opcode.Text && !isUtf8(result.payload)) {
      return this.fail(new ProtocolError(CloseCode.InvalidPayload, 'text is not valid UTF-8', 'WS_ERR_INVALID_UTF8'));
    }
    this.output.message({ opcode: message.opcode, payload: result.payload, compressed: false });
  }

  private handleClose(payload: Buffer): void {
    const body = parseCloseBody(payload);
    if (body instanceof ProtocolError) return this.fail(body);
    if (this.state === 'open') {
      // Section 5.5.1: answer with a close frame; echoing the peer's bytes keeps its code (and reason).
      this.endedBy = 'peer';
      this.closeCode = body.code;
      this.closeReason = body.reason;
      this.output.write(encodeFrame(Opcode.Close, payload));
    }
    this.state = 'closed';
    this.output.shutdown();
  }

  /** Section 7.1.7 "Fail the WebSocket Connection": send the close code if we still may, then end. */
  private fail(error: ProtocolError): void {
    if (this.state === 'open') {
      this.endedBy = 'protocol-error';
      this.closeCode = error.closeCode;
      this.closeReason = error.reason;
      this.output.write(encodeFrame(Opcode.Close, buildCloseBody(error.closeCode, error.reason)));
    }
    this.state = 'closed';
    this.output.shutdown();
  }
}
