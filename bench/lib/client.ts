// The load generator's WebSocket client on plain node:net: a hand-written
// upgrade request, masked frames built from a premasked template (only the
// 24-byte header of each payload is written per message), and a receive path
// that reads frame headers and the first 24 payload bytes, skipping the rest.
//
// Every payload starts with a 24-byte header (little endian):
//   0  f64  send time, performance.now() in ms (all clients share one process, so one clock)
//   8  u32  room index
//  12  u32  sender slot in the room
//  16  u32  sequence number of this sender's messages
//  20  u32  MAGIC
// so each receiver can check that every message of every other member of its
// room arrived exactly once, in order, and nothing else did.
import { connect, type Socket } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { Histogram } from './hist';

export const META = 24;
const MAGIC = 0x0b3c4d5e;
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const readBuffer = Buffer.allocUnsafe(256 * 1024);

/** State shared by every connection of one run. */
export class Shared {
  /** Data messages received by all connections (any validity). */
  delivered = 0;
  /** Record latencies into `hist` only while true. */
  measuring = false;
  readonly hist = new Histogram();
  /** Connections the server closed or reset while we still wanted them. */
  unexpectedCloses = 0;
  lastError = '';
}

export interface Member {
  room: number;
  slot: number;
  roomSize: number;
}

export class Conn {
  readonly room: number;
  readonly slot: number;
  socket: Socket | null = null;
  /** Next expected sequence number from each slot of the room. */
  readonly next: Uint32Array;
  /** Messages this connection sent (its next sequence number). */
  sent = 0;

  received = 0;
  missing = 0;
  duplicates = 0;
  misrouted = 0;
  selfEcho = 0;
  badSize = 0;
  badMeta = 0;
  protocolErrors = 0;
  closeCode = 0;

  expectSize = 0;
  opcode = 2;

  private readonly shared: Shared;
  private readonly mask: Buffer;
  private template: Buffer | null = null;
  private headerLen = 0;
  private readonly scratch = Buffer.alloc(META);
  private partial: Buffer | null = null;
  private skip = 0;
  private ending = false;
  private open = false;
  private upgraded = false;
  /** Called after every read that carried frames (the flood scenario paces on it). */
  onRead: (() => void) | null = null;

  constructor(member: Member, shared: Shared) {
    this.room = member.room;
    this.slot = member.slot;
    this.next = new Uint32Array(member.roomSize);
    this.shared = shared;
    this.mask = randomBytes(4);
  }

  /** Fix the size and opcode of the messages this connection sends and expects. */
  setMessage(size: number, opcode: number): void {
    if (size < META) throw new Error(`messages must be at least ${META} bytes`);
    this.expectSize = size;
    this.opcode = opcode;
    const h = size < 126 ? 2 : size < 65536 ? 4 : 10;
    const t = Buffer.allocUnsafe(h + 4 + size);
    t[0] = 0x80 | opcode;
    if (h === 2) t[1] = 0x80 | size;
    else if (h === 4) {
      t[1] = 0x80 | 126;
      t.writeUInt16BE(size, 2);
    } else {
      t[1] = 0x80 | 127;
      t.writeUInt32BE(Math.floor(size / 2 ** 32), 2);
      t.writeUInt32BE(size >>> 0, 6);
    }
    this.mask.copy(t, h);
    const p = h + 4;
    // Padding: printable ASCII, masked once here.
    for (let i = 0; i < size; i++) t[p + i] = (0x61 + (i % 26)) ^ this.mask[i & 3];
    this.template = t;
    this.headerLen = p;
  }

  /** Open the TCP connection and complete the upgrade; resolves on a valid 101. */
  connect(host: string, port: number, path: string, timeoutMs = 20_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const key = randomBytes(16).toString('base64');
      const accept = createHash('sha1').update(key + GUID).digest('base64');
      let head: Buffer | null = null;
      let settled = false;
      const fail = (why: string): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        reject(new Error(why));
      };
      const onHead = (chunk: Buffer): void => {
        // `chunk` is the shared read buffer: copy what is kept.
        head = head === null ? Buffer.from(chunk) : Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) {
          if (head.length > 16384) fail('upgrade response head too large');
          return;
        }
        const text = head.toString('latin1', 0, end);
        const status = /^HTTP\/1\.1 (\d{3})/.exec(text);
        if (!status || status[1] !== '101') {
          fail(`upgrade refused: ${text.split('\r\n')[0]} ${head.toString('utf8', end + 4).trim().slice(0, 200)}`);
          return;
        }
        const got = /^sec-websocket-accept:\s*(\S+)/im.exec(text);
        if (!got || got[1] !== accept) {
          fail('bad Sec-WebSocket-Accept');
          return;
        }
        settled = true;
        clearTimeout(timer);
        this.open = true;
        this.upgraded = true;
        const rest = head.subarray(end + 4);
        head = null;
        resolve();
        if (rest.length > 0) this.onData(rest);
      };
      // Reads land in one buffer shared by every connection (reads are handled one
      // at a time, synchronously), and skip the stream machinery: the client stays cheap.
      const socket = connect({
        host,
        port,
        noDelay: true,
        onread: {
          buffer: readBuffer,
          callback: (n: number, buf: Uint8Array): boolean => {
            const chunk = Buffer.from(buf.buffer, buf.byteOffset, n);
            if (this.upgraded) this.onData(chunk);
            else if (!settled) onHead(chunk);
            return true;
          },
        },
      });
      this.socket = socket;
      const timer = setTimeout(() => fail(`upgrade timed out after ${timeoutMs} ms`), timeoutMs);
      socket.on('connect', () => {
        socket.write(
          `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        );
      });
      socket.on('error', (err) => {
        if (!settled) fail(`connection error: ${err.message}`);
        else if (!this.ending) this.shared.lastError = err.message;
      });
      socket.on('close', () => {
        if (!settled) fail('connection closed before upgrade');
        else if (!this.ending) {
          this.shared.unexpectedCloses++;
          if (this.closeCode !== 0) this.shared.lastError = `server closed a connection with ${this.closeCode}`;
        }
        this.open = false;
      });
    });
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** Send `count` messages in one write; returns false when the socket buffer is full. */
  send(count: number, now: number): boolean {
    const t = this.template;
    const socket = this.socket;
    if (t === null || socket === null || !this.open) return true;
    const flen = t.length;
    const out = Buffer.allocUnsafe(flen * count);
    const s = this.scratch;
    const m = this.mask;
    s.writeDoubleLE(now, 0);
    s.writeUInt32LE(this.room, 8);
    s.writeUInt32LE(this.slot, 12);
    s.writeUInt32LE(MAGIC, 20);
    let q = 0;
    for (let k = 0; k < count; k++) {
      t.copy(out, q);
      s.writeUInt32LE(this.sent++ >>> 0, 16);
      const p = q + this.headerLen;
      for (let i = 0; i < META; i++) out[p + i] = s[i] ^ m[i & 3];
      q += flen;
    }
    return socket.write(out);
  }

  /** Drop the connection without a TIME_WAIT (RST), as a benchmark client may. */
  reset(): void {
    this.ending = true;
    const s = this.socket;
    if (s !== null && !s.destroyed) s.resetAndDestroy();
  }

  private onData(chunk: Buffer): void {
    const now = performance.now();
    const len = chunk.length;
    let off = 0;
    if (this.partial !== null) {
      if (this.skip > 0) throw new Error('parser state: partial and skip');
      const partLen = this.partial.length;
      const take = Math.min(len, 160);
      const tmp = Buffer.concat([this.partial, chunk.subarray(0, take)]);
      const r = this.frame(tmp, 0, tmp.length, now);
      if (r < 0) {
        if (take === len) {
          this.partial = tmp;
          if (this.onRead !== null) this.onRead();
          return;
        }
        this.protocolErrors++;
        this.partial = null;
        return;
      }
      this.partial = null;
      off = r - partLen;
    }
    while (off < len) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, len - off);
        this.skip -= n;
        off += n;
        continue;
      }
      const r = this.frame(chunk, off, len, now);
      if (r < 0) {
        this.partial = Buffer.from(chunk.subarray(off));
        break;
      }
      off += r;
    }
    if (this.onRead !== null) this.onRead();
  }

  /** Parse one frame header (plus up to META payload bytes) at buf[off..end); -1 if incomplete. */
  private frame(buf: Buffer, off: number, end: number, now: number): number {
    const avail = end - off;
    if (avail < 2) return -1;
    const b0 = buf[off];
    const b1 = buf[off + 1];
    const opcode = b0 & 0x0f;
    let plen = b1 & 0x7f;
    let h = 2;
    if (plen === 126) {
      if (avail < 4) return -1;
      plen = buf.readUInt16BE(off + 2);
      h = 4;
    } else if (plen === 127) {
      if (avail < 10) return -1;
      plen = buf.readUInt32BE(off + 2) * 2 ** 32 + buf.readUInt32BE(off + 6);
      h = 10;
    }
    if (b1 & 0x80) {
      // A server must not mask. Count it and skip the mask key.
      this.protocolErrors++;
      h += 4;
      if (avail < h) return -1;
    }
    const metaLen = opcode >= 8 ? plen : Math.min(plen, META);
    if (avail < h + metaLen) return -1;
    const p = off + h;
    if (opcode === 1 || opcode === 2) this.message(buf, p, plen, now);
    else if (opcode === 9) this.pong(buf.subarray(p, p + plen));
    else if (opcode === 8) this.closeCode = plen >= 2 ? buf.readUInt16BE(p) : 1005;
    else if (opcode !== 0 && opcode !== 10) this.protocolErrors++;
    this.skip = plen - metaLen;
    return h + metaLen;
  }

  private message(buf: Buffer, p: number, plen: number, now: number): void {
    this.received++;
    this.shared.delivered++;
    if (plen !== this.expectSize) this.badSize++;
    if (plen < META || buf.readUInt32LE(p + 20) !== MAGIC) {
      this.badMeta++;
      return;
    }
    const room = buf.readUInt32LE(p + 8);
    const slot = buf.readUInt32LE(p + 12);
    const seq = buf.readUInt32LE(p + 16);
    if (room !== this.room || slot >= this.next.length) {
      this.misrouted++;
      return;
    }
    if (slot === this.slot) {
      this.selfEcho++;
      return;
    }
    const expected = this.next[slot];
    if (seq === expected) this.next[slot] = expected + 1;
    else if (seq > expected) {
      this.missing += seq - expected;
      this.next[slot] = seq + 1;
    } else this.duplicates++;
    if (this.shared.measuring) this.shared.hist.record((now - buf.readDoubleLE(p)) * 1000);
  }

  private pong(payload: Buffer): void {
    const s = this.socket;
    if (s === null || !this.open) return;
    const out = Buffer.allocUnsafe(6 + payload.length);
    out[0] = 0x8a;
    out[1] = 0x80 | payload.length;
    this.mask.copy(out, 2);
    for (let i = 0; i < payload.length; i++) out[6 + i] = payload[i] ^ this.mask[i & 3];
    s.write(out);
  }
}

/** Open every connection, at most `concurrency` upgrades in flight. */
export async function openAll(
  conns: readonly Conn[],
  host: string,
  port: number,
  path: (c: Conn) => string,
  concurrency: number,
): Promise<void> {
  let next = 0;
  let failure: Error | null = null;
  const worker = async (): Promise<void> => {
    while (failure === null && next < conns.length) {
      const c = conns[next++];
      try {
        await c.connect(host, port, path(c));
      } catch (err) {
        failure ??= new Error(`connection ${next - 1} (room ${c.room}, slot ${c.slot}): ${(err as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, conns.length) }, worker));
  if (failure !== null) throw failure;
}

export interface Verification {
  ok: boolean;
  /** Deliveries owed: for each receiver, the messages its room's other members sent. */
  expected: number;
  /** Deliveries that arrived once, in order, in the right room. */
  delivered: number;
  missing: number;
  duplicates: number;
  misrouted: number;
  selfEcho: number;
  badSize: number;
  badMeta: number;
  protocolErrors: number;
  unexpectedCloses: number;
  problems: string[];
}

/**
 * Check that every message sent reached every other member of its room exactly
 * once. `rooms` lists each room's connections by slot.
 */
export function verify(rooms: readonly (readonly Conn[])[], shared: Shared): Verification {
  const v: Verification = {
    ok: true,
    expected: 0,
    delivered: 0,
    missing: 0,
    duplicates: 0,
    misrouted: 0,
    selfEcho: 0,
    badSize: 0,
    badMeta: 0,
    protocolErrors: 0,
    unexpectedCloses: shared.unexpectedCloses,
    problems: [],
  };
  for (const members of rooms) {
    for (const r of members) {
      for (const s of members) {
        if (s === r) continue;
        const got = r.next[s.slot];
        v.expected += s.sent;
        const unique = Math.min(got, s.sent);
        v.delivered += unique;
        // A gap the receiver already saw is counted in r.missing; a tail never received is s.sent - got.
        if (got < s.sent) v.missing += s.sent - got;
        if (got > s.sent) v.misrouted += got - s.sent;
      }
      v.delivered -= r.missing;
      v.missing += r.missing;
      v.duplicates += r.duplicates;
      v.misrouted += r.misrouted;
      v.selfEcho += r.selfEcho;
      v.badSize += r.badSize;
      v.badMeta += r.badMeta;
      v.protocolErrors += r.protocolErrors;
    }
  }
  const bad: [string, number][] = [
    ['missing deliveries', v.missing],
    ['duplicate deliveries', v.duplicates],
    ['deliveries to the wrong room or from an unknown sender', v.misrouted],
    ['messages echoed to their sender', v.selfEcho],
    ['messages of the wrong size', v.badSize],
    ['messages with a corrupt header', v.badMeta],
    ['protocol errors in server frames', v.protocolErrors],
    ['connections closed by the server', v.unexpectedCloses],
  ];
  for (const [what, n] of bad) if (n > 0) v.problems.push(`${n} ${what}`);
  if (v.delivered !== v.expected) v.problems.push(`delivered ${v.delivered} of ${v.expected} owed`);
  if (shared.lastError) v.problems.push(`last error: ${shared.lastError}`);
  v.ok = v.problems.length === 0;
  return v;
}
