// The spill journal: DATA_DIR/pending-writes.json holds the writes owed to the
// store while it is down, so that no room key is lost across a stop or a crash.
// With MariaDB it is rewritten during an outage before each queued write is
// acknowledged (queued-store.ts), and at a graceful stop; the file store spills
// to it only at a stop. Every write is atomic (temp file, fsync, rename, fsync
// of the folder); the next start reads it before anything else, queues its writes
// first (latest op per room), hands its rooms to the registry, and deletes the
// file only once every one of those writes is durable. A journal that cannot be
// read, or that is owed to another store, stops the start: it is never dropped
// silently.

import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { parseJsonText, printable } from './json-text';
import { StoreStartError, type PendingOp, type RoomStatus } from './types';

export const JOURNAL_FILE = 'pending-writes.json';
export const JOURNAL_FORMAT = 'rooms-pending-writes';
export const JOURNAL_VERSION = 1;
const TEMP_PREFIX = `${JOURNAL_FILE}.tmp-`;

/** Where the writes owed during an outage or at a stop are kept until the store has them. */
export interface PendingJournal {
  /** for logs and messages */
  readonly path: string;
  /**
   * The ops an earlier run owed, [] if there is no journal. Throws
   * StoreStartError if the file cannot be read or decoded, or if it is owed to
   * another store than `store` (an identity such as "mariadb host:3306/rooms").
   */
  read(store: string): Promise<PendingOp[]>;
  /** Replaces the journal with ops, atomically and durably; throws if it could not. */
  write(store: string, ops: readonly PendingOp[]): Promise<void>;
  /** Deletes the journal (its writes are durable now); no error if it is gone. */
  discard(): Promise<void>;
}

/**
 * {"format":"rooms-pending-writes","version":1,"store":"...","savedAt":ISO,"ops":[...]},
 * one op per line: {"op":"save","room","owner","createdAt","status","lastActivity"[,"replaces":true]}
 * or {"op":"remove","room"}.
 */
export function encodeJournal(store: string, ops: readonly PendingOp[], now: Date = new Date()): string {
  const lines = ops.map((op) =>
    JSON.stringify(
      op.kind === 'remove'
        ? { op: 'remove', room: op.room }
        : {
            op: 'save',
            room: op.room,
            owner: op.record.owner,
            createdAt: op.record.createdAt,
            status: op.record.status,
            lastActivity: op.record.lastActivity,
            ...(op.replaces === true ? { replaces: true } : {}),
          },
    ),
  );
  const head = `{"format":${JSON.stringify(JOURNAL_FORMAT)},"version":${JOURNAL_VERSION},"store":${JSON.stringify(store)},"savedAt":${JSON.stringify(now.toISOString())},"ops":[`;
  return lines.length === 0 ? `${head}]}\n` : `${head}\n${lines.join(',\n')}\n]}\n`;
}

/** The journal's store and ops, or an Error whose message is one printable line. */
export function decodeJournal(input: string | Uint8Array): { store: string; ops: PendingOp[] } {
  const doc = parseJsonText(input);
  if (!isObject(doc) || doc.format !== JOURNAL_FORMAT) throw new Error(`it is not a pending-writes journal (no "format": "${JOURNAL_FORMAT}")`);
  if (doc.version !== JOURNAL_VERSION) throw new Error(`it has format version ${printable(doc.version)}, this server reads version ${JOURNAL_VERSION} (written by a newer server?)`);
  if (typeof doc.store !== 'string') throw new Error('it does not say which store it is owed to ("store")');
  if (!Array.isArray(doc.ops)) throw new Error('its "ops" is not a list');
  const seen = new Set<string>();
  const ops = doc.ops.map((o: unknown, i: number): PendingOp => {
    const where = `write #${i + 1}`;
    if (!isObject(o)) throw new Error(`${where} is not an object`);
    if (typeof o.room !== 'string' || o.room.length === 0) throw new Error(`${where} has no room key`);
    if (seen.has(o.room)) throw new Error(`room ${printable(o.room)} appears twice`);
    seen.add(o.room);
    if (o.op === 'remove') return { kind: 'remove', room: o.room };
    if (o.op !== 'save') throw new Error(`${where} has unknown op ${printable(o.op)}`);
    if (typeof o.owner !== 'string') throw new Error(`room ${printable(o.room)} has no owner`);
    if (!isTime(o.createdAt) || !isTime(o.lastActivity)) throw new Error(`room ${printable(o.room)} has a bad createdAt or lastActivity`);
    if (o.status !== 'live' && o.status !== 'idle') throw new Error(`room ${printable(o.room)} has unknown status ${printable(o.status)}`);
    if (o.replaces !== undefined && typeof o.replaces !== 'boolean') throw new Error(`room ${printable(o.room)} has a bad "replaces"`);
    const record = { room: o.room, owner: o.owner, createdAt: o.createdAt, status: o.status as RoomStatus, lastActivity: o.lastActivity };
    return o.replaces === true ? { kind: 'save', room: o.room, record, replaces: true } : { kind: 'save', room: o.room, record };
  });
  return { store: doc.store, ops };
}

export class FileJournal implements PendingJournal {
  readonly path: string;
  private tempCounter = 0;

  constructor(readonly dataDir: string) {
    this.path = join(dataDir, JOURNAL_FILE);
  }

  async read(store: string): Promise<PendingOp[]> {
    await this.removeStaleTemps();
    let bytes: Buffer;
    try {
      bytes = await readFile(this.path);
    } catch (err) {
      // ENOTDIR: DATA_DIR runs through a plain file, so no journal can be there.
      if (code(err) === 'ENOENT' || code(err) === 'ENOTDIR') return [];
      throw new StoreStartError(
        `cannot read ${this.path}, the room writes an earlier stop could not make (${code(err)}). It was left untouched. ` +
          `Fix its permissions; moving it away gives those writes up.`,
      );
    }
    let journal: { store: string; ops: PendingOp[] };
    try {
      journal = decodeJournal(bytes);
    } catch (err) {
      throw new StoreStartError(
        `${this.path}, the room writes an earlier stop could not make, is unreadable: ${(err as Error).message}. It was left untouched. ` +
          `Repair it or restore it from a backup; moving it away gives those writes up.`,
      );
    }
    if (journal.store !== store) {
      throw new StoreStartError(
        `${this.path} holds ${journal.ops.length} room write(s) owed to ${printable(journal.store, 200)}, but this server is set to use ${printable(store, 200)}. It was left untouched. ` +
          `Start once with the store it names so they are written (the file is then deleted); if it is the same database under another address, set "store" in the file to ${printable(store, 200)}; moving it away gives those writes up.`,
      );
    }
    return journal.ops;
  }

  async write(store: string, ops: readonly PendingOp[]): Promise<void> {
    await mkdir(this.dataDir, { recursive: true });
    const temp = join(this.dataDir, `${TEMP_PREFIX}${process.pid}-${++this.tempCounter}`);
    try {
      const handle = await open(temp, 'w', 0o644);
      try {
        await handle.writeFile(encodeJournal(store, ops), 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, this.path);
    } catch (err) {
      await unlink(temp).catch(() => undefined);
      throw err;
    }
    await this.syncDir();
  }

  async discard(): Promise<void> {
    try {
      await unlink(this.path);
    } catch (err) {
      if (code(err) === 'ENOENT') return;
      throw err;
    }
    await this.syncDir();
  }

  private async syncDir(): Promise<void> {
    const dir = await open(this.dataDir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  /** Temp files of a spill that crashed mid-write; the journal itself was never touched by them. */
  private async removeStaleTemps(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.dataDir);
    } catch {
      return;
    }
    await Promise.all(names.filter((n) => n.startsWith(TEMP_PREFIX)).map((n) => unlink(join(this.dataDir, n)).catch(() => undefined)));
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isTime(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function code(err: unknown): string {
  const c = (err as { code?: unknown }).code;
  return typeof c === 'string' ? c : (err as Error).message;
}
