// The embedded store's history: one append-only log, DATA_DIR/history.log
// (its bytes: history-log-records.ts). A write appends what it writes, never a
// rewrite of everything; once the log has grown past what it held at its last
// compaction it is rewritten whole (temp file, fsync, rename). The loader cuts
// the log after its last whole record (a crash mid-append), so nothing is ever
// appended after garbage; a message counts only under its room's current epoch
// and right after the seq before it.

import { mkdir, open, readFile, rename, truncate, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { MAGIC, encodeMark, encodeOps, readLog, type LogRecord } from './history-log-records';
import { runOf, type HistoryOp, type HistoryStore, type StoredHistory, type WriteOp } from './history-store';
import type { HistoryEntry } from './room-log';

const LOG_FILE = 'history.log';
/** Growth that triggers a compaction, at least (and at least GROWTH_FACTOR times what the log held after the last one). */
const COMPACT_AFTER_BYTES = 4 * 1024 * 1024;
/**
 * A compaction rewrites what is kept, so each appended byte costs 1 / GROWTH_FACTOR
 * bytes of rewrite on the relay's thread, and the log may reach GROWTH_FACTOR + 1
 * times what it keeps. At 1 (the Redis AOF default) compaction was a third of
 * history's CPU in the many-rooms benchmark; 2 halves that for a log of at most 3×.
 */
const GROWTH_FACTOR = 2;
/**
 * Roughly how much of the snapshot one compaction write carries. Each batch is
 * encoded on the relay's thread, so it is kept to about a millisecond, and the
 * next one waits until the sockets' pending reads are handled (setImmediate):
 * a compaction is many short slices, never one long stall (the many-rooms
 * profile showed 20 ms stalls with 256 KiB batches, which set the p99).
 */
const COMPACT_BATCH_BYTES = 32 * 1024;
/** What a kept message adds to a compaction batch, for sizing batches: a guess, not counted byte by byte (the many-rooms benchmark's messages are 64 bytes). */
const RECORD_BYTES_GUESS = 128;
/** Buffers per writev call, well under the kernel's IOV_MAX. */
const WRITEV_CHUNK = 512;

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
    const { records, end, legacy } = readLog(bytes);
    const rooms = new Map<string, StoredHistory>();
    let clean = false;
    for (const record of records) {
      clean = record.kind === 'clean';
      applyRecord(rooms, record, this.limits.size);
    }
    const cutoff = now - this.limits.ttlMs;
    const out: StoredHistory[] = [];
    for (const history of rooms.values()) {
      history.entries = history.entries.filter((entry) => entry.ts >= cutoff);
      history.clean = clean;
      out.push(history);
    }
    if (legacy || end === 0) {
      // A new log, or one in the JSON-lines format of earlier versions: written afresh (beginning with the open mark).
      await this.compact(out.map((history) => ({ kind: 'write', room: history.room, epoch: history.epoch, lastSeq: history.lastSeq, replace: true, messages: runOf(history.entries) })));
      return out;
    }
    // Whatever follows the last whole record was torn by a crash: cut it, so appends follow whole records.
    if (end < bytes.length) await truncate(this.path, end);
    // From now on seqs are given out that the log does not hold yet: not clean until close says so.
    this.baseBytes = end;
    await this.append([encodeMark('open')], true);
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
    return this.broken || (this.appendedBytes > this.compactAfterBytes && this.appendedBytes > GROWTH_FACTOR * this.baseBytes);
  }

  async compact(snapshot: Iterable<WriteOp>): Promise<void> {
    await this.closeHandle();
    const temp = join(this.dataDir, `${LOG_FILE}.tmp-${process.pid}`);
    let written = 0;
    try {
      const handle = await open(temp, 'w', 0o644);
      try {
        written += await writeAll(handle, [MAGIC, encodeMark('open')]);
        // A batch of rooms per write: never the whole history encoded at once, nor a write (a thread-pool round trip) per room.
        let batch: HistoryOp[] = [];
        let batchBytes = 0;
        const writeBatch = async (): Promise<void> => {
          written += await writeAll(handle, encodeOps(batch));
          batch = [];
          batchBytes = 0;
          await new Promise((resolve) => setImmediate(resolve));
        };
        // A batch is gathered and encoded without an await between: the runs it holds are read while they hold (MessageRun).
        for (const op of snapshot) {
          batch.push(op);
          batchBytes += op.messages.length * RECORD_BYTES_GUESS;
          if (batchBytes >= COMPACT_BATCH_BYTES) await writeBatch();
        }
        if (batch.length > 0) await writeBatch();
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
    await this.append([encodeMark('clean')], true);
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

function applyRecord(rooms: Map<string, StoredHistory>, record: LogRecord, size: number): void {
  if (record.kind === 'drop') {
    rooms.delete(record.room);
  } else if (record.kind === 'write') {
    let current = rooms.get(record.room);
    if (current === undefined || record.replace || current.epoch !== record.epoch) {
      current = { room: record.room, epoch: record.epoch, lastSeq: record.lastSeq, entries: [], clean: false };
      rooms.set(record.room, current);
    } else {
      current.lastSeq = Math.max(current.lastSeq, record.lastSeq);
    }
    for (const entry of record.entries) keep(current, entry, size);
  } else if (record.kind === 'message') {
    const current = rooms.get(record.room);
    if (current !== undefined && current.epoch === record.epoch) keep(current, record.entry, size);
  }
}

function keep(history: StoredHistory, entry: HistoryEntry, size: number): void {
  const previous = history.entries[history.entries.length - 1];
  // Only a consecutive run counts; anything else starts the run again from this message.
  if (previous !== undefined && entry.seq !== previous.seq + 1) history.entries = [];
  history.entries.push(entry);
  if (size > 0 && history.entries.length > 2 * size) history.entries.splice(0, history.entries.length - size);
}
