// The embedded default store: every room in DATA_DIR/rooms.json, rewritten whole
// and atomically (temp file, fsync, rename, fsync of the folder) for each group
// of writes. Also the file format, whose decoder refuses rather than guesses.

import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AtomicFile, errorCode, isObject, isTime } from './atomic-file';
import { parseJsonText, printable } from './json-text';
import type { Backend } from './queued-store';
import { accessOf, applySave, StoreStartError, type PendingOp, type RoomRecord } from './types';

export const FILE_NAME = 'rooms.json';
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
 * result). The message is one printable line: where the file is broken and how,
 * with any value taken from the file escaped (see json-text.ts).
 */
export function decodeSnapshot(input: string | Uint8Array): RoomRecord[] {
  const doc = parseJsonText(input);
  if (!isObject(doc) || doc.format !== FILE_FORMAT) throw new Error(`it is not a rooms store file (no "format": "${FILE_FORMAT}")`);
  if (doc.version !== FILE_VERSION) throw new Error(`it has format version ${printable(doc.version)}, this server reads version ${FILE_VERSION} (written by a newer server?)`);
  if (!Array.isArray(doc.rooms)) throw new Error('its "rooms" is not a list');
  const seen = new Set<string>();
  return doc.rooms.map((r: unknown, i: number) => {
    const where = `room #${i + 1}`;
    if (!isObject(r)) throw new Error(`${where} is not an object`);
    if (typeof r.room !== 'string' || r.room.length === 0) throw new Error(`${where} has no room key`);
    if (seen.has(r.room)) throw new Error(`room ${printable(r.room)} appears twice`);
    seen.add(r.room);
    if (typeof r.owner !== 'string') throw new Error(`room ${printable(r.room)} has no owner`);
    if (!isTime(r.createdAt) || !isTime(r.lastActivity)) throw new Error(`room ${printable(r.room)} has a bad createdAt or lastActivity`);
    if (r.status !== 'live' && r.status !== 'idle') throw new Error(`room ${printable(r.room)} has unknown status ${printable(r.status)}`);
    return { room: r.room, owner: r.owner, createdAt: r.createdAt, status: r.status, lastActivity: r.lastActivity, ...decodeAccess(r, r.room) };
  });
}

export interface FileBackendOptions {
  /** generous: a large file on a slow disk may take seconds to fsync */
  writeTimeoutMs: number;
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
  /** snapshots renamed into place; tests use it to see group commit at work */
  writes = 0;

  private committed = new Map<string, RoomRecord>();
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
    this.description = `file ${this.path}`;
    this.writeTimeoutMs = options.writeTimeoutMs;
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
    }
    await this.file.removeStaleTemps();
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
    const next = new Map(this.committed);
    for (const op of ops) {
      if (op.kind === 'save') next.set(op.room, applySave(next.get(op.room), op));
      else next.delete(op.room);
    }
    await this.file.write(encodeSnapshot(next.values()));
    this.committed = next;
    this.writes++;
  }

}


/** The optional access fields of a stored room (file store and journal); wrong types are refused, not guessed. */
export function decodeAccess(r: Record<string, unknown>, room: string): Pick<RoomRecord, 'secretHash' | 'ownerTokenHash' | 'locked'> {
  if (r.secretHash !== undefined && typeof r.secretHash !== 'string') throw new Error(`room ${printable(room)} has a bad secretHash`);
  if (r.ownerTokenHash !== undefined && typeof r.ownerTokenHash !== 'string') throw new Error(`room ${printable(room)} has a bad ownerTokenHash`);
  if (r.locked !== undefined && typeof r.locked !== 'boolean') throw new Error(`room ${printable(room)} has a bad locked`);
  return accessOf(r as unknown as RoomRecord);
}
