// Join tokens (JWT, RFC 7519) from an application that decides who may join
// which room: JOIN_TOKEN_SECRET (HS256) or JOIN_TOKEN_PUBLIC_KEY (PEM, ES256 or
// RS256). Verification is jose's, with the algorithm pinned to the configured key
// (never `none`, never HS256 with a public key), `exp` required, a small clock
// tolerance, and the claims bound to the join. Errors never quote the token.

import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { jwtVerify } from 'jose';

/** Seconds of clock skew forgiven on exp and nbf. */
export const CLOCK_TOLERANCE_S = 30;
/** Tokens longer than this are refused before any parsing (a header is at most MAX_HEADER_BYTES anyway). */
export const MAX_TOKEN_BYTES = 4096;
const MIN_SECRET_BYTES = 32;

export type JoinRole = 'member' | 'owner';
export type TokenAlgorithm = 'HS256' | 'ES256' | 'RS256';

export interface JoinTokenSettings {
  joinTokenSecret: string | undefined;
  joinTokenPublicKey: string | undefined;
  requireToken: boolean;
}

/** A setting that must stop the start: the message is for the operator. */
export class AccessSettingsError extends Error {
  override name = 'AccessSettingsError';
}

export type TokenCheck =
  | { ok: true; role: JoinRole }
  /** 401: malformed, forged, expired, not yet valid, wrong algorithm; 403: valid, but for another room or name */
  | { ok: false; status: 401 | 403; reason: string };

interface LoadedKey {
  algorithm: TokenAlgorithm;
  key: KeyObject | Uint8Array;
}

/** Reads and checks the key settings; throws AccessSettingsError with a clear message. Null: no tokens configured. */
export function loadJoinTokenKey(settings: JoinTokenSettings): LoadedKey | null {
  const { joinTokenSecret: secret, joinTokenPublicKey: path } = settings;
  if (secret !== undefined && path !== undefined) throw new AccessSettingsError('set JOIN_TOKEN_SECRET or JOIN_TOKEN_PUBLIC_KEY, not both');
  if (secret !== undefined) {
    const bytes = Buffer.from(secret, 'utf8');
    if (bytes.length < MIN_SECRET_BYTES) throw new AccessSettingsError(`JOIN_TOKEN_SECRET must be at least ${MIN_SECRET_BYTES} bytes (it has ${bytes.length}); e.g. openssl rand -base64 48`);
    return { algorithm: 'HS256', key: new Uint8Array(bytes) };
  }
  if (path !== undefined) {
    let pem: Buffer;
    try {
      pem = readFileSync(path);
    } catch (error) {
      throw new AccessSettingsError(`JOIN_TOKEN_PUBLIC_KEY ${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    let key: KeyObject;
    try {
      key = createPublicKey(pem);
    } catch {
      throw new AccessSettingsError(`JOIN_TOKEN_PUBLIC_KEY ${path} is not a PEM public key`);
    }
    if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return { algorithm: 'ES256', key };
    if (key.asymmetricKeyType === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048) return { algorithm: 'RS256', key };
    throw new AccessSettingsError(`JOIN_TOKEN_PUBLIC_KEY ${path} must be an EC P-256 (ES256) or RSA >= 2048 bits (RS256) public key`);
  }
  if (settings.requireToken) throw new AccessSettingsError('REQUIRE_TOKEN=on needs JOIN_TOKEN_SECRET or JOIN_TOKEN_PUBLIC_KEY');
  return null;
}

export class JoinTokens {
  private current: LoadedKey | null;

  constructor(private readonly settings: JoinTokenSettings) {
    this.current = loadJoinTokenKey(settings);
  }

  get configured(): boolean {
    return this.current !== null;
  }

  get algorithm(): TokenAlgorithm | null {
    return this.current?.algorithm ?? null;
  }

  /** Reads the key again (SIGHUP); on error the old key stays and the error is thrown to be logged. */
  reload(): void {
    this.current = loadJoinTokenKey(this.settings);
  }

  async verify(token: string, room: string, name: string): Promise<TokenCheck> {
    const loaded = this.current;
    if (loaded === null) return { ok: false, status: 401, reason: 'join tokens are not configured on this server' };
    if (Buffer.byteLength(token) > MAX_TOKEN_BYTES) return { ok: false, status: 401, reason: 'join token too long' };
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, loaded.key, { algorithms: [loaded.algorithm], clockTolerance: CLOCK_TOLERANCE_S, requiredClaims: ['exp', 'room'] }));
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code === 'ERR_JWT_EXPIRED') return { ok: false, status: 401, reason: 'join token expired' };
      if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED') return { ok: false, status: 401, reason: 'join token claims invalid (exp and room are required; nbf not reached?)' };
      return { ok: false, status: 401, reason: 'join token not valid (malformed, bad signature or wrong algorithm)' };
    }
    const role = payload.role ?? 'member';
    if (role !== 'member' && role !== 'owner') return { ok: false, status: 401, reason: 'join token role must be "member" or "owner"' };
    if (typeof payload.room !== 'string') return { ok: false, status: 401, reason: 'join token room claim must be a string' };
    if (payload.name !== undefined && typeof payload.name !== 'string') return { ok: false, status: 401, reason: 'join token name claim must be a string' };
    if (payload.room !== room) return { ok: false, status: 403, reason: 'join token is for another room' };
    if (payload.name !== undefined && payload.name !== name) return { ok: false, status: 403, reason: 'join token is for another name' };
    return { ok: true, role };
  }
}
