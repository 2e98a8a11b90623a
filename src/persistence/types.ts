// The store's public vocabulary: the records the room registry persists, the
// outcome of a write, health, and the one error that stops a start. Everything
// else in src/persistence depends on this file, never the other way round.

export type RoomStatus = 'live' | 'idle';

export interface RoomRecord {
  room: string;
  owner: string;
  /** ms since the epoch */
  createdAt: number;
  status: RoomStatus;
  /** ms since the epoch */
  lastActivity: number;
  // Access control (src/access), present only when set: the room secret's scrypt
  // hash with its parameters, the owner token's SHA-256, and the lock.
  secretHash?: string;
  ownerTokenHash?: string;
  locked?: boolean;
}

/** The access fields of a record; the rest of the store treats them as one unit. */
export function accessOf(record: RoomRecord): Pick<RoomRecord, 'secretHash' | 'ownerTokenHash' | 'locked'> {
  const access: Pick<RoomRecord, 'secretHash' | 'ownerTokenHash' | 'locked'> = {};
  if (typeof record.secretHash === 'string') access.secretHash = record.secretHash;
  if (typeof record.ownerTokenHash === 'string') access.ownerTokenHash = record.ownerTokenHash;
  if (record.locked === true) access.locked = true;
  return access;
}

/**
 * - durable: committed (MariaDB) or fsynced and renamed into place (file).
 * - queued: the store is down (or the write failed with a connection error); the
 *   write is kept in the bounded per-room queue and written on reconnect.
 * - refused: not stored and not queued: the store is down and the queue is full
 *   while this room has no entry yet, the store is closed, or the database
 *   rejected the data itself (a constraint/data error, logged). The caller should
 *   not promise anything about this room (the server answers 503).
 */
export type WriteOutcome = 'durable' | 'queued' | 'refused';

export type StoreKind = 'mariadb' | 'file' | 'redis';

export interface StoreHealth {
  kind: StoreKind;
  state: 'up' | 'down';
  /** rooms with a write not yet durable (queued or in flight) */
  pendingWrites: number;
  /** failed connection attempts and failed writes since start */
  errors: number;
  lastError: string | null;
  description: string;
}

export type StoreLog = (level: 'info' | 'warn' | 'error', event: string, fields: Record<string, unknown>) => void;

export interface RoomStore {
  readonly kind: StoreKind;
  /** for logs; never contains a password */
  readonly description: string;
  open(): Promise<RoomRecord[]>;
  onLateLoad(listener: (records: RoomRecord[]) => void): void;
  save(record: RoomRecord): Promise<WriteOutcome>;
  remove(room: string): Promise<WriteOutcome>;
  health(): StoreHealth;
  close(): Promise<void>;
  /** the stored row of one room, null when none or the store cannot say now (used by a cluster) */
  read?(room: string): Promise<RoomRecord | null>;
}

/** A start that must not go on: the message is written for the operator. */
export class StoreStartError extends Error {
  override name = 'StoreStartError';
}

/**
 * A stop that lost writes: the store was down, and the writes it still owed could
 * not be saved to the pending-writes journal either. The message is for the
 * operator; the process should exit non-zero.
 */
export class StoreCloseError extends Error {
  override name = 'StoreCloseError';
}

/**
 * One write owed to the store; only the latest per room is ever kept.
 *
 * A save normally MERGES into a stored row of the same key: the creation stored
 * first wins (its owner, createdAt and access are kept), status and lastActivity
 * are the save's; a save of that same creation (equal createdAt) also writes its
 * access (lock, secret). That keeps a stored room's owner when the server did not
 * know the room yet (started while the database was down) and someone walked in
 * first, and makes two nodes that create one key at once agree: whichever write
 * lands first is the room, and the other node reads it back and adopts it. A
 * room's owner never changes once it is stored. `replaces` says the opposite:
 * this room was removed (purged) in this run and created again, so the save
 * REPLACES whatever row the key has (the queue sets it when a save coalesces
 * with a remove; see pending.ts).
 */
export type PendingOp = { kind: 'save'; room: string; record: RoomRecord; replaces?: boolean } | { kind: 'remove'; room: string };

/**
 * Whether two records are one creation of their key: the same creation time, the
 * same creator and the same owner token (random per creation), so two nodes that
 * create one key in the same millisecond are still told apart.
 */
export function sameCreation(a: Pick<RoomRecord, 'createdAt' | 'owner' | 'ownerTokenHash'>, b: Pick<RoomRecord, 'createdAt' | 'owner' | 'ownerTokenHash'>): boolean {
  return a.createdAt === b.createdAt && a.owner === b.owner && (a.ownerTokenHash ?? null) === (b.ownerTokenHash ?? null);
}

/**
 * The merge rule shared by both backends (MariaDB does the same in SQL): what the
 * row of `stored`'s key holds after writing `op` over it.
 */
export function applySave(stored: RoomRecord | undefined, op: Extract<PendingOp, { kind: 'save' }>): RoomRecord {
  const r = op.record;
  if (stored === undefined || op.replaces === true) return { ...r };
  // The same incarnation (same creation) writes its access; another one keeps the stored room's.
  if (sameCreation(r, stored)) return { ...r };
  const { secretHash: _s, ownerTokenHash: _o, locked: _l, ...rest } = r;
  return { ...rest, owner: stored.owner, createdAt: stored.createdAt, ...accessOf(stored) };
}
