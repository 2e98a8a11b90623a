// The embedded default store: the rooms in DATA_DIR/rooms.json (a snapshot,
// written atomically: temp file, fsync, rename, fsync of the folder) plus
// DATA_DIR/rooms.log, where each group of writes is appended and fsynced, so a
// write costs what it writes, not what the store holds. Once the log outgrows
// the snapshot it is folded into a new snapshot. Also the file format, whose
// decoder refuses rather than guesses.

import { mkdir, open, readFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { AtomicFile, errorCode, isObject, isTime } from './atomic-file';
import type { Backend } from './backend';
import { accessOf, applySave, StoreStartError, type PendingOp, type RoomRecord } from './types';

export const FILE_NAME = 'rooms.json';
export const LOG_NAME = 'rooms.log';
/** The log is folded into the snapshot once it is larger than this and than the snapshot. */
const COMPACT_MIN_BYTES = 1024 * 1024;
export const FILE_FORMAT = 'rooms-store';
export const FILE_VERSION = 1;

/**
 * The file: {"format":"rooms-store","version":1,"savedAt":ISO,"rooms":[...]},
 * one room per line so that a person can read or diff it. A later format bumps
 * version; this code refuses versions it does not know rather than drop fields.
 */
export function encodeSnapshot(records: Iterable<RoomRecord>, now: Date = new Date()): string {
  const lines: string[] = [];
  for (const r of records) {
    lines.push(JSON.stringify({ room: r.room, owner: r.owner, createdAt: r.createdAt, status: r.status, lastActivity: r.lastActivity, ...accessOf(r) }));
  }
  const head = `{"format":${JSON.stringify(FILE_FORMAT)},"version":${FILE_VERSION},"savedAt":${JSON.stringify(now.toISOString())},"rooms":[`;
  return lines.length === 0 ? `${head}]}\n` : `${head}\n${lines.join(',\n')}\n]}\n`;
}

/**
 * Returns the rooms, or throws an Error saying what is wrong (never a partial
 * result). The message is one printable line, with any value taken from the
 * file escaped (printable below).
 */
export function decodeSnapshot(input: string | Uint8Array): RoomRecord[] {
  const doc = parseJsonFile(input);
  if (!isObject(doc) || doc.format !== FILE_FORMAT) throw new Error(`it is not a rooms store file (no "format": "${FILE_FORMAT}")`);
  if (doc.version !== FILE_VERSION) throw new Error(`it has format version ${printable(doc.version)}, this server reads version ${FILE_VERSION} (written by a newer server?)`);
  if (!Array.isArray(doc.rooms)) throw new Error('its "rooms" is not a list');
  const seen = new Set<string>();
  return doc.rooms.map((r: unknown, i: number) => {
    const record = decodeRoomRecord(r, `room #${i + 1}`);
    if (seen.has(record.room)) throw new Error(`room ${printable(record.room)} appears twice`);
    seen.add(record.room);
    return record;
  });
}

/**
 * One room record as a store file holds it (the snapshot, a log line's save, a
 * journal's save): every field checked, wrong types refused rather than guessed.
 * `where` names it in the message until its key is known.
 */
export function decodeRoomRecord(r: unknown, where: string): RoomRecord {
  if (!isObject(r)) throw new Error(`${where} is not an object`);
  if (typeof r.room !== 'string' || r.room.length === 0) throw new Error(`${where} has no room key`);
  if (typeof r.owner !== 'string') throw new Error(`room ${printable(r.room)} has no owner`);
  if (!isTime(r.createdAt) || !isTime(r.lastActivity)) throw new Error(`room ${printable(r.room)} has a bad createdAt or lastActivity`);
  if (r.status !== 'live' && r.status !== 'idle') throw new Error(`room ${printable(r.room)} has unknown status ${printable(r.status)}`);
  return { room: r.room, owner: r.owner, createdAt: r.createdAt, status: r.status, lastActivity: r.lastActivity, ...decodeAccess(r, r.room) };
}

/**
 * The log: one group of writes per run of lines, one op per line,
 * {"save":RECORD} / {"save":RECORD,"replaces":true} / {"remove":KEY}.
 * A last line without its newline was torn by a crash and is ignored (its group
 * was never reported durable); any other bad line stops the start.
 */
export function encodeLogOps(ops: readonly PendingOp[]): string {
  let text = '';
  for (const op of ops) text += `${JSON.stringify(op.kind === 'save' ? (op.replaces === true ? { save: op.record, replaces: true } : { save: op.record }) : { remove: op.room })}\n`;
  return text;
}

export function decodeLog(text: string): PendingOp[] {
  const lines = text.split('\n');
  lines.pop(); // '' after the last newline, or a torn last line
  return lines.map((line, i) => {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new Error(`line ${i + 1} of ${LOG_NAME} is not valid JSON`);
    }
    if (isObject(value) && typeof value.remove === 'string') return { kind: 'remove', room: value.remove };
    if (!isObject(value) || !isObject(value.save)) throw new Error(`line ${i + 1} of ${LOG_NAME} is neither a save nor a remove`);
    const record = decodeRoomRecord(value.save, `the save on line ${i + 1} of ${LOG_NAME}`);
    return value.replaces === true ? { kind: 'save', room: record.room, record, replaces: true } : { kind: 'save', room: record.room, record };
  });
}

export interface FileBackendOptions {
  /** generous: a large file on a slow disk may take seconds to fsync */
  writeTimeoutMs: number;
  /** log size that triggers a compaction (default 1 MiB; small in tests) */
  compactMinBytes?: number;
}

export class FileBackend implements Backend {
  readonly kind = 'file' as const;
  readonly description: string;
  /** the pending-writes journal sits in the same DATA_DIR: it can only belong to this file */
  readonly identity = 'file';
  /** group commit: one snapshot holds everything queued meanwhile */
  readonly maxBatch = Number.POSITIVE_INFINITY;
  readonly writeTimeoutMs: number;
  readonly path: string;
  /** groups written (appended or snapshotted); tests use it to see group commit at work */
  writes = 0;
  /** snapshots renamed into place (compactions) */
  snapshots = 0;
  readonly logPath: string;

  private committed = new Map<string, RoomRecord>();
  private logBytes = 0;
  private snapshotBytes = 0;
  /** After a failed append the log may end in a partial line: the next write is a snapshot. */
  private logSuspect = false;
  private readonly compactMinBytes: number;
  private started = false;
  private readonly file: AtomicFile;
  // Writes run one after another even if the store gave up waiting on one (a
  // timeout), so an older snapshot can never be renamed over a newer one.
  private chain: Promise<void> = Promise.resolve();

  constructor(
    readonly dataDir: string,
    options: FileBackendOptions = { writeTimeoutMs: 30_000 },
  ) {
    this.path = join(dataDir, FILE_NAME);
    this.file = new AtomicFile(dataDir, FILE_NAME);
    this.logPath = join(dataDir, LOG_NAME);
    this.description = `file ${this.path}`;
    this.writeTimeoutMs = options.writeTimeoutMs;
    this.compactMinBytes = options.compactMinBytes ?? COMPACT_MIN_BYTES;
  }

  async connect(): Promise<void> {
    if (this.started) {
      // After a failed write: the folder may have been removed meanwhile.
      await mkdir(this.dataDir, { recursive: true });
      return;
    }
    try {
      await mkdir(this.dataDir, { recursive: true });
    } catch (err) {
      throw new StoreStartError(`cannot create DATA_DIR ${this.dataDir} for the room store (${errorCode(err)}). Fix DATA_DIR or its permissions.`);
    }
    let text: Buffer | null = null;
    try {
      text = await readFile(this.path);
    } catch (err) {
      if (errorCode(err) !== 'ENOENT') {
        throw new StoreStartError(`cannot read the room store ${this.path} (${errorCode(err)}). It was left untouched. Fix its permissions, or move it away to start with no rooms.`);
      }
    }
    if (text !== null) {
      let records: RoomRecord[];
      try {
        records = decodeSnapshot(text);
      } catch (err) {
        throw new StoreStartError(
          `the room store ${this.path} is unreadable: ${(err as Error).message}. It was left untouched. ` +
            `Restore it from a backup, repair it, or move it away to start with no rooms.`,
        );
      }
      this.committed = new Map(records.map((r) => [r.room, r]));
      this.snapshotBytes = text.length;
    }
    let logText: string | null = null;
    try {
      logText = await readFile(this.logPath, 'utf8');
    } catch (err) {
      if (errorCode(err) !== 'ENOENT') throw new StoreStartError(`cannot read the room store log ${this.logPath} (${errorCode(err)}). It was left untouched. Fix its permissions.`);
    }
    if (logText !== null) {
      let ops: PendingOp[];
      try {
        ops = decodeLog(logText);
      } catch (err) {
        throw new StoreStartError(`the room store log ${this.logPath} is unreadable: ${(err as Error).message}. It was left untouched. Restore it from a backup, repair it, or move it away (losing the rooms written since ${FILE_NAME}).`);
      }
      this.apply(ops);
      this.logBytes = Buffer.byteLength(logText);
      // A torn last line: fold everything into a snapshot before appending after it.
      if (!logText.endsWith('\n') && logText.length > 0) this.logSuspect = true;
    }
    await this.file.removeStaleTemps();
    // Each start folds the log into the snapshot: rooms.json alone is the store at rest after a restart.
    if (this.logBytes > 0) await this.compact([]);
    this.started = true;
  }

  async load(): Promise<RoomRecord[]> {
    return [...this.committed.values()];
  }

  write(ops: readonly PendingOp[]): Promise<void> {
    const run = this.chain.then(() => this.writeSnapshot(ops));
    this.chain = run.catch(() => undefined);
    return run;
  }

  classify(): 'transient' | 'data' {
    // Disk full, I/O error, folder gone: all may heal, none is the data's fault.
    return 'transient';
  }

  abort(): void {
    // A file write cannot be cancelled; the chain keeps later writes behind it.
  }

  async close(): Promise<void> {
    await this.chain;
  }

  private async writeSnapshot(ops: readonly PendingOp[]): Promise<void> {
    if (this.logSuspect || (this.logBytes > this.compactMinBytes && this.logBytes > this.snapshotBytes)) return this.compact(ops);
    const text = encodeLogOps(ops);
    // Opened per group (a few syscalls, whatever the store holds): a folder removed or
    // replaced under us fails here instead of appending to a file nobody will read.
    let log: FileHandle | null = null;
    try {
      log = await open(this.logPath, 'a', 0o644);
      await log.appendFile(text, 'utf8');
      await log.sync();
    } catch (err) {
      this.logSuspect = true;
      throw err;
    } finally {
      await log?.close().catch(() => undefined);
    }
    this.logBytes += Buffer.byteLength(text);
    this.apply(ops);
    this.writes++;
  }

  /** Everything, ops included, into a new snapshot; then the log starts empty. */
  private async compact(ops: readonly PendingOp[]): Promise<void> {
    const next = new Map(this.committed);
    for (const op of ops) {
      if (op.kind === 'save') next.set(op.room, applySave(next.get(op.room), op));
      else next.delete(op.room);
    }
    const text = encodeSnapshot(next.values());
    await this.file.write(text);
    this.committed = next;
    this.snapshotBytes = text.length;
    this.writes++;
    this.snapshots++;
    // A crash before the log is emptied replays it over the new snapshot: the same rooms (ops are idempotent in order).
    const handle = await open(this.logPath, 'w', 0o644);
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    this.logBytes = 0;
    this.logSuspect = false;
  }

  private apply(ops: readonly PendingOp[]): void {
    for (const op of ops) {
      if (op.kind === 'save') this.committed.set(op.room, applySave(this.committed.get(op.room), op));
      else this.committed.delete(op.room);
    }
  }
}

/** The optional access fields of a stored room (file store and journal); wrong types are refused, not guessed. */
function decodeAccess(r: Record<string, unknown>, room: string): Pick<RoomRecord, 'secretHash' | 'ownerTokenHash' | 'locked'> {
  if (r.secretHash !== undefined && typeof r.secretHash !== 'string') throw new Error(`room ${printable(room)} has a bad secretHash`);
  if (r.ownerTokenHash !== undefined && typeof r.ownerTokenHash !== 'string') throw new Error(`room ${printable(room)} has a bad ownerTokenHash`);
  if (r.locked !== undefined && typeof r.locked !== 'boolean') throw new Error(`room ${printable(room)} has a bad locked`);
  return accessOf(r as unknown as RoomRecord);
}

// Strict: a byte that is not UTF-8 refuses the file instead of becoming U+FFFD;
// a byte order mark is kept, so JSON.parse refuses it as it always did.
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The JSON in a store file (rooms.json, pending-writes.json). V8's own message quotes the text around the error, control characters included, so it is never passed on. */
export function parseJsonFile(input: string | Uint8Array): unknown {
  let text: string;
  try {
    text = typeof input === 'string' ? input : UTF8.decode(input);
  } catch {
    throw new Error('it is not valid JSON (it is not UTF-8 text)');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new Error('it is not valid JSON');
  }
}

/** A value taken from a file, for a message: as JSON, cut to max characters, everything outside printable ASCII escaped. */
export function printable(value: unknown, max = 64): string {
  const json = JSON.stringify(value) ?? String(value);
  const cut = json.length > max ? `${json.slice(0, max)}...` : json;
  return cut.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
