// The spill journal: DATA_DIR/pending-writes.json holds the writes owed to the
// store while it is down, so that no room key is lost across a stop or a crash.
// With MariaDB it is rewritten during an outage before each queued write is
// acknowledged (outage-journal.ts), and at a graceful stop; the file store spills
// to it only at a stop. Every write is atomic (temp file, fsync, rename, fsync
// of the folder); the next start reads it before anything else, queues its writes
// first (latest op per room), hands its rooms to the registry, and deletes the
// file only once every one of those writes is durable. A journal that cannot be
// read, or that is owed to another store, stops the start: it is never dropped
// silently.

import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AtomicFile, errorCode, isObject } from './atomic-file';
import { decodeRoomRecord, parseJsonFile, printable } from './file';
import { accessOf, StoreStartError, type PendingOp } from './types';

export const JOURNAL_FILE = 'pending-writes.json';
export const JOURNAL_FORMAT = 'rooms-pending-writes';
export const JOURNAL_VERSION = 1;

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
 * one op per line: {"op":"save","room","owner","createdAt","status","lastActivity"[,"secretHash","ownerTokenHash","locked"][,"replaces":true]}
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
            ...accessOf(op.record),
            ...(op.replaces === true ? { replaces: true } : {}),
          },
    ),
  );
  const head = `{"format":${JSON.stringify(JOURNAL_FORMAT)},"version":${JOURNAL_VERSION},"store":${JSON.stringify(store)},"savedAt":${JSON.stringify(now.toISOString())},"ops":[`;
  return lines.length === 0 ? `${head}]}\n` : `${head}\n${lines.join(',\n')}\n]}\n`;
}

/** The journal's store and ops, or an Error whose message is one printable line. */
export function decodeJournal(input: string | Uint8Array): { store: string; ops: PendingOp[] } {
  const doc = parseJsonFile(input);
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
    if (o.replaces !== undefined && typeof o.replaces !== 'boolean') throw new Error(`room ${printable(o.room)} has a bad "replaces"`);
    // A save carries the record's own fields next to op and replaces: read as the store files read it.
    const record = decodeRoomRecord(o, where);
    return o.replaces === true ? { kind: 'save', room: o.room, record, replaces: true } : { kind: 'save', room: o.room, record };
  });
  return { store: doc.store, ops };
}

export class FileJournal implements PendingJournal {
  readonly path: string;
  private readonly file: AtomicFile;

  constructor(readonly dataDir: string) {
    this.path = join(dataDir, JOURNAL_FILE);
    this.file = new AtomicFile(dataDir, JOURNAL_FILE);
  }

  async read(store: string): Promise<PendingOp[]> {
    await this.file.removeStaleTemps();
    let bytes: Buffer;
    try {
      bytes = await readFile(this.path);
    } catch (err) {
      // ENOTDIR: DATA_DIR runs through a plain file, so no journal can be there.
      if (errorCode(err) === 'ENOENT' || errorCode(err) === 'ENOTDIR') return [];
      throw new StoreStartError(
        `cannot read ${this.path}, the room writes an earlier stop could not make (${errorCode(err)}). It was left untouched. ` +
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
    await this.file.write(encodeJournal(store, ops));
  }

  async discard(): Promise<void> {
    await this.file.remove();
  }
}

