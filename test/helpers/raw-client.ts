// A raw TCP WebSocket client for tests: it writes exactly the bytes a test asks
// for and reads the server's bytes back with its own small decoder. Its frame
// encoder and decoder are written here from RFC 6455 section 5.2, independently
// of src/frames, so a test never checks the server's code against itself.

import { createHash, randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

export const OP = {
  continuation: 0x0,
  text: 0x1,
  binary: 0x2,
  close: 0x8,
  ping: 0x9,
  pong: 0xa,
} as const;

/** RSV bits as the 3 bits after FIN: RSV1 = 4, RSV2 = 2, RSV3 = 1. */
export const RSV = { rsv1: 4, rsv2: 2, rsv3: 1 } as const;

export interface FrameSpec {
  opcode: number;
  payload?: Uint8Array | string;
  /** default true */
  fin?: boolean;
  /** 0-7: RSV1 << 2 | RSV2 << 1 | RSV3 */
  rsv?: number;
  /** 4 bytes, `false` for an unmasked frame, or omitted for a random mask */
  mask?: Uint8Array | false;
  /** The length written in the header, when it must differ from the payload's (oversized declarations). */
  declaredLength?: bigint | number;
  /** Force a length form: 7-bit, 16-bit or 64-bit (default: the shortest that fits). */
  lengthForm?: 7 | 16 | 64;
}

export interface DecodedFrame {
  fin: boolean;
  /** 0-7, as in FrameSpec */
  rsv: number;
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

function toBytes(payload: Uint8Array | string | undefined): Buffer {
  if (payload === undefined) return Buffer.alloc(0);
  return typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload);
}

/** Encodes one client frame from its parts (RFC 6455 section 5.2); any header the spec asks for, valid or not. */
export function frame(spec: FrameSpec): Buffer {
  const payload = toBytes(spec.payload);
  const length = BigInt(spec.declaredLength ?? payload.length);
  const form = spec.lengthForm ?? (length < 126n ? 7 : length < 65536n ? 16 : 64);
  const mask = spec.mask === false ? null : spec.mask === undefined ? randomBytes(4) : Buffer.from(spec.mask);
  const extended = form === 7 ? 0 : form === 16 ? 2 : 8;
  const header = Buffer.alloc(2 + extended + (mask ? 4 : 0));
  header[0] = ((spec.fin ?? true) ? 0x80 : 0) | (((spec.rsv ?? 0) & 7) << 4) | (spec.opcode & 0x0f);
  const maskBit = mask ? 0x80 : 0;
  if (form === 7) {
    header[1] = maskBit | Number(length & 0x7fn);
  } else if (form === 16) {
    header[1] = maskBit | 126;
    header.writeUInt16BE(Number(length & 0xffffn), 2);
  } else {
    header[1] = maskBit | 127;
    header.writeBigUInt64BE(BigInt.asUintN(64, length), 2);
  }
  if (!mask) return Buffer.concat([header, payload]);
  mask.copy(header, 2 + extended);
  const body = Buffer.alloc(payload.length);
  for (let i = 0; i < payload.length; i++) body[i] = payload[i]! ^ mask[i & 3]!;
  return Buffer.concat([header, body]);
}

export const text = (payload: Uint8Array | string, more: Partial<FrameSpec> = {}): Buffer => frame({ opcode: OP.text, payload, ...more });
export const binary = (payload: Uint8Array | string, more: Partial<FrameSpec> = {}): Buffer => frame({ opcode: OP.binary, payload, ...more });
export const ping = (payload: Uint8Array | string = '', more: Partial<FrameSpec> = {}): Buffer => frame({ opcode: OP.ping, payload, ...more });
export const pong = (payload: Uint8Array | string = '', more: Partial<FrameSpec> = {}): Buffer => frame({ opcode: OP.pong, payload, ...more });
export const cont = (payload: Uint8Array | string, more: Partial<FrameSpec> = {}): Buffer => frame({ opcode: OP.continuation, payload, ...more });

/** A close frame body: 2-byte code then the reason's bytes. */
export function closeBody(code: number, reason: Uint8Array | string = ''): Buffer {
  const head = Buffer.alloc(2);
  head.writeUInt16BE(code, 0);
  return Buffer.concat([head, toBytes(reason)]);
}

/** A close frame: no argument for an empty body, a code (and reason), or raw body bytes. */
export function close(codeOrBody?: number | Uint8Array, reason: Uint8Array | string = ''): Buffer {
  const payload = codeOrBody === undefined ? Buffer.alloc(0) : typeof codeOrBody === 'number' ? closeBody(codeOrBody, reason) : Buffer.from(codeOrBody);
  return frame({ opcode: OP.close, payload });
}

/** Decodes one frame from the start of `bytes`, or null when more bytes are needed. */
export function decodeFrame(bytes: Buffer): { frame: DecodedFrame; size: number } | null {
  if (bytes.length < 2) return null;
  const b0 = bytes[0]!;
  const b1 = bytes[1]!;
  const masked = (b1 & 0x80) !== 0;
  const len7 = b1 & 0x7f;
  let offset = 2;
  let length: number;
  if (len7 === 126) {
    if (bytes.length < 4) return null;
    length = bytes.readUInt16BE(2);
    offset = 4;
  } else if (len7 === 127) {
    if (bytes.length < 10) return null;
    const big = bytes.readBigUInt64BE(2);
    if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`server frame declares an impossible length ${big}`);
    length = Number(big);
    offset = 10;
  } else {
    length = len7;
  }
  const maskAt = offset;
  if (masked) offset += 4;
  if (bytes.length < offset + length) return null;
  const payload = Buffer.from(bytes.subarray(offset, offset + length));
  if (masked) for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ bytes[maskAt + (i & 3)]!;
  return { frame: { fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, opcode: b0 & 0x0f, masked, payload }, size: offset + length };
}

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Section 4.2.2 item 5.4: base64(SHA-1(key + GUID)). */
export function expectedAccept(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

export interface HandshakeOptions {
  /** Request target, default '/echo'. */
  path?: string;
  method?: string;
  /** HTTP version in the request line, default '1.1'. */
  httpVersion?: string;
  /** Sec-WebSocket-Key; null leaves the header out. Default: a fresh random key. */
  key?: string | null;
  /** Sec-WebSocket-Version; null leaves it out. Default '13'. */
  version?: string | null;
  /** Sec-WebSocket-Protocol offer. */
  protocol?: string;
  /** Extra headers; a null value removes one of the defaults (Host, Upgrade, Connection). */
  headers?: Record<string, string | null>;
  /** Source address of the TCP connection (e.g. 127.0.0.2: another client address on loopback). */
  localAddress?: string;
}

/** The bytes of a handshake request (section 4.1), with every part overridable. */
export function handshakeRequest(port: number, options: HandshakeOptions = {}): { bytes: Buffer; key: string | null } {
  const key = options.key === undefined ? randomBytes(16).toString('base64') : options.key;
  const headers: Record<string, string | null> = {
    Host: `127.0.0.1:${port}`,
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': key,
    'Sec-WebSocket-Version': options.version === undefined ? '13' : options.version,
    ...(options.protocol !== undefined ? { 'Sec-WebSocket-Protocol': options.protocol } : {}),
    ...options.headers,
  };
  const lines = [`${options.method ?? 'GET'} ${options.path ?? '/echo'} HTTP/${options.httpVersion ?? '1.1'}`];
  for (const [name, value] of Object.entries(headers)) if (value !== null) lines.push(`${name}: ${value}`);
  return { bytes: Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), key };
}

export interface HttpAnswer {
  status: number;
  statusLine: string;
  /** Lower-case names. */
  headers: Map<string, string>;
  body: Buffer;
}

export interface CloseResult {
  /** null when the close frame had no body */
  code: number | null;
  reason: string;
  payload: Buffer;
  /** Frames received before the close frame. */
  before: DecodedFrame[];
}

const clients = new Set<RawClient>();

/** Destroys every client still open (for `after`/`after.each` hooks), except those in `keep`. */
export function destroyAllClients(...keep: Array<RawClient | undefined>): void {
  for (const client of clients) if (!keep.includes(client)) client.destroy();
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class RawClient {
  /** Bytes received and not yet consumed. */
  private buffer: Buffer = Buffer.alloc(0);
  private endedFlag = false;
  private listeners = new Set<() => void>();

  private constructor(readonly socket: Socket) {
    clients.add(this);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
      this.notify();
    });
    const ended = () => {
      this.endedFlag = true;
      this.notify();
    };
    socket.on('end', ended);
    socket.on('close', () => {
      clients.delete(this);
      ended();
    });
    socket.on('error', ended);
  }

  static connect(port: number, host = '127.0.0.1', localAddress?: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host, ...(localAddress !== undefined ? { localAddress } : {}) });
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawClient(socket));
      });
      socket.once('error', reject);
    });
  }

  /** Connects, sends a handshake and reads the answer; asserts nothing. */
  static async open(port: number, options: HandshakeOptions = {}, timeoutMs = 3000): Promise<{ client: RawClient; response: HttpAnswer; key: string | null }> {
    const client = await RawClient.connect(port, '127.0.0.1', options.localAddress);
    const { bytes, key } = handshakeRequest(port, options);
    client.send(bytes);
    const response = await client.readResponse(timeoutMs);
    return { client, response, key };
  }

  /** Connects and completes a handshake, asserting a 101 with the right accept key. */
  static async upgrade(port: number, options: HandshakeOptions = {}): Promise<RawClient> {
    const { client, response, key } = await RawClient.open(port, options);
    if (response.status !== 101) {
      client.destroy();
      throw new Error(`expected 101, got ${response.statusLine}: ${response.body.toString('utf8').trim()}`);
    }
    if (key !== null && response.headers.get('sec-websocket-accept') !== expectedAccept(key)) {
      client.destroy();
      throw new Error(`wrong Sec-WebSocket-Accept ${response.headers.get('sec-websocket-accept')}`);
    }
    return client;
  }

  static echo(port: number): Promise<RawClient> {
    return RawClient.upgrade(port, { path: '/echo' });
  }

  static room(port: number, room: string, name: string, options: HandshakeOptions = {}): Promise<RawClient> {
    return RawClient.upgrade(port, { ...options, path: `/?room=${encodeURIComponent(room)}&name=${encodeURIComponent(name)}` });
  }

  /** True once the server's FIN (or a reset) arrived. */
  get ended(): boolean {
    return this.endedFlag;
  }

  /** Bytes received and not consumed by a read. */
  get pending(): number {
    return this.buffer.length;
  }

  send(bytes: Uint8Array): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(bytes);
  }

  /**
   * Sends in pieces of `chunkSize`, waiting `delayMs` between writes (0: the next
   * event-loop turn), so the server sees many reads. Stops quietly if the server ends.
   */
  async sendAll(bytes: Uint8Array, { chunkSize = 1, delayMs = 1 }: { chunkSize?: number; delayMs?: number } = {}): Promise<void> {
    for (let at = 0; at < bytes.length; at += chunkSize) {
      if (this.socket.destroyed || !this.socket.writable) return;
      this.socket.write(bytes.subarray(at, Math.min(bytes.length, at + chunkSize)));
      if (at + chunkSize < bytes.length) await (delayMs > 0 ? sleep(delayMs) : new Promise<void>((resolve) => setImmediate(resolve)));
    }
  }

  /** Waits until `take` returns a value (it may consume from the buffer), the socket ends, or the deadline passes. */
  private waitFor<T>(take: () => T | undefined, what: string, timeoutMs: number, onEnd: () => T | undefined = () => undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | null = null;
      const finish = (fn: () => void) => {
        this.listeners.delete(check);
        if (timer !== null) clearTimeout(timer);
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
        if (this.endedFlag) {
          const atEnd = onEnd();
          if (atEnd !== undefined) return finish(() => resolve(atEnd));
          return finish(() => reject(new Error(`connection ended while waiting for ${what} (${this.buffer.length} unread bytes)`)));
        }
      };
      this.listeners.add(check);
      timer = setTimeout(() => finish(() => reject(new Error(`no ${what} within ${timeoutMs} ms (${this.buffer.length} unread bytes)`))), timeoutMs);
      check();
    });
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /** Reads an HTTP response head, and its body when it has one (Content-Length); later bytes stay buffered. */
  readResponse(timeoutMs = 3000): Promise<HttpAnswer> {
    let head: { status: number; statusLine: string; headers: Map<string, string>; bodyAt: number; length: number | null } | null = null;
    const take = (): HttpAnswer | undefined => {
      if (head === null) {
        const end = this.buffer.indexOf('\r\n\r\n');
        if (end === -1) return undefined;
        const lines = this.buffer.subarray(0, end).toString('latin1').split('\r\n');
        const statusLine = lines[0]!;
        const match = /^HTTP\/1\.1 (\d{3}) /.exec(statusLine);
        if (!match) throw new Error(`malformed status line ${JSON.stringify(statusLine)}`);
        const headers = new Map<string, string>();
        for (const line of lines.slice(1)) {
          const colon = line.indexOf(':');
          if (colon <= 0) throw new Error(`malformed header line ${JSON.stringify(line)}`);
          const name = line.slice(0, colon).toLowerCase();
          const value = line.slice(colon + 1).trim();
          headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
        }
        const status = Number(match[1]);
        const lengthHeader = headers.get('content-length');
        const length = status === 101 || status === 304 ? 0 : lengthHeader !== undefined ? Number(lengthHeader) : null;
        head = { status, statusLine, headers, bodyAt: end + 4, length };
      }
      if (head.length === null) return undefined; // body until the connection ends
      if (this.buffer.length < head.bodyAt + head.length) return undefined;
      const body = Buffer.from(this.buffer.subarray(head.bodyAt, head.bodyAt + head.length));
      this.buffer = this.buffer.subarray(head.bodyAt + head.length);
      return { status: head.status, statusLine: head.statusLine, headers: head.headers, body };
    };
    const atEnd = (): HttpAnswer | undefined => {
      if (head === null || head.length !== null) return undefined;
      const body = Buffer.from(this.buffer.subarray(head.bodyAt));
      this.buffer = Buffer.alloc(0);
      return { status: head.status, statusLine: head.statusLine, headers: head.headers, body };
    };
    return this.waitFor(take, 'HTTP response', timeoutMs, atEnd);
  }

  /** The next frame from the server, or null if the connection ended cleanly between frames. */
  nextFrame(timeoutMs = 3000): Promise<DecodedFrame | null> {
    const take = (): DecodedFrame | undefined => {
      const decoded = decodeFrame(this.buffer);
      if (decoded === null) return undefined;
      this.buffer = this.buffer.subarray(decoded.size);
      return decoded.frame;
    };
    return this.waitFor<DecodedFrame | null>(take, 'frame', timeoutMs, () => (this.buffer.length === 0 ? null : undefined));
  }

  /** The next frame, which must exist. */
  async frame(timeoutMs = 3000): Promise<DecodedFrame> {
    const next = await this.nextFrame(timeoutMs);
    if (next === null) throw new Error('connection ended before the expected frame');
    return next;
  }

  /**
   * The next data message, its fragments joined (section 5.4). A control frame
   * before it completes is an error here: tests that expect one read frames instead.
   */
  async message(timeoutMs = 3000): Promise<{ opcode: number; payload: Buffer; frames: number }> {
    const deadline = Date.now() + timeoutMs;
    const parts: Buffer[] = [];
    let opcode: number | null = null;
    for (;;) {
      const next = await this.frame(Math.max(1, deadline - Date.now()));
      if (next.opcode >= 8) {
        const detail = next.opcode === OP.close && next.payload.length >= 2 ? ` (close ${next.payload.readUInt16BE(0)} ${JSON.stringify(next.payload.subarray(2).toString('utf8'))})` : '';
        throw new Error(`expected a data message, got control frame op${next.opcode}${detail}`);
      }
      if (opcode === null) {
        if (next.opcode === OP.continuation) throw new Error('server sent a continuation frame without a message to continue');
        opcode = next.opcode;
      } else if (next.opcode !== OP.continuation) {
        throw new Error(`server started a new message (op${next.opcode}) inside a fragmented one`);
      }
      parts.push(next.payload);
      if (next.fin) return { opcode, payload: Buffer.concat(parts), frames: parts.length };
    }
  }

  /**
   * Reads frames until a close frame; checks its code when `code` is given (null:
   * an empty body). Data frames before it are returned in `before`.
   */
  async expectClose(code?: number | null, timeoutMs = 3000): Promise<CloseResult> {
    const before: DecodedFrame[] = [];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const next = await this.nextFrame(Math.max(1, deadline - Date.now()));
      if (next === null) throw new Error(`connection ended without a close frame${code !== undefined ? ` (expected ${code})` : ''}; frames before: ${describeFrames(before)}`);
      if (next.opcode !== OP.close) {
        before.push(next);
        continue;
      }
      const payload = next.payload;
      const result: CloseResult = {
        code: payload.length >= 2 ? payload.readUInt16BE(0) : null,
        reason: payload.length > 2 ? payload.subarray(2).toString('utf8') : '',
        payload,
        before,
      };
      if (code !== undefined && result.code !== code) {
        throw new Error(`expected close ${code}, got ${result.code} ${JSON.stringify(result.reason)}`);
      }
      return result;
    }
  }

  /** Waits for the server to end the TCP connection (FIN or reset). */
  waitForEnd(timeoutMs = 3000): Promise<void> {
    return this.waitFor(() => (this.endedFlag ? true : undefined), 'end of the TCP connection', timeoutMs, () => true).then(() => undefined);
  }

  /** Sends a close frame and completes the close handshake: the echoed close and the server's FIN. */
  async closeCleanly(code = 1000): Promise<void> {
    this.send(close(code));
    await this.expectClose(code);
    await this.waitForEnd();
    this.destroy();
  }

  destroy(): void {
    this.socket.destroy();
    clients.delete(this);
  }
}

export function describeFrames(frames: readonly DecodedFrame[]): string {
  return frames.length === 0 ? 'none' : frames.map((f) => `op${f.opcode}${f.fin ? '' : '(no FIN)'}[${f.payload.length}]`).join(', ');
}
