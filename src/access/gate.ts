// The access decision for one room join (CONTRACT.md, "Access control"): which
// credential it is (join token, owner token, secret), whether the room admits
// it (401, 403, 423, 429, or 503 when secret checks are queued full), and what a
// join that creates the room stores. No sockets, no timers: the clock is passed in.

import { type HttpResponse, textResponse } from '../handshake/http-response';
import { WrongAttempts } from './attempts';
import { looksLikeJwt } from './credentials';
import type { JoinRole, JoinTokens } from './join-tokens';
import { newOwnerToken, ownerTokenMatches } from './owner-token';
import type { RoomAccess } from './room-access';
import { MAX_SECRET_CHARS, MIN_SECRET_CHARS, type SecretHasher, secretLengthOk } from './secret-hash';

export interface JoinRequest {
  room: string;
  name: string;
  credential: string | null;
  /** the address wrong attempts count against */
  address: string;
}

export type AccessGrant =
  | {
      ok: true;
      role: JoinRole;
      /** set when the decision was made for a room that does not exist yet: what the new room stores */
      creates: RoomAccess | null;
      /** the owner token for the creator's welcome (only with `creates`) */
      ownerToken: string | null;
    }
  | { ok: false; response: HttpResponse };

export type Granted = Extract<AccessGrant, { ok: true }>;

/** What a join without any credential check gets: a plain member. */
export const AS_MEMBER: Granted = { ok: true, role: 'member', creates: null, ownerToken: null };

const BUSY = textResponse(503, 'too many secret checks in progress; try again in a moment', { 'Retry-After': '1' });

export class AccessGate {
  readonly attempts = new WrongAttempts();

  constructor(
    readonly hasher: SecretHasher,
    private readonly tokens: JoinTokens | null,
    private readonly requireToken: boolean,
    private readonly now: () => number = Date.now,
  ) {}

  /** The join needs no check at all: no credential, the room open, no token required (the fast path, no promise). */
  passesWithoutCheck(access: RoomAccess, credential: string | null): boolean {
    return credential === null && access.secretHash === null && !access.locked && !this.requireToken;
  }

  async decide(request: JoinRequest, existing: RoomAccess | null): Promise<AccessGrant> {
    const { room, address, credential } = request;
    // A blocked (room, address) pair is refused before any secret is checked. Credentials
    // nobody can guess (a valid join token, the owner token) still pass, so a neighbour
    // guessing behind the same NAT cannot lock the owner out.
    const blocked = this.attempts.blockedFor(room, address, this.now());

    // A JWT-shaped credential is a join token when a key is configured (the contract's classification).
    let tokenRole: JoinRole | null = null;
    if (credential !== null && this.tokens?.configured === true && looksLikeJwt(credential)) {
      const check = await this.tokens.verify(credential, room, request.name);
      if (!check.ok) return blocked > 0 ? this.tooMany(blocked) : this.wrong(request, check.status, check.reason);
      tokenRole = check.role;
    }
    if (this.requireToken && tokenRole === null) {
      if (blocked > 0) return this.tooMany(blocked);
      if (credential !== null) return this.wrong(request, 401, 'this server admits only with a valid join token');
      return refuse(401, 'this server admits only with a valid join token (Authorization: Bearer JWT)', { 'WWW-Authenticate': 'Bearer realm="rooms"' });
    }

    if (existing === null) {
      // The creator: the owner. A credential that is not a token protects the room.
      let secretHash: string | null = null;
      if (credential !== null && tokenRole === null) {
        if (!secretLengthOk(credential)) return refuse(400, `a room secret is ${MIN_SECRET_CHARS}-${MAX_SECRET_CHARS} characters`);
        const hashed = await this.hasher.hash(credential);
        if (!hashed.ok) return { ok: false, response: BUSY };
        secretHash = hashed.hash;
      }
      const owner = newOwnerToken();
      return { ok: true, role: 'owner', creates: { secretHash, ownerTokenHash: owner.hash, locked: false }, ownerToken: owner.token };
    }

    if (tokenRole !== null) {
      if (existing.locked && tokenRole !== 'owner') return refuse(423, 'the room is locked by its owner');
      return admitted(tokenRole);
    }
    if (credential !== null && ownerTokenMatches(credential, existing.ownerTokenHash)) return admitted('owner');
    if (blocked > 0) return this.tooMany(blocked);
    if (existing.locked) return refuse(423, 'the room is locked by its owner');
    if (existing.secretHash === null) return admitted('member');
    if (credential === null) return refuse(401, 'this room is protected: give its secret as Authorization: Bearer SECRET or the rooms.auth. subprotocol', { 'WWW-Authenticate': 'Bearer realm="rooms"' });
    const verdict = await this.hasher.verify(credential, existing.secretHash);
    if (verdict === 'busy') return { ok: false, response: BUSY };
    if (verdict === 'mismatch') return this.wrong(request, 403, 'wrong credential for this room');
    return admitted('member');
  }

  private wrong(request: JoinRequest, status: 401 | 403, reason: string): AccessGrant {
    const now = this.now();
    if (this.attempts.recordWrong(request.room, request.address, now)) return this.tooMany(this.attempts.blockedFor(request.room, request.address, now));
    return refuse(status, reason, status === 401 ? { 'WWW-Authenticate': 'Bearer realm="rooms", error="invalid_token"' } : {});
  }

  private tooMany(seconds: number): AccessGrant {
    return refuse(429, 'too many wrong credentials for this room from your address; try again later', { 'Retry-After': String(seconds) });
  }
}

function admitted(role: JoinRole): AccessGrant {
  return { ok: true, role, creates: null, ownerToken: null };
}

function refuse(status: number, reason: string, headers: Record<string, string> = {}): AccessGrant {
  return { ok: false, response: textResponse(status, reason, headers) };
}
