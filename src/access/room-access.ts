// What a room knows about who may enter it: the hash of its secret (null: not
// protected), the hash of its owner token, and whether it is locked. Stored with
// the room in every store; never the secret or the token themselves.

import type { RoomRecord } from '../persistence/types';

export interface RoomAccess {
  /** "scrypt$N$r$p$SALT$HASH" (secret-hash.ts), or null for an unprotected room */
  secretHash: string | null;
  /** hex SHA-256 of the owner token, or null (a room restored from a store written before access control) */
  ownerTokenHash: string | null;
  locked: boolean;
}

/** What a stored record says; a record written before access control is an open room. */
export function accessOfRecord(record: RoomRecord): RoomAccess {
  return { secretHash: record.secretHash ?? null, ownerTokenHash: record.ownerTokenHash ?? null, locked: record.locked === true };
}

export function openAccess(): RoomAccess {
  return { secretHash: null, ownerTokenHash: null, locked: false };
}

/** The JSON `room` frame members get when locked or protected changes. */
export function roomStateFrame(access: RoomAccess): string {
  return JSON.stringify({ type: 'room', locked: access.locked, protected: access.secretHash !== null });
}
