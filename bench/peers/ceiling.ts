// Peer server "ceiling": the least a Node relay of raw-mode rooms can do, as the
// yardstick for the benchmark — not a product. HTTP upgrade with the accept key,
// frame headers parsed, payload unmasked, each message framed once and the same
// bytes queued to every other member of its room, writes batched per event-loop
// turn. No validation, no limits, no UTF-8 checks, no control frames but close.
// The one piece taken from the server is its unmasking (WebAssembly SIMD for long
// runs): the fastest this process can unmask, so the yardstick is not held back
// by a slower loop.
import { createHash } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { applyMask } from '../../src/frames/mask';
import { parseFlags } from './common';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** A batch this large goes out at once: nothing is gained by holding it to the end of the turn. */
const FLUSH_NOW = 64 * 1024;

interface Peer {
  socket: Socket;
  room: Set<Peer>;
  /** Received bytes not yet consumed (header bytes, or a small frame's start). */
  pending: Buffer | null;
  /** The outgoing frame being filled by a payload that spans reads, or null. */
  frame: Buffer | null;
  filled: number;
  mask: Buffer;
  maskPhase: number;
  out: Buffer[];
  outBytes: number;
}

const rooms = new Map<string, Set<Peer>>();
const dirty: Peer[] = [];
let scheduled = false;

function flush(p: Peer): void {
  if (p.out.length === 0) return;
  if (p.out.length === 1) p.socket.write(p.out[0]!);
  else if (p.outBytes < FLUSH_NOW) p.socket.write(Buffer.concat(p.out, p.outBytes)); // many small frames: one copy beats a long writev
  else {
    p.socket.cork();
    for (const b of p.out) p.socket.write(b);
    p.socket.uncork();
  }
  p.out.length = 0; // the same array serves the next turn
  p.outBytes = 0;
}

function flushAll(): void {
  scheduled = false;
  for (const p of dirty.splice(0)) flush(p);
}

function queue(p: Peer, bytes: Buffer): void {
  if (p.out.length === 0) {
    dirty.push(p);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flushAll);
    }
  }
  p.out.push(bytes);
  p.outBytes += bytes.length;
  if (p.outBytes >= FLUSH_NOW) flush(p);
}

function relay(from: Peer, frame: Buffer): void {
  for (const p of from.room) if (p !== from) queue(p, frame);
}

/** An unmasked header for a payload of `n` bytes, at the start of `out`; returns its length. */
function writeHeader(out: Buffer, opcode: number, n: number): number {
  out[0] = 0x80 | opcode;
  if (n < 126) {
    out[1] = n;
    return 2;
  }
  if (n < 65536) {
    out[1] = 126;
    out.writeUInt16BE(n, 2);
    return 4;
  }
  out[1] = 127;
  out.writeUInt32BE(0, 2);
  out.writeUInt32BE(n, 6);
  return 10;
}

function onFrames(p: Peer, data: Buffer): void {
  let buf = data;
  let off = 0;
  // A payload that spans reads is copied straight into its outgoing frame.
  if (p.frame !== null) {
    const take = Math.min(buf.length, p.frame.length - p.filled);
    buf.copy(p.frame, p.filled, 0, take);
    applyMask(p.frame, p.filled, p.filled + take, p.mask, p.maskPhase);
    p.filled += take;
    p.maskPhase += take;
    off = take;
    if (p.filled < p.frame.length) return;
    relay(p, p.frame);
    p.frame = null;
  }
  if (p.pending !== null) {
    buf = Buffer.concat([p.pending, buf.subarray(off)]);
    off = 0;
    p.pending = null;
  }
  while (off < buf.length) {
    const avail = buf.length - off;
    if (avail < 2) break;
    const opcode = buf[off]! & 0x0f;
    let n = buf[off + 1]! & 0x7f;
    let h = 2;
    if (n === 126) h = 4;
    else if (n === 127) h = 10;
    if (avail < h + 4) break;
    if (n === 126) n = buf.readUInt16BE(off + 2);
    else if (n === 127) n = buf.readUInt32BE(off + 6);
    const mask = buf.subarray(off + h, off + h + 4);
    const start = off + h + 4;
    if (opcode === 8) {
      p.socket.end(Buffer.from([0x88, 0]));
      return;
    }
    const out = Buffer.allocUnsafe((n < 126 ? 2 : n < 65536 ? 4 : 10) + n);
    const oh = writeHeader(out, opcode, n);
    const have = Math.min(n, buf.length - start);
    buf.copy(out, oh, start, start + have);
    applyMask(out, oh, oh + have, mask, 0);
    if (have < n) {
      p.frame = out;
      p.filled = oh + have;
      p.mask = Buffer.from(mask);
      p.maskPhase = have;
      return;
    }
    if (opcode === 1 || opcode === 2) relay(p, out);
    off = start + n;
  }
  if (off < buf.length) p.pending = Buffer.from(buf.subarray(off));
}

function upgrade(socket: Socket, head: string, rest: Buffer): void {
  const key = /\r\nsec-websocket-key:\s*(\S+)/i.exec(head)?.[1];
  const roomKey = /^GET \/\?(?:[^ ]*&)?room=([^& ]+)/.exec(head)?.[1];
  if (key === undefined || roomKey === undefined) {
    socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  const accept = createHash('sha1').update(key + GUID).digest('base64');
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
  let room = rooms.get(roomKey);
  if (room === undefined) rooms.set(roomKey, (room = new Set()));
  const p: Peer = { socket, room, pending: null, frame: null, filled: 0, mask: Buffer.alloc(4), maskPhase: 0, out: [], outBytes: 0 };
  room.add(p);
  socket.on('data', (chunk: Buffer) => onFrames(p, chunk));
  socket.on('close', () => {
    p.room.delete(p);
    if (p.room.size === 0) rooms.delete(roomKey);
  });
  if (rest.length > 0) onFrames(p, rest);
}

const server = createServer({ noDelay: true }, (socket) => {
  socket.on('error', () => {});
  let head: Buffer = Buffer.alloc(0);
  const onHead = (chunk: Buffer): void => {
    head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) return;
    socket.off('data', onHead);
    upgrade(socket, head.toString('latin1', 0, end), head.subarray(end + 4));
  };
  socket.on('data', onHead);
});

const opts = parseFlags(process.argv.slice(2));
server.listen({ port: opts.port, host: opts.host, backlog: 4096 }, () => {
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : opts.port;
  process.stdout.write(`ceiling listening on ws://${opts.host}:${port}\n`);
});
const stop = (): void => {
  server.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
