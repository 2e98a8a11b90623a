// The owner token: 32 random bytes (256 bits) handed to a room's creator once.
// Only its SHA-256 is stored with the room: a random token that long needs no
// slow hash, and the hash lets every node and every restart recognise it.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export interface OwnerToken {
  token: string;
  /** hex SHA-256 of the token: what the store keeps */
  hash: string;
}

export function newOwnerToken(): OwnerToken {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashOwnerToken(token) };
}

export function hashOwnerToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Constant time over the hashes (equal lengths by construction). */
export function ownerTokenMatches(credential: string, storedHash: string | null): boolean {
  if (storedHash === null || !/^[0-9a-f]{64}$/.test(storedHash)) return false;
  return timingSafeEqual(Buffer.from(hashOwnerToken(credential), 'hex'), Buffer.from(storedHash, 'hex'));
}
