// The bytes of the embedded history log (DATA_DIR/history.log), sans-I/O: the
// records a grouped write appends, and the reader that turns a log back into
// records, stopping at the first torn or malformed one. Also reads the JSON-lines
// log of earlier versions, so an upgrade keeps every room's history.
//
// A log is MAGIC, then records. A record is
//   kind (u8) · body length (u32 LE) · body · END (0x0a)
// and the bodies are (numbers little-endian, strings u32 byte length + UTF-8):
//   WRITE  room · epoch · lastSeq (f64) · replace (u8) · count (u32) · count × entry
//          entry = seq (f64) · opcode (u8) · ts (f64) · from · payload length (u32) · payload
//   DROP   room            OPEN, CLEAN   (empty: process started / stopped cleanly)
// Binary and length-prefixed, so a payload of any bytes is only a payload, and a
// grouped write is a few buffers: headers share one allocation, large payloads
// go to the kernel by reference.

import { Opcode, type DataOpcode } from '../frames/opcodes';
import type { HistoryOp, MessageVisitor } from './history-store';
import type { HistoryEntry } from './room-log';

export const MAGIC = Buffer.from('rooms history log 2\n');
const END = 0x0a;
const enum Kind {
  Write = 1,
  Drop = 2,
  Open = 3,
  Clean = 4,
}
/** Payloads up to this size are copied next to their headers; larger ones are passed by reference. */
const INLINE_PAYLOAD_BYTES = 2048;
/** The first slab is small (Node's pool serves it), later ones this size: a write of a few records allocates almost nothing. */
const FIRST_SLAB_BYTES = 2048;
const SLAB_BYTES = 64 * 1024;
/** Payloads up to this size are copied four bytes at a time from their slab's DataView. */
const SMALL_COPY_BYTES = 128;

export type LogRecord =
  | { kind: 'write'; room: string; epoch: string; lastSeq: number; replace: boolean; entries: HistoryEntry[] }
  /** A single message of the JSON-lines format, which counted only under its room's current epoch. */
  | { kind: 'message'; room: string; epoch: string; entry: HistoryEntry }
  | { kind: 'drop'; room: string }
  | { kind: 'open' }
  | { kind: 'clean' };

/**
 * Strings up to this length are tried as ASCII first. Every record carries a room
 * key, an epoch and a sender's name, and Buffer#write's call into C++ cost more than
 * copying such a string (encoding was about 1 µs of history's cost per message in
 * the many-rooms benchmark, most of it in these calls).
 */
const ASCII_COPY_MAX = 64;

/** Writes `s` at `at` when it is all ASCII (its UTF-8 is then its char codes); false, having written a prefix, when it is not. */
function copyAscii(s: string, into: Buffer, at: number): boolean {
  for (let i = 0; i < s.length; i++) {
    const code = s.charCodeAt(i);
    if (code >= 0x80) return false;
    into[at + i] = code;
  }
  return true;
}

/** A DataView over all of `bytes`. */
function viewOf(bytes: Buffer): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
}

/**
 * Appends numbers, strings and buffers into as few buffers as it can. Numbers go
 * through a DataView of the slab being filled (little-endian whatever the
 * machine): V8 compiles its setters to plain stores, where Buffer#writeDoubleLE
 * and friends check their arguments first.
 */
class BufferList {
  readonly out: Buffer[] = [];
  private slab = Buffer.allocUnsafe(FIRST_SLAB_BYTES);
  private view = viewOf(this.slab);
  private start = 0;
  private at = 0;
  bytes = 0;

  private room(n: number): void {
    if (this.at + n <= this.slab.length) return;
    this.cut();
    this.slab = Buffer.allocUnsafe(Math.max(SLAB_BYTES, n));
    this.view = viewOf(this.slab);
    this.start = this.at = 0;
  }

  private cut(): void {
    if (this.at > this.start) this.out.push(this.slab.subarray(this.start, this.at));
    this.start = this.at;
  }

  u8(v: number): void {
    this.room(1);
    this.slab[this.at++] = v;
    this.bytes += 1;
  }

  u32(v: number): void {
    this.room(4);
    this.view.setUint32(this.at, v, true);
    this.at += 4;
    this.bytes += 4;
  }

  f64(v: number): void {
    this.room(8);
    this.view.setFloat64(this.at, v, true);
    this.at += 8;
    this.bytes += 8;
  }

  text(s: string): void {
    this.room(4 + 3 * s.length);
    const n = s.length <= ASCII_COPY_MAX && copyAscii(s, this.slab, this.at + 4) ? s.length : this.slab.write(s, this.at + 4, 'utf8');
    this.view.setUint32(this.at, n, true);
    this.at += 4 + n;
    this.bytes += 4 + n;
  }

  /**
   * `bytes[start, start + length)`: copied when small, else passed by reference (a
   * view, or `bytes` itself when it is all of it). `from`, a DataView over `bytes`
   * when the caller has one (a ring's slab), copies four bytes at a time.
   */
  raw(bytes: Buffer, from: DataView | null, start: number, length: number): void {
    if (length > INLINE_PAYLOAD_BYTES) {
      this.cut();
      this.out.push(start === 0 && length === bytes.length ? bytes : bytes.subarray(start, start + length));
    } else {
      this.room(length);
      const at = this.at;
      if (from !== null && length <= SMALL_COPY_BYTES) {
        // No view to make (subarray, or Buffer#copy's own): for a small payload that costs more than the copy.
        const to = this.view;
        let i = 0;
        for (; i + 4 <= length; i += 4) to.setUint32(at + i, from.getUint32(start + i));
        for (; i < length; i++) to.setUint8(at + i, from.getUint8(start + i));
      } else {
        this.slab.set(bytes.subarray(start, start + length), at);
      }
      this.at += length;
    }
    this.bytes += length;
  }

  /** Where the open record's body length goes once its body is in (records do not nest). */
  private lengthView: DataView | null = null;
  private lengthAt = 0;
  private bodyStart = 0;

  /** A record's kind and the room for its length; its body follows, then endRecord(). */
  beginRecord(kind: Kind): void {
    this.u8(kind);
    this.room(4);
    this.lengthView = this.view;
    this.lengthAt = this.at;
    this.at += 4;
    this.bytes += 4;
    this.bodyStart = this.bytes;
  }

  endRecord(): void {
    this.lengthView!.setUint32(this.lengthAt, this.bytes - this.bodyStart, true);
    this.lengthView = null;
    this.u8(END);
  }

  done(): Buffer[] {
    this.cut();
    return this.out;
  }
}

/** The records of `ops`, ready for one writev. */
export function encodeOps(ops: readonly HistoryOp[]): Buffer[] {
  const list = new BufferList();
  // Straight from where each message is kept (a ring's slab): no entry, no view per message.
  const encodeMessage: MessageVisitor = (seq, opcode, ts, from, bytes, start, length, view) => {
    list.f64(seq);
    list.u8(opcode);
    list.f64(ts);
    list.text(from);
    list.u32(length);
    list.raw(bytes, view, start, length);
  };
  for (const op of ops) {
    if (op.kind === 'drop') {
      list.beginRecord(Kind.Drop);
      list.text(op.room);
      list.endRecord();
      continue;
    }
    list.beginRecord(Kind.Write);
    list.text(op.room);
    list.text(op.epoch);
    list.f64(op.lastSeq);
    list.u8(op.replace ? 1 : 0);
    list.u32(op.messages.length);
    op.messages.forEach(encodeMessage);
    list.endRecord();
  }
  return list.done();
}

export function encodeMark(mark: 'open' | 'clean'): Buffer {
  const list = new BufferList();
  list.beginRecord(mark === 'open' ? Kind.Open : Kind.Clean);
  list.endRecord();
  return Buffer.concat(list.done());
}

/** Reads a body; every read checks its bounds and throws Malformed past them. */
class BodyReader {
  constructor(
    private readonly bytes: Buffer,
    private at: number,
    private readonly end: number,
  ) {}

  private need(n: number): number {
    if (this.at + n > this.end) throw new Malformed();
    const at = this.at;
    this.at += n;
    return at;
  }

  u8(): number {
    return this.bytes[this.need(1)]!;
  }
  u32(): number {
    return this.bytes.readUInt32LE(this.need(4));
  }
  f64(): number {
    return this.bytes.readDoubleLE(this.need(8));
  }
  text(): string {
    const n = this.u32();
    const at = this.need(n);
    return this.bytes.toString('utf8', at, at + n);
  }
  /** A copy: the log's buffer is dropped once loaded. */
  payload(): Buffer {
    const n = this.u32();
    const at = this.need(n);
    return Buffer.from(this.bytes.subarray(at, at + n));
  }
  finished(): boolean {
    return this.at === this.end;
  }
}

class Malformed extends Error {}

function readBody(kind: number, body: BodyReader): LogRecord {
  switch (kind) {
    case Kind.Write: {
      const room = body.text();
      const epoch = body.text();
      const lastSeq = body.f64();
      const replace = body.u8() === 1;
      const count = body.u32();
      const entries: HistoryEntry[] = [];
      for (let i = 0; i < count; i++) {
        const seq = body.f64();
        const opcode = body.u8();
        const ts = body.f64();
        const from = body.text();
        const payload = body.payload();
        if (!Number.isSafeInteger(seq) || (opcode !== Opcode.Text && opcode !== Opcode.Binary)) throw new Malformed();
        entries.push({ seq, opcode: opcode as DataOpcode, ts, from, payload });
      }
      if (!Number.isSafeInteger(lastSeq)) throw new Malformed();
      return { kind: 'write', room, epoch, lastSeq, replace, entries };
    }
    case Kind.Drop:
      return { kind: 'drop', room: body.text() };
    case Kind.Open:
      return { kind: 'open' };
    case Kind.Clean:
      return { kind: 'clean' };
    default:
      throw new Malformed();
  }
}

/**
 * The whole records of a log, and where the last one ends: whatever follows
 * was torn by a crash (or is garbage) and is to be cut. `legacy`: the log is in
 * the JSON-lines format of earlier versions (to be rewritten before appending).
 */
export function readLog(bytes: Buffer): { records: LogRecord[]; end: number; legacy: boolean } {
  if (bytes.length > 0 && bytes[0] === 0x7b) return readLegacyLog(bytes);
  const records: LogRecord[] = [];
  if (bytes.length < MAGIC.length || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) return { records, end: 0, legacy: false };
  let at = MAGIC.length;
  while (at + 5 <= bytes.length) {
    const kind = bytes[at]!;
    const length = bytes.readUInt32LE(at + 1);
    const start = at + 5;
    const stop = start + length;
    if (stop >= bytes.length || bytes[stop] !== END) break;
    const body = new BodyReader(bytes, start, stop);
    try {
      const next = readBody(kind, body);
      if (!body.finished()) break;
      records.push(next);
    } catch (error) {
      if (error instanceof Malformed) break;
      throw error;
    }
    at = stop + 1;
  }
  return { records, end: at, legacy: false };
}

/** The JSON-lines format: a JSON line per record, a message's line followed by its payload and "\n". */
function readLegacyLog(bytes: Buffer): { records: LogRecord[]; end: number; legacy: boolean } {
  const records: LogRecord[] = [];
  let at = 0;
  for (;;) {
    const nl = bytes.indexOf(0x0a, at);
    if (nl === -1) break;
    let r: Record<string, unknown>;
    try {
      const value: unknown = JSON.parse(bytes.toString('utf8', at, nl));
      if (typeof value !== 'object' || value === null) break;
      r = value as Record<string, unknown>;
    } catch {
      break;
    }
    if (typeof r.m === 'string') {
      const ok = typeof r.e === 'string' && Number.isSafeInteger(r.s) && (r.o === Opcode.Text || r.o === Opcode.Binary) && typeof r.f === 'string' && typeof r.t === 'number' && Number.isSafeInteger(r.n) && (r.n as number) >= 0;
      const stop = nl + 1 + (ok ? (r.n as number) : 0);
      if (!ok || stop >= bytes.length || bytes[stop] !== 0x0a) break;
      const entry = { seq: r.s as number, opcode: r.o as DataOpcode, from: r.f as string, ts: r.t as number, payload: Buffer.from(bytes.subarray(nl + 1, stop)) };
      records.push({ kind: 'message', room: r.m, epoch: r.e as string, entry });
      at = stop + 1;
      continue;
    }
    if (typeof r.w === 'string' && typeof r.e === 'string' && Number.isSafeInteger(r.l)) records.push({ kind: 'write', room: r.w, epoch: r.e, lastSeq: r.l as number, replace: r.r === 1, entries: [] });
    else if (typeof r.d === 'string') records.push({ kind: 'drop', room: r.d });
    else if (r.open === 1) records.push({ kind: 'open' });
    else if (r.clean === 1) records.push({ kind: 'clean' });
    else break;
    at = nl + 1;
  }
  return { records, end: at, legacy: true };
}
