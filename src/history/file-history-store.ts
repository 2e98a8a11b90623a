// The embedded store's history: one append-only log, DATA_DIR/history.log, one
// JSON record per line. A write appends what it writes (never a rewrite of
// everything); once the log has grown to several times what it holds it is
// compacted (rewritten whole, atomically). A torn last line after a crash is
// ignored, and a message line counts only under its room's current epoch and
// right after the seq before it, so a half-written group is never misread.
//
// Records: {"w":room,"e":epoch,"l":lastSeq,"r":1?}  room header (r: replace what is kept)
//          {"m":room,"e":epoch,"s":seq,"o":opcode,"f":from,"t":ts,"p":base64}
//          {"d":room}  room dropped      {"open":1} / {"clean":1}  process started / stopped cleanly

import { mkdir, open, readFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Opcode, type DataOpcode } from '../frames/opcodes';
import { AtomicFile } from '../persistence/atomic-file';
import type { HistoryOp, HistoryStore, StoredHistory } from './history-store';
import type { HistoryEntry } from './room-log';

const LOG_FILE = 'history.log';
/** The log is compacted once it holds this much more than at its last compaction, and at least as much again. */
const COMPACT_AFTER_BYTES = 4 * 1024 * 1024;

export class FileHistoryStore implements HistoryStore {
  readonly kind = 'file';
  private handle: FileHandle | null = null;
  private readonly atomic: AtomicFile;
  /** Bytes of the log at its last compaction (or load), and appended since. */
  private baseBytes = 0;
  private appendedBytes = 0;
  /** A failed append may have left a partial line: the next one starts on a fresh line. */
  private torn = false;

  constructor(
    private readonly dataDir: string,
    private readonly limits: { size: number; ttlMs: number },
    /** growth that triggers a compaction; small only in tests */
    private readonly compactAfterBytes = COMPACT_AFTER_BYTES,
  ) {
    this.atomic = new AtomicFile(dataDir, LOG_FILE);
  }

  private get path(): string {
    return join(this.dataDir, LOG_FILE);
  }

  async load(now: number): Promise<StoredHistory[]> {
    await mkdir(this.dataDir, { recursive: true });
    let text = '';
    try {
      text = await readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    const rooms = new Map<string, StoredHistory>();
    let clean = false;
    for (const line of text.split('\n')) {
      const record = parseLine(line);
      if (record === null) continue;
      clean = 'clean' in record;
      applyRecord(rooms, record, this.limits.size);
    }
    const cutoff = now - this.limits.ttlMs;
    const out: StoredHistory[] = [];
    for (const history of rooms.values()) {
      history.entries = history.entries.filter((entry) => entry.ts >= cutoff);
      history.clean = clean;
      out.push(history);
    }
    // From now on seqs are given out that the log does not hold yet: not clean until close says so.
    this.baseBytes = Buffer.byteLength(text);
    await this.append('{"open":1}\n', true);
    return out;
  }

  async write(ops: readonly HistoryOp[]): Promise<void> {
    const lines: string[] = [];
    for (const op of ops) {
      if (op.kind === 'drop') {
        lines.push(JSON.stringify({ d: op.room }));
        continue;
      }
      lines.push(JSON.stringify(op.replace ? { w: op.room, e: op.epoch, l: op.lastSeq, r: 1 } : { w: op.room, e: op.epoch, l: op.lastSeq }));
      for (const entry of op.entries) lines.push(messageLine(op.room, op.epoch, entry));
    }
    await this.append(`${lines.join('\n')}\n`, false);
  }

  async prune(): Promise<boolean> {
    // Expired messages are left out at load and at compaction; the log needs no deletes.
    return false;
  }

  needsCompaction(): boolean {
    return this.appendedBytes > this.compactAfterBytes && this.appendedBytes > this.baseBytes;
  }

  async compact(snapshot: readonly StoredHistory[]): Promise<void> {
    const lines = ['{"open":1}'];
    for (const history of snapshot) {
      lines.push(JSON.stringify({ w: history.room, e: history.epoch, l: history.lastSeq, r: 1 }));
      for (const entry of history.entries) lines.push(messageLine(history.room, history.epoch, entry));
    }
    const text = `${lines.join('\n')}\n`;
    await this.closeHandle();
    await this.atomic.write(text);
    this.baseBytes = Buffer.byteLength(text);
    this.appendedBytes = 0;
    this.torn = false;
  }

  async markClean(): Promise<void> {
    await this.append('{"clean":1}\n', true);
  }

  async close(): Promise<void> {
    await this.closeHandle();
  }

  private async append(text: string, sync: boolean): Promise<void> {
    const body = this.torn ? `\n${text}` : text;
    try {
      this.handle ??= await open(this.path, 'a', 0o644);
      await this.handle.appendFile(body, 'utf8');
      if (sync) await this.handle.sync();
    } catch (error) {
      this.torn = true;
      await this.closeHandle();
      throw error;
    }
    this.torn = false;
    this.appendedBytes += Buffer.byteLength(body);
  }

  private async closeHandle(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    await handle?.close().catch(() => undefined);
  }
}

type LogRecord =
  | { w: string; e: string; l: number; r?: 1 }
  | { m: string; e: string; s: number; o: number; f: string; t: number; p: string }
  | { d: string }
  | { open: 1 }
  | { clean: 1 };

function messageLine(room: string, epoch: string, entry: HistoryEntry): string {
  return JSON.stringify({ m: room, e: epoch, s: entry.seq, o: entry.opcode, f: entry.from, t: entry.ts, p: entry.payload.toString('base64') });
}

/** A line, or null for one that is torn or not ours (skipped, never guessed at). */
function parseLine(line: string): LogRecord | null {
  if (line === '') return null;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const r = value as Record<string, unknown>;
  if (typeof r.w === 'string' && typeof r.e === 'string' && Number.isSafeInteger(r.l)) return value as LogRecord;
  if (typeof r.m === 'string' && typeof r.e === 'string' && Number.isSafeInteger(r.s) && (r.o === Opcode.Text || r.o === Opcode.Binary) && typeof r.f === 'string' && typeof r.t === 'number' && typeof r.p === 'string') return value as LogRecord;
  if (typeof r.d === 'string') return value as LogRecord;
  if (r.open === 1 || r.clean === 1) return value as LogRecord;
  return null;
}

function applyRecord(rooms: Map<string, StoredHistory>, record: LogRecord, size: number): void {
  if ('d' in record) {
    rooms.delete(record.d);
  } else if ('w' in record) {
    const current = rooms.get(record.w);
    if (current === undefined || record.r === 1 || current.epoch !== record.e) {
      rooms.set(record.w, { room: record.w, epoch: record.e, lastSeq: record.l, entries: [], clean: false });
    } else {
      current.lastSeq = Math.max(current.lastSeq, record.l);
    }
  } else if ('m' in record) {
    const current = rooms.get(record.m);
    if (current === undefined || current.epoch !== record.e) return;
    const previous = current.entries[current.entries.length - 1];
    // Only a consecutive run counts; anything else starts the run again from this message.
    if (previous !== undefined && record.s !== previous.seq + 1) current.entries = [];
    current.entries.push({ seq: record.s, opcode: record.o as DataOpcode, from: record.f, ts: record.t, payload: Buffer.from(record.p, 'base64') });
    if (size > 0 && current.entries.length > 2 * size) current.entries.splice(0, current.entries.length - size);
  }
}
