// The embedded store's history: one append-only log, DATA_DIR/history.log. A
// write appends what it writes (never a rewrite of everything), handing the
// kept payload buffers to the kernel as they are (no copy, no base64); once the
// log has grown past what it held at its last compaction it is rewritten whole
// (temp file, fsync, rename). The loader reads records until the first one that
// is incomplete or malformed (a crash mid-append) and cuts the log there, so
// nothing is ever appended after garbage; a message counts only under its
// room's current epoch and right after the seq before it.
//
// A record is one JSON line; a message's line is followed by its payload bytes and "\n":
//   {"w":room,"e":epoch,"l":lastSeq,"r":1?}            room header (r: replace what is kept)
//   {"m":room,"e":epoch,"s":seq,"o":opcode,"f":from,"t":ts,"n":bytes}\n PAYLOAD \n
//   {"d":room}   room dropped        {"open":1} / {"clean":1}   process started / stopped cleanly

import { mkdir, open, readFile, rename, truncate, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Opcode, type DataOpcode } from '../frames/opcodes';
import type { HistoryOp, HistoryStore, StoredHistory } from './history-store';
import type { HistoryEntry } from './room-log';

const LOG_FILE = 'history.log';
/** Growth that triggers a compaction, at least (and at least as much as the log held after the last one). */
const COMPACT_AFTER_BYTES = 4 * 1024 * 1024;
/** Buffers per writev call, well under the kernel's IOV_MAX. */
const WRITEV_CHUNK = 512;
const NL = Buffer.from('\n');

export class FileHistoryStore implements HistoryStore {
  readonly kind = 'file';
  private handle: FileHandle | null = null;
  /** Bytes of the log at its last compaction (or load), and appended since. */
  private baseBytes = 0;
  private appendedBytes = 0;
  /** A failed append may have left a partial record: the next write rewrites the log instead. */
  private broken = false;

  constructor(
    private readonly dataDir: string,
    private readonly limits: { size: number; ttlMs: number },
    /** growth that triggers a compaction; small only in tests */
    private readonly compactAfterBytes = COMPACT_AFTER_BYTES,
  ) {}

  private get path(): string {
    return join(this.dataDir, LOG_FILE);
  }

  async load(now: number): Promise<StoredHistory[]> {
    await mkdir(this.dataDir, { recursive: true });
    let bytes = Buffer.alloc(0);
    try {
      bytes = await readFile(this.path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    const rooms = new Map<string, StoredHistory>();
    let clean = false;
    let at = 0;
    for (;;) {
      const next = readRecord(bytes, at);
      if (next === null) break;
      at = next.end;
      clean = 'clean' in next.record;
      applyRecord(rooms, next.record, next.payload, this.limits.size);
    }
    // Whatever follows the last whole record was torn by a crash: cut it, so appends follow whole records.
    if (at < bytes.length) await truncate(this.path, at);
    const cutoff = now - this.limits.ttlMs;
    const out: StoredHistory[] = [];
    for (const history of rooms.values()) {
      history.entries = history.entries.filter((entry) => entry.ts >= cutoff);
      history.clean = clean;
      out.push(history);
    }
    // From now on seqs are given out that the log does not hold yet: not clean until close says so.
    this.baseBytes = at;
    await this.append([Buffer.from('{"open":1}\n')], true);
    return out;
  }

  async write(ops: readonly HistoryOp[]): Promise<void> {
    if (this.broken) throw new Error('history log needs a rewrite after a failed append');
    await this.append(encodeOps(ops), false);
  }

  async prune(): Promise<boolean> {
    // Expired messages are left out at load and at compaction; the log needs no deletes.
    return false;
  }

  needsCompaction(): boolean {
    return this.broken || (this.appendedBytes > this.compactAfterBytes && this.appendedBytes > this.baseBytes);
  }

  async compact(snapshot: readonly StoredHistory[]): Promise<void> {
    await this.closeHandle();
    const temp = join(this.dataDir, `${LOG_FILE}.tmp-${process.pid}`);
    let written = 0;
    try {
      const handle = await open(temp, 'w', 0o644);
      try {
        written += await writeAll(handle, [Buffer.from('{"open":1}\n')]);
        // Room by room: never the whole history in one buffer.
        for (const history of snapshot) written += await writeAll(handle, encodeOps([{ kind: 'write', room: history.room, epoch: history.epoch, lastSeq: history.lastSeq, replace: true, entries: history.entries }]));
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, this.path);
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      throw error;
    }
    const dir = await open(this.dataDir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
    this.baseBytes = written;
    this.appendedBytes = 0;
    this.broken = false;
  }

  async markClean(): Promise<void> {
    await this.append([Buffer.from('{"clean":1}\n')], true);
  }

  async close(): Promise<void> {
    await this.closeHandle();
  }

  private async append(buffers: Buffer[], sync: boolean): Promise<void> {
    try {
      this.handle ??= await open(this.path, 'a', 0o644);
      this.appendedBytes += await writeAll(this.handle, buffers);
      if (sync) await this.handle.sync();
    } catch (error) {
      this.broken = true;
      await this.closeHandle();
      throw error;
    }
  }

  private async closeHandle(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    await handle?.close().catch(() => undefined);
  }
}

async function writeAll(handle: FileHandle, buffers: Buffer[]): Promise<number> {
  let total = 0;
  for (let i = 0; i < buffers.length; i += WRITEV_CHUNK) {
    const chunk = buffers.slice(i, i + WRITEV_CHUNK);
    const want = chunk.reduce((sum, b) => sum + b.length, 0);
    const { bytesWritten } = await handle.writev(chunk);
    if (bytesWritten !== want) throw new Error(`short write to the history log (${bytesWritten} of ${want} bytes)`);
    total += want;
  }
  return total;
}

/** The records of `ops`, payloads passed by reference. */
function encodeOps(ops: readonly HistoryOp[]): Buffer[] {
  const out: Buffer[] = [];
  for (const op of ops) {
    if (op.kind === 'drop') {
      out.push(Buffer.from(`${JSON.stringify({ d: op.room })}\n`));
      continue;
    }
    out.push(Buffer.from(`${JSON.stringify(op.replace ? { w: op.room, e: op.epoch, l: op.lastSeq, r: 1 } : { w: op.room, e: op.epoch, l: op.lastSeq })}\n`));
    for (const entry of op.entries) {
      out.push(Buffer.from(`${JSON.stringify({ m: op.room, e: op.epoch, s: entry.seq, o: entry.opcode, f: entry.from, t: entry.ts, n: entry.payload.length })}\n`), entry.payload, NL);
    }
  }
  return out;
}

type LogRecord =
  | { w: string; e: string; l: number; r?: 1 }
  | { m: string; e: string; s: number; o: number; f: string; t: number; n: number }
  | { d: string }
  | { open: 1 }
  | { clean: 1 };

/** The record at `at`, or null at the end or at the first incomplete or malformed one. */
function readRecord(bytes: Buffer, at: number): { record: LogRecord; payload: Buffer | null; end: number } | null {
  const nl = bytes.indexOf(0x0a, at);
  if (nl === -1) return null;
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8', at, nl));
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const r = value as Record<string, unknown>;
  if (typeof r.m === 'string') {
    const ok = typeof r.e === 'string' && Number.isSafeInteger(r.s) && (r.o === Opcode.Text || r.o === Opcode.Binary) && typeof r.f === 'string' && typeof r.t === 'number' && Number.isSafeInteger(r.n) && (r.n as number) >= 0;
    if (!ok) return null;
    const start = nl + 1;
    const stop = start + (r.n as number);
    if (stop >= bytes.length || bytes[stop] !== 0x0a) return null;
    return { record: value as LogRecord, payload: bytes.subarray(start, stop), end: stop + 1 };
  }
  const known = (typeof r.w === 'string' && typeof r.e === 'string' && Number.isSafeInteger(r.l)) || typeof r.d === 'string' || r.open === 1 || r.clean === 1;
  return known ? { record: value as LogRecord, payload: null, end: nl + 1 } : null;
}

function applyRecord(rooms: Map<string, StoredHistory>, record: LogRecord, payload: Buffer | null, size: number): void {
  if ('d' in record) {
    rooms.delete(record.d);
  } else if ('w' in record) {
    const current = rooms.get(record.w);
    if (current === undefined || record.r === 1 || current.epoch !== record.e) {
      rooms.set(record.w, { room: record.w, epoch: record.e, lastSeq: record.l, entries: [], clean: false });
    } else {
      current.lastSeq = Math.max(current.lastSeq, record.l);
    }
  } else if ('m' in record && payload !== null) {
    const current = rooms.get(record.m);
    if (current === undefined || current.epoch !== record.e) return;
    const previous = current.entries[current.entries.length - 1];
    // Only a consecutive run counts; anything else starts the run again from this message.
    if (previous !== undefined && record.s !== previous.seq + 1) current.entries = [];
    // A copy: the file's buffer is dropped once loaded.
    current.entries.push({ seq: record.s, opcode: record.o as DataOpcode, from: record.f, ts: record.t, payload: Buffer.from(payload) });
    if (size > 0 && current.entries.length > 2 * size) current.entries.splice(0, current.entries.length - size);
  }
}
