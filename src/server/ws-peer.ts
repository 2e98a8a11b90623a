// The glue between one upgraded socket and its WebSocketConnection: socket events
// in, batched writes out, the member's place in its room, limits and timers.
// Everything registered when a peer starts is released in one place: `closed()`.

import type { Socket } from 'node:net';
import type { JoinRole } from '../access/join-tokens';
import type { OwnerCommands } from '../access/owner-commands';
import { traceMayShowPayload } from '../access/trace-redaction';
import { WebSocketConnection, type ConnectionOutput } from '../connection/websocket-connection';
import type { CompressionStats, DeflateParams } from '../extensions/permessage-deflate';
import { CloseCode } from '../frames/close-codes';
import { describeFrame, factsOfEncodedFrame } from '../frames/describe-frame';
import type { Frame } from '../frames/frame-parser';
import type { Message } from '../frames/message-assembler';
import { Opcode } from '../frames/opcodes';
import { errorFrame, parseClientFrame } from '../rooms/json-protocol';
import type { MemberMode, RoomMember } from '../rooms/member';
import type { Room } from '../rooms/room';
import type { RoomRegistry } from '../rooms/room-registry';
import type { Settings } from '../settings';
import { forwardedClientOf } from './client-address';
import type { Logger } from './logger';
import type { Metrics } from './metrics';
import type { WriteBatcher } from './write-batcher';

export interface PeerContext {
  settings: Settings;
  metrics: Metrics;
  log: Logger;
  batcher: WriteBatcher;
  registry: RoomRegistry;
  peers: Set<WsPeer>;
  compressionStats: CompressionStats;
  /** The learner's tracer output, or null when --trace-frames is off. */
  trace: ((line: string) => void) | null;
  /** Owner commands (src/access); absent: every non-message type is unknown_type. */
  ownerCommands?: OwnerCommands;
}

/** How long a receiver's backlog may stay over MAX_BUFFERED_BYTES before it counts as too slow. */
const SLOW_GRACE_MS = 1000;

/** Writes up to this size are joined into one buffer; larger batches go out corked. */
const COALESCE_BYTES = 64 * 1024;

/**
 * A batch this large leaves at once instead of at the end of the turn: holding it
 * gains no syscalls worth having, and one read that completes a large message would
 * otherwise make every receiver wait for all the reads (and relays) after it.
 */
export const FLUSH_NOW_BYTES = 64 * 1024;

/** "address:port" of a socket's peer, for logs; "client via proxy:port" when a trusted proxy named the client. */
export function remoteOf(socket: Socket): string {
  const direct = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
  const client = forwardedClientOf(socket);
  return client === undefined ? direct : `${client} via ${direct}`;
}

/** The peer a socket belongs to, so every socket shares the same listener functions. */
const PEER = Symbol('rooms.peer');
type PeerSocket = Socket & { [PEER]?: WsPeer };

// One set of listeners for all sockets (`this` is the socket): no closures per connection.
function onPeerData(this: PeerSocket, chunk: Buffer): void {
  this[PEER]?.conn.receive(chunk);
}
function onPeerEnd(this: PeerSocket): void {
  this[PEER]?.conn.receiveEof();
}
function onPeerClose(this: PeerSocket): void {
  this[PEER]?.closed();
}

export class WsPeer implements RoomMember, ConnectionOutput {
  readonly conn: WebSocketConnection;
  readonly deflateWindowBits: number;
  /** A ping was sent by the heartbeat and nothing has been heard since. */
  awaitingPong = false;
  /** Heartbeat ticks in a row with a message in progress and none completed. */
  stalledTicks = 0;
  /** `conn.messagesCompleted` at the last heartbeat tick. */
  messagesAtLastTick = 0;
  /** Owner or member of its room (src/access): set by the server from the join's credential. */
  role: JoinRole = 'member';

  private readonly queue: Buffer[] = [];
  private queuedBytes = 0;
  private closeTimer: NodeJS.Timeout | null = null;
  private tokens: number;
  private tokensAt = Date.now();
  private droppedAsSlow = false;
  /** When the unsent backlog first went over MAX_BUFFERED_BYTES, or 0 while under it. */
  private overLimitSince = 0;

  constructor(
    readonly socket: Socket,
    private readonly ctx: PeerContext,
    readonly name: string,
    readonly mode: MemberMode,
    /** The room, or null for the echo endpoint. */
    readonly room: Room | null,
    deflate: DeflateParams | null,
  ) {
    this.conn = new WebSocketConnection(this, { maxMessageBytes: ctx.settings.maxMessageBytes, deflate, compressionStats: ctx.compressionStats });
    this.deflateWindowBits = this.conn.deflateWindowBits;
    this.tokens = ctx.settings.messageBurst;
  }

  /** "address:port" for logs; computed when needed rather than kept per connection. */
  get remote(): string {
    return remoteOf(this.socket);
  }

  /** Takes over the socket; `early` are bytes that arrived with or after the handshake. */
  start(early: readonly Buffer[]): void {
    const { socket, ctx } = this;
    ctx.peers.add(this);
    ctx.metrics.connectionsTotal++;
    (socket as PeerSocket)[PEER] = this;
    socket.on('data', onPeerData);
    socket.on('end', onPeerEnd);
    socket.on('close', onPeerClose); // errors are followed by 'close'; the server ignores 'error'
    for (const chunk of early) this.conn.receive(chunk);
  }

  // --- RoomMember

  deliver(frame: Buffer): void {
    if (this.conn.state !== 'open') return;
    this.ctx.metrics.messagesOut++;
    this.conn.sendEncoded(frame);
  }

  deliverParts(header: Buffer, payload: Buffer): void {
    if (this.conn.state !== 'open') return;
    this.ctx.metrics.messagesOut++;
    // The two are queued back to back in this turn: nothing can come between them.
    this.queueBytes(header, false);
    this.queueBytes(payload, true);
    if (this.ctx.trace !== null && !this.socket.destroyed) this.ctx.trace(`→ ${this.remote} ${describeFrameOrHead(Buffer.concat([header, payload.subarray(0, 16)]))}`);
  }

  // --- ConnectionOutput

  write(bytes: Buffer): void {
    this.queueBytes(bytes, true);
    if (this.ctx.trace !== null && !this.socket.destroyed) this.ctx.trace(`→ ${this.remote} ${describeFrameOrHead(bytes)}`);
  }

  /** Adds to this turn's batch; sends the batch now once it is large (`mayFlush`: this ends a frame). */
  private queueBytes(bytes: Buffer, mayFlush: boolean): void {
    // A socket gone meanwhile is found out once per batch, in flush(): not a stream getter per frame.
    if (this.queue.length === 0) this.ctx.batcher.mark(this);
    this.queue.push(bytes);
    this.queuedBytes += bytes.length;
    if (mayFlush && this.queuedBytes >= FLUSH_NOW_BYTES) this.flush();
  }

  message(message: Message): void {
    const { ctx } = this;
    ctx.metrics.messagesIn++;
    ctx.metrics.bytesIn += message.payload.length;
    if (!this.takeToken()) return this.rateLimited();
    if (this.room === null) {
      // The echo endpoint: the message back to its sender, same opcode, same bytes.
      ctx.metrics.messagesOut++;
      return this.conn.send(message.opcode, message.payload);
    }
    if (this.mode === 'json') return this.jsonMessage(this.room, message);
    ctx.registry.relay(this.room, this, { from: this.name, opcode: message.opcode, payload: message.payload, ts: Date.now(), seq: 0 });
  }

  /** Pings and pongs draw from the same token bucket: a ping flood is a message flood. */
  controlFrame(): void {
    if (!this.takeToken()) this.rateLimited();
  }

  shutdown(): void {
    // Already gone (the socket closed first): ending it again would only build an error.
    if (this.socket.destroyed) return;
    // The WebSocket is closed: send what is owed (the close frame last), then our FIN.
    this.flush();
    this.socket.end();
    this.armCloseTimer();
  }

  frameIn(frame: Frame): void {
    if (this.ctx.trace === null) return;
    // An owner command may carry a secret: its bytes are not traced (src/access/trace-redaction.ts).
    const shown = traceMayShowPayload(this.room === null ? 'echo' : this.mode, frame.opcode, frame.payload);
    this.ctx.trace(`← ${this.remote} ${describeFrame({ ...frame, length: frame.payload.length, payload: shown ? frame.payload : new Uint8Array(0) })}${shown ? '' : ' (payload not shown)'}`);
  }

  // --- for the server

  close(code: number, reason: string): void {
    if (this.conn.state !== 'open') return;
    this.conn.close(code, reason);
    this.armCloseTimer();
  }

  flush(): void {
    const queue = this.queue;
    if (queue.length === 0) return;
    if (this.socket.destroyed) {
      // Nobody to write to (writing would only build an error per write): what was owed is dropped.
      queue.length = 0;
      this.queuedBytes = 0;
      return;
    }
    const { maxBufferedBytes, maxMessageBytes } = this.ctx.settings;
    // The hard bound, for memory: everything owed, this batch included. Checked as each batch
    // goes to the socket rather than per frame (a batch is flushed at FLUSH_NOW_BYTES, so
    // it holds at most that plus one frame): one read of the socket per batch, not per delivery.
    if (this.queuedBytes + this.socket.writableLength > 2 * maxBufferedBytes + maxMessageBytes && !this.droppedAsSlow) return this.dropAsSlow();
    // The socket's own backpressure signal: bytes from earlier turns it could not hand to
    // the kernel. A reader that keeps up brings them back under the limit soon after a
    // burst; one that stays over it for SLOW_GRACE_MS is not keeping up, and is dropped.
    if (this.socket.writableLength > maxBufferedBytes && !this.droppedAsSlow) {
      const now = Date.now();
      if (this.overLimitSince === 0) this.overLimitSince = now;
      else if (now - this.overLimitSince > SLOW_GRACE_MS) this.dropAsSlow();
      if (this.queue.length === 0) return;
    } else {
      this.overLimitSince = 0;
    }
    const bytes = this.queuedBytes;
    this.ctx.metrics.bytesOut += bytes;
    this.queuedBytes = 0;
    if (queue.length === 1) {
      this.socket.write(queue[0]!);
    } else if (bytes <= COALESCE_BYTES) {
      this.socket.write(Buffer.concat(queue, bytes));
    } else {
      this.socket.cork();
      for (const chunk of queue) this.socket.write(chunk);
      this.socket.uncork();
    }
    queue.length = 0; // the same array serves the next turn
  }

  private jsonMessage(room: Room, message: Message): void {
    if (message.opcode !== Opcode.Text) {
      return this.conn.send(Opcode.Text, Buffer.from(errorFrame('binary_not_supported', 'rooms.v1.json carries JSON text frames only')));
    }
    const text = message.payload.toString('utf8');
    const parsed = parseClientFrame(text);
    if (!parsed.ok) {
      if (parsed.code === 'unknown_type' && this.ctx.ownerCommands?.handle(this, room, text, (frame) => this.conn.send(Opcode.Text, Buffer.from(frame)))) return;
      return this.conn.send(Opcode.Text, Buffer.from(errorFrame(parsed.code, parsed.message)));
    }
    this.ctx.registry.relay(room, this, { from: this.name, opcode: Opcode.Text, payload: Buffer.from(parsed.text, 'utf8'), ts: Date.now(), seq: 0 });
  }

  private rateLimited(): void {
    this.ctx.metrics.rateLimited++;
    this.ctx.log.warn('rate_limited', { peer: this.remote, limit: this.ctx.settings.messagesPerSecond, closeCode: CloseCode.PolicyViolation });
    this.close(CloseCode.PolicyViolation, 'message rate limit exceeded');
  }

  private takeToken(): boolean {
    const { messagesPerSecond, messageBurst } = this.ctx.settings;
    const now = Date.now();
    if (now !== this.tokensAt) {
      this.tokens = Math.min(messageBurst, this.tokens + ((now - this.tokensAt) * messagesPerSecond) / 1000);
      this.tokensAt = now;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /**
   * A receiver that stops reading would make us buffer without bound and, through
   * the room, slow everyone. It is dropped instead, when what it has not taken stays
   * over MAX_BUFFERED_BYTES for SLOW_GRACE_MS, or everything owed passes twice that
   * plus one largest message (the memory bound):
   * what it is owed is discarded, a 1008 close is queued for the record, and the
   * socket is destroyed after CLOSE_TIMEOUT if it still has not read.
   */
  private dropAsSlow(): void {
    this.droppedAsSlow = true;
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.ctx.metrics.slowConsumersDropped++;
    this.ctx.log.warn('slow_consumer_dropped', { peer: this.remote, limit: this.ctx.settings.maxBufferedBytes, closeCode: CloseCode.PolicyViolation });
    this.close(CloseCode.PolicyViolation, 'receiver too slow: send buffer over MAX_BUFFERED_BYTES');
  }

  private armCloseTimer(): void {
    if (this.closeTimer !== null) return;
    this.closeTimer = setTimeout(() => this.socket.destroy(), this.ctx.settings.closeTimeoutMs);
    this.closeTimer.unref();
  }

  /** The one exit: every resource taken in start() is given back here, once. */
  closed(): void {
    const { ctx } = this;
    this.conn.receiveEof();
    if (this.closeTimer !== null) clearTimeout(this.closeTimer);
    if (!ctx.peers.delete(this)) return;
    if (this.conn.endedBy === 'protocol-error') ctx.metrics.protocolErrors++;
    if (this.room !== null) ctx.registry.leave(this.room, this);
    if (ctx.log.enabled('info')) ctx.log.info('disconnected', { peer: this.remote, mode: this.room === null ? 'echo' : this.mode, code: this.conn.closeCode, endedBy: this.conn.endedBy, reason: this.conn.closeReason || undefined });
  }
}

/** The tracer sees the 101 response too: it is the first thing written. */
function describeFrameOrHead(bytes: Buffer): string {
  if (bytes[0] === 0x48 /* 'H' of HTTP/1.1 */) return bytes.toString('latin1').split('\r\n')[0]!;
  return describeFrame(factsOfEncodedFrame(bytes));
}
