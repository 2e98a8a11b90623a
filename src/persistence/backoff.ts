// Reconnect delays after a store outage: exponential with jitter (sans-I/O), so
// a restarted database is found quickly but a long outage is not hammered, and
// several servers behind one database do not retry in lockstep.

export interface BackoffOptions {
  minMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { minMs: 250, maxMs: 10_000 };

/** Delay before retry number attempt (0-based): uniform in [cap/2, cap], cap = min*2^attempt bounded by max. */
export function backoffDelay(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const cap = Math.min(options.maxMs, options.minMs * 2 ** Math.min(attempt, 30));
  return Math.round(cap / 2 + (random() * cap) / 2);
}
