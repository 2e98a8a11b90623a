// Room secrets at rest: a salted scrypt hash stored with its parameters as one
// string, "scrypt$N$r$p$SALT$HASH" (base64url), compared in constant time. Every
// derivation runs on libuv's thread pool (crypto.scrypt), never on the event
// loop, and at most MAX_IN_FLIGHT at once with a bounded queue behind them, so a
// flood of guesses cannot take the pool from the store or the file system.

import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/**
 * N=2^14, r=8, p=1 (16 MiB per derivation): measured at ~35-65 ms per check on
 * this 2-core machine (node 20, one to two derivations at a time). Raising N
 * doubles both the cost and the memory per step.
 */
export const SCRYPT_PARAMS = { N: 16384, r: 8, p: 1 } as const;
const KEY_BYTES = 32;
const SALT_BYTES = 16;
/** Derivations running at once: the thread pool has 4 threads; half are left for fs and DNS. */
export const MAX_IN_FLIGHT = 2;
/** Derivations waiting; beyond this a check is refused with 503 (the server is busy, not the caller wrong). */
export const MAX_QUEUED = 256;
export const MIN_SECRET_CHARS = 1;
export const MAX_SECRET_CHARS = 256;

export type HashOutcome = { ok: true; hash: string } | { ok: false; busy: true };
export type VerifyOutcome = 'match' | 'mismatch' | 'busy';

/** The contract's bounds on a room secret, in characters (code points). */
export function secretLengthOk(secret: string): boolean {
  const chars = [...secret].length;
  return chars >= MIN_SECRET_CHARS && chars <= MAX_SECRET_CHARS;
}

interface Params {
  N: number;
  r: number;
  p: number;
}

function parseStored(stored: string): { params: Params; salt: Buffer; hash: Buffer } | null {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return null;
  const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  if (![N, r, p].every((n) => Number.isInteger(n) && n > 0) || N > 1 << 20 || r > 32 || p > 16) return null;
  return { params: { N, r, p }, salt: Buffer.from(parts[4]!, 'base64url'), hash: Buffer.from(parts[5]!, 'base64url') };
}

export class SecretHasher {
  private inFlight = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly maxInFlight = MAX_IN_FLIGHT,
    private readonly maxQueued = MAX_QUEUED,
    private readonly params: Params = SCRYPT_PARAMS,
  ) {}

  /** Checks running and waiting; for tests and metrics. */
  get load(): { inFlight: number; queued: number } {
    return { inFlight: this.inFlight, queued: this.waiting.length };
  }

  async hash(secret: string): Promise<HashOutcome> {
    const salt = randomBytes(SALT_BYTES);
    const derived = await this.derive(secret, salt, this.params, KEY_BYTES);
    if (derived === null) return { ok: false, busy: true };
    const { N, r, p } = this.params;
    return { ok: true, hash: `scrypt$${N}$${r}$${p}$${salt.toString('base64url')}$${derived.toString('base64url')}` };
  }

  async verify(secret: string, stored: string): Promise<VerifyOutcome> {
    const parsed = parseStored(stored);
    if (parsed === null || parsed.hash.length === 0) return 'mismatch';
    const derived = await this.derive(secret, parsed.salt, parsed.params, parsed.hash.length);
    if (derived === null) return 'busy';
    return timingSafeEqual(derived, parsed.hash) ? 'match' : 'mismatch';
  }

  /** Null when the queue is full. */
  private async derive(secret: string, salt: Buffer, params: Params, length: number): Promise<Buffer | null> {
    if (this.inFlight >= this.maxInFlight) {
      if (this.waiting.length >= this.maxQueued) return null;
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.inFlight++;
    }
    try {
      return await new Promise<Buffer>((resolve, reject) =>
        scrypt(secret, salt, length, { ...params, maxmem: 256 * params.N * params.r + 1024 * 1024 }, (error, key) => (error ? reject(error) : resolve(key))),
      );
    } finally {
      // The slot passes straight to the next waiter, so inFlight never drops below what runs.
      const next = this.waiting.shift();
      if (next !== undefined) next();
      else this.inFlight--;
    }
  }
}
