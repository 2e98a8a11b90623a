// Clients for the hardening tests, the crowd test and the soak script.
//
// RawPeer is a bare node:net socket that writes exactly the bytes it is told to
// and can stop reading on demand: slowloris heads, oversized heads, garbage after
// the handshake, floods, frames that only declare a huge length, receivers that
// never read, peers that go silent without a FIN. Its frame encoder and decoder
// are written here from RFC 6455 section 5.2, independently of src/frames, so a
// test never checks the server's code against itself.
//
// WsMember is the well-behaved one: the `ws` library (a different implementation
// again), answering pings, reading everything, and remembering what it heard.

import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { WebSocket, type RawData } from 'ws';
import { OP, decodeFrame, type DecodedFrame } from './raw-client';

export { OP };

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it is true, or throws after `timeoutMs` naming `what`. */
export async function until(check: () => boolean, what: string, timeoutMs = 5000, everyMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

// ---------------------------------------------------------------------------
// Frames, from RFC 6455 section 5.2

export interface ClientFrameOptions {
  /** default true */
  fin?: boolean;
  /** default true: clients must mask (section 5.1) */
  mask?: boolean;
  /** RSV bits 0-7 (RSV1 = 4) */
  rsv?: number;
}

/** The header of a client frame (with its masking key) declaring `length` payload bytes. */
export function frameHeader(opcode: number, length: number | bigint, options: ClientFrameOptions = {}): { header: Buffer; mask: Buffer | null } {
  const len = BigInt(length);
  const extended = len < 126n ? 0 : len < 65536n ? 2 : 8;
  const mask = options.mask === false ? null : randomBytes(4);
  const header = Buffer.alloc(2 + extended + (mask ? 4 : 0));
  header[0] = ((options.fin ?? true) ? 0x80 : 0) | (((options.rsv ?? 0) & 7) << 4) | (opcode & 0x0f);
  const maskBit = mask ? 0x80 : 0;
  if (extended === 0) header[1] = maskBit | Number(len);
  else if (extended === 2) {
    header[1] = maskBit | 126;
    header.writeUInt16BE(Number(len), 2);
  } else {
    header[1] = maskBit | 127;
    header.writeBigUInt64BE(len, 2);
  }
  if (mask) mask.copy(header, 2 + extended);
  return { header, mask };
}

/** A whole client frame, masked unless told otherwise. */
export function clientFrame(opcode: number, payload: Uint8Array | string = '', options: ClientFrameOptions = {}): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const { header, mask } = frameHeader(opcode, body.length, options);
  // One allocation per frame: floods build many.
  const out = Buffer.allocUnsafe(header.length + body.length);
  header.copy(out, 0);
  const at = header.length;
  if (mask) for (let i = 0; i < body.length; i++) out[at + i] = body[i]! ^ mask[i & 3]!;
  else out.set(body, at);
  return out;
}

/**
 * Frames of a flood: text messages of exactly `bytes` bytes that start with
 * `${label} ${n} ` and are padded with 'f', built from one reused payload buffer.
 */
export function floodFrames(label: string, bytes: number): (n: number) => Buffer {
  const payload = Buffer.alloc(bytes, 0x66);
  return (n) => {
    const head = `${label} ${n} `;
    payload.write(head, 0, 'latin1');
    const frame = clientFrame(OP.text, payload);
    payload.fill(0x66, 0, head.length);
    return frame;
  };
}

export const textFrame = (text: string, options: ClientFrameOptions = {}): Buffer => clientFrame(OP.text, text, options);

export function closeFrame(code: number, reason = ''): Buffer {
  const body = Buffer.alloc(2 + Buffer.byteLength(reason));
  body.writeUInt16BE(code, 0);
  body.write(reason, 2, 'utf8');
  return clientFrame(OP.close, body);
}

/** Server frames are read with raw-client's independent decoder. */
export type ServerFrame = DecodedFrame;

// ---------------------------------------------------------------------------
// Handshakes, from RFC 6455 section 4.1

export interface HandshakeSpec {
  /** Request target, default '/echo'. */
  path?: string;
  /** Extra or replacement headers; null removes a default one. */
  headers?: Record<string, string | null>;
  /** Sec-WebSocket-Protocol offer */
  protocol?: string;
}

export function handshakeBytes(port: number, spec: HandshakeSpec = {}): Buffer {
  const headers: Record<string, string | null> = {
    Host: `127.0.0.1:${port}`,
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
    'Sec-WebSocket-Version': '13',
    ...(spec.protocol !== undefined ? { 'Sec-WebSocket-Protocol': spec.protocol } : {}),
    ...spec.headers,
  };
  const lines = [`GET ${spec.path ?? '/echo'} HTTP/1.1`];
  for (const [name, value] of Object.entries(headers)) if (value !== null) lines.push(`${name}: ${value}`);
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}

export const roomPath = (room: string, name: string): string => `/?room=${encodeURIComponent(room)}&name=${encodeURIComponent(name)}`;

export interface HttpAnswer {
  status: number;
  statusLine: string;
  /** lower-case names */
  headers: Map<string, string>;
  body: string;
}

// ---------------------------------------------------------------------------
// RawPeer

export interface RawPeerOptions {
  /** Source address on loopback (127.0.0.2, ...) to act as another client address. */
  localAddress?: string;
}

const rawPeers = new Set<RawPeer>();

/** Destroys every RawPeer still open (for `after` hooks). */
export function destroyRawPeers(): void {
  for (const peer of rawPeers) peer.destroy();
}

export class RawPeer {
  private buffer: Buffer = Buffer.alloc(0);
  private listeners = new Set<() => void>();
  private discarding = false;
  /** The server's FIN, a reset, or our own destroy(): nothing more will be read. */
  ended = false;
  /** Bytes read and dropped in discard mode. */
  discarded = 0;
  /** Wall-clock time `ended` became true. */
  endedAt = 0;

  private constructor(readonly socket: Socket) {
    rawPeers.add(this);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      if (this.discarding) this.discarded += chunk.length;
      else this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
      this.notify();
    });
    const ended = () => {
      if (!this.ended) this.endedAt = Date.now();
      this.ended = true;
      this.notify();
    };
    socket.on('end', ended);
    socket.on('error', ended);
    socket.on('close', () => {
      rawPeers.delete(this);
      ended();
    });
  }

  static connect(port: number, options: RawPeerOptions = {}): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host: '127.0.0.1', ...(options.localAddress ? { localAddress: options.localAddress } : {}) });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawPeer(socket));
      });
    });
  }

  /** Connects, sends a handshake, reads the answer. Asserts nothing. */
  static async handshake(port: number, spec: HandshakeSpec = {}, options: RawPeerOptions = {}): Promise<{ peer: RawPeer; response: HttpAnswer }> {
    const peer = await RawPeer.connect(port, options);
    peer.write(handshakeBytes(port, spec));
    return { peer, response: await peer.readResponse() };
  }

  /** Joins a room in raw mode (or JSON mode with `protocol`); throws unless the answer is 101. */
  static async join(port: number, room: string, name: string, options: RawPeerOptions & { protocol?: string } = {}): Promise<RawPeer> {
    const { peer, response } = await RawPeer.handshake(port, { path: roomPath(room, name), ...(options.protocol ? { protocol: options.protocol } : {}) }, options);
    if (response.status !== 101) {
      peer.destroy();
      throw new Error(`join ${name}: expected 101, got ${response.statusLine}: ${response.body.trim()}`);
    }
    return peer;
  }

  /** Bytes received and not consumed. */
  get pending(): number {
    return this.buffer.length;
  }

  write(bytes: Uint8Array): boolean {
    if (this.socket.destroyed || !this.socket.writable) return false;
    return this.socket.write(bytes);
  }

  /** Writes and waits until the bytes are handed to the kernel, so a flooder feels TCP backpressure. */
  writeAndDrain(bytes: Uint8Array): Promise<boolean> {
    if (this.write(bytes)) return Promise.resolve(true);
    if (this.socket.destroyed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        this.socket.off('drain', onDrain);
        this.socket.off('close', onClose);
        resolve(ok);
      };
      const onDrain = () => done(true);
      const onClose = () => done(false);
      this.socket.on('drain', onDrain);
      this.socket.on('close', onClose);
    });
  }

  /** Slowloris: one byte every `everyMs` until all are sent or the server hangs up. Returns the bytes sent. */
  async drip(bytes: Uint8Array, everyMs: number): Promise<number> {
    for (let i = 0; i < bytes.length; i++) {
      if (this.ended || !this.write(bytes.subarray(i, i + 1))) return i;
      await sleep(everyMs);
    }
    return bytes.length;
  }

  /** Stops reading: what the server sends piles up in the kernel, then in the server. */
  stopReading(): void {
    this.socket.pause();
  }

  /** Reads again, dropping everything (to see the server's FIN without holding megabytes). */
  readAndDiscard(): void {
    this.discarded += this.buffer.length;
    this.buffer = Buffer.alloc(0);
    this.discarding = true;
    this.socket.resume();
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  private waitFor<T>(take: () => T | undefined, what: string, timeoutMs: number, atEnd: () => T | undefined = () => undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const finish = (fn: () => void) => {
        clearTimeout(timer);
        this.listeners.delete(check);
        fn();
      };
      const check = () => {
        let value: T | undefined;
        try {
          value = take();
        } catch (error) {
          return finish(() => reject(error));
        }
        if (value !== undefined) return finish(() => resolve(value));
        if (this.ended) {
          const last = atEnd();
          return finish(() => (last !== undefined ? resolve(last) : reject(new Error(`connection ended while waiting for ${what} (${this.buffer.length} unread bytes)`))));
        }
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`no ${what} within ${timeoutMs} ms (${this.buffer.length} unread bytes)`))), timeoutMs);
      this.listeners.add(check);
      check();
    });
  }

  /** An HTTP response head and its Content-Length body; later bytes stay buffered. */
  readResponse(timeoutMs = 5000): Promise<HttpAnswer> {
    const take = (): HttpAnswer | undefined => {
      const end = this.buffer.indexOf('\r\n\r\n');
      if (end === -1) return undefined;
      const lines = this.buffer.subarray(0, end).toString('latin1').split('\r\n');
      const statusLine = lines[0]!;
      const match = /^HTTP\/1\.1 (\d{3}) /.exec(statusLine);
      if (!match) throw new Error(`malformed status line ${JSON.stringify(statusLine)}`);
      const headers = new Map<string, string>();
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
      }
      const status = Number(match[1]);
      const length = status === 101 ? 0 : Number(headers.get('content-length') ?? 0);
      if (this.buffer.length < end + 4 + length) return undefined;
      const body = this.buffer.subarray(end + 4, end + 4 + length).toString('utf8');
      this.buffer = this.buffer.subarray(end + 4 + length);
      return { status, statusLine, headers, body };
    };
    return this.waitFor(take, 'HTTP response', timeoutMs);
  }

  /** The next frame, or null when the connection ended cleanly between frames. */
  nextFrame(timeoutMs = 5000): Promise<ServerFrame | null> {
    const take = (): ServerFrame | undefined => {
      const decoded = decodeFrame(this.buffer);
      if (decoded === null) return undefined;
      this.buffer = this.buffer.subarray(decoded.size);
      return decoded.frame;
    };
    return this.waitFor<ServerFrame | null>(take, 'frame', timeoutMs, () => (this.buffer.length === 0 ? null : undefined));
  }

  /** The next frame, which must come. */
  async frame(timeoutMs = 5000): Promise<ServerFrame> {
    const next = await this.nextFrame(timeoutMs);
    if (next === null) throw new Error('connection ended before the expected frame');
    return next;
  }

  /** Reads frames up to the server's close frame; returns its code, reason and the frames before it. */
  async expectClose(timeoutMs = 5000): Promise<{ code: number | null; reason: string; before: ServerFrame[] }> {
    const deadline = Date.now() + timeoutMs;
    const before: ServerFrame[] = [];
    for (;;) {
      const frame = await this.nextFrame(Math.max(1, deadline - Date.now()));
      if (frame === null) throw new Error(`connection ended without a close frame (${before.length} frames before)`);
      if (frame.opcode !== OP.close) {
        before.push(frame);
        continue;
      }
      return {
        code: frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : null,
        reason: frame.payload.subarray(2).toString('utf8'),
        before,
      };
    }
  }

  /** Waits for the server's FIN or reset. */
  waitForEnd(timeoutMs = 5000): Promise<void> {
    return this.waitFor(() => (this.ended ? true : undefined), 'end of the connection', timeoutMs, () => true).then(() => undefined);
  }

  destroy(): void {
    this.socket.destroy();
    rawPeers.delete(this);
  }
}

// ---------------------------------------------------------------------------
// WsMember: the well-behaved client

export interface Heard {
  /** JSON mode: the sender's name; raw mode: null */
  from: string | null;
  /** The text, cut to its first 200 characters (long floods are not kept whole). */
  text: string;
  /** Its full length: characters in JSON mode, bytes in raw mode. */
  length: number;
}

export interface WsMemberOptions {
  /** 'json' (rooms.v1.json, the default) or 'raw' */
  mode?: 'json' | 'raw';
  localAddress?: string;
  /** Called with each received message, in order. */
  onMessage?: (heard: Heard) => void;
}

const wsMembers = new Set<WsMember>();

/** Terminates every WsMember still open (for `after` hooks). */
export function terminateWsMembers(): void {
  for (const member of wsMembers) member.terminate();
}

const KEEP_CHARS = 200;

export class WsMember {
  readonly heard: Heard[] = [];
  readonly presence: Array<{ type: 'joined' | 'left'; name: string }> = [];
  readonly errors: string[] = [];
  members: string[] = [];
  /** Close code from the server, or 1006 / null. */
  closeCode: number | null = null;
  closeReason = '';
  closed = false;

  private constructor(
    readonly ws: WebSocket,
    readonly name: string,
    readonly mode: 'json' | 'raw',
    private readonly onMessage: ((heard: Heard) => void) | undefined,
  ) {
    wsMembers.add(this);
    ws.on('message', (data: RawData, isBinary: boolean) => this.received(data, isBinary));
    ws.on('close', (code: number, reason: Buffer) => {
      this.closed = true;
      this.closeCode = code;
      this.closeReason = reason.toString('utf8');
      wsMembers.delete(this);
    });
    ws.on('error', (error: Error) => this.errors.push(String(error)));
  }

  static join(url: string, room: string, name: string, options: WsMemberOptions = {}): Promise<WsMember> {
    const mode = options.mode ?? 'json';
    const ws = new WebSocket(`${url}${roomPath(room, name)}`, mode === 'json' ? ['rooms.v1.json'] : [], {
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
      handshakeTimeout: 5000,
      perMessageDeflate: false,
    });
    const member = new WsMember(ws, name, mode, options.onMessage);
    return new Promise((resolve, reject) => {
      const fail = (error: Error) => reject(new Error(`${name} could not join ${room}: ${error.message}`));
      ws.once('error', fail);
      ws.once('unexpected-response', (_req, res) => {
        fail(new Error(`HTTP ${res.statusCode}`));
        ws.terminate();
      });
      const ready = () => {
        ws.off('error', fail);
        resolve(member);
      };
      if (mode === 'raw') ws.once('open', ready);
      else {
        // JSON mode: joined once the welcome frame has arrived.
        ws.once('open', () => void until(() => member.members.length > 0, `${name}'s welcome`).then(ready, fail));
      }
    });
  }

  private received(data: RawData, isBinary: boolean): void {
    const raw = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    if (this.mode === 'raw') {
      // Only the start is decoded: a flood of large messages should not turn into large strings here.
      const text = isBinary ? raw.subarray(0, KEEP_CHARS).toString('base64') : raw.subarray(0, KEEP_CHARS * 4).toString('utf8').slice(0, KEEP_CHARS);
      return this.keep({ from: null, text, length: raw.length });
    }
    const text = raw.toString('utf8');
    const frame = JSON.parse(text) as { type: string; name?: string; members?: string[]; from?: string; text?: string; code?: string };
    if (frame.type === 'welcome') this.members = frame.members ?? [];
    else if (frame.type === 'joined' || frame.type === 'left') this.presence.push({ type: frame.type, name: frame.name ?? '' });
    else if (frame.type === 'message') this.keep({ from: frame.from ?? '', text: (frame.text ?? '').slice(0, KEEP_CHARS), length: (frame.text ?? '').length });
    else if (frame.type === 'error') this.errors.push(`${frame.code}`);
  }

  private keep(heard: Heard): void {
    this.heard.push(heard);
    this.onMessage?.(heard);
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** JSON mode: {"type":"message","text":...}; raw mode: the text itself. */
  say(text: string): void {
    this.ws.send(this.mode === 'json' ? JSON.stringify({ type: 'message', text }) : text);
  }

  /** What `from` said, in arrival order (raw mode: everything). */
  from(name: string | null): string[] {
    return this.heard.filter((h) => h.from === name).map((h) => h.text);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    const done = new Promise<void>((resolve) => this.ws.once('close', () => resolve()));
    this.ws.close(1000);
    const timer = setTimeout(() => this.ws.terminate(), 2000);
    await done;
    clearTimeout(timer);
  }

  terminate(): void {
    this.ws.terminate();
    wsMembers.delete(this);
  }
}
