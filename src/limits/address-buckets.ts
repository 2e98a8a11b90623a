// Token buckets keyed by client address (the per-address join limit), as pure logic:
// the caller passes the time, so the rules are tested with an injected clock and the
// server keeps the only timer (a sweep that forgets buckets that have refilled).

export type TakeResult = { ok: true } | { ok: false; retryAfterSeconds: number };

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * `burst` takes at once from a full bucket, refilled at `perMinute`: a crowd behind
 * one address (a NAT'd classroom rejoining after a restart) gets in together, while
 * a sustained flood is held to the rate.
 */
export class AddressBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;

  constructor(
    perMinute: number,
    private readonly burst: number,
  ) {
    this.perMs = perMinute / 60_000;
  }

  /** Takes one token for `address` at time `now` (ms), or says when one will be there. */
  take(address: string, now: number): TakeResult {
    let bucket = this.buckets.get(address);
    if (bucket === undefined) {
      bucket = { tokens: this.burst, at: now };
      this.buckets.set(address, bucket);
    } else {
      // A clock that steps back refills nothing rather than draining the bucket.
      bucket.tokens = Math.min(this.burst, bucket.tokens + Math.max(0, now - bucket.at) * this.perMs);
      bucket.at = now;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / this.perMs / 1000)) };
  }

  /** Forgets buckets full again by `now`: they behave exactly like no bucket at all. */
  sweep(now: number): void {
    for (const [address, bucket] of this.buckets) {
      if (bucket.tokens + Math.max(0, now - bucket.at) * this.perMs >= this.burst) this.buckets.delete(address);
    }
  }

  /** Addresses with a bucket still refilling (for tests and memory bounds). */
  get size(): number {
    return this.buckets.size;
  }
}
