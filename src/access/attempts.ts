// The brute-force brake on room credentials: more than MAX_WRONG wrong ones for
// one (room, address) pair within WINDOW_MS block that pair, and only that pair,
// until its window passes. Pure: the caller passes the time.

export const MAX_WRONG = 10;
export const WINDOW_MS = 10 * 60_000;
/** Pairs tracked at most; beyond it the oldest window is forgotten (memory stays bounded under a spray of rooms). */
export const MAX_TRACKED_PAIRS = 100_000;

interface Window {
  since: number;
  wrong: number;
}

export class WrongAttempts {
  private readonly pairs = new Map<string, Window>();

  constructor(private readonly maxTracked = MAX_TRACKED_PAIRS) {}

  private static key(room: string, address: string): string {
    return `${room}\n${address}`;
  }

  /** Seconds until the pair may try again, or 0 when it is not blocked. */
  blockedFor(room: string, address: string, now: number): number {
    const window = this.pairs.get(WrongAttempts.key(room, address));
    if (window === undefined || window.wrong <= MAX_WRONG) return 0;
    const left = window.since + WINDOW_MS - now;
    return left > 0 ? Math.ceil(left / 1000) : 0;
  }

  /** One wrong credential; true when this one blocks the pair (the 11th in the window). */
  recordWrong(room: string, address: string, now: number): boolean {
    const key = WrongAttempts.key(room, address);
    let window = this.pairs.get(key);
    if (window === undefined || now - window.since >= WINDOW_MS) {
      this.pairs.delete(key);
      if (this.pairs.size >= this.maxTracked) {
        const oldest = this.pairs.keys().next();
        if (oldest.done !== true) this.pairs.delete(oldest.value);
      }
      window = { since: now, wrong: 0 };
      this.pairs.set(key, window);
    }
    window.wrong++;
    return window.wrong > MAX_WRONG;
  }

  /** Forgets windows that have passed. */
  sweep(now: number): void {
    for (const [key, window] of this.pairs) if (now - window.since >= WINDOW_MS) this.pairs.delete(key);
  }

  get size(): number {
    return this.pairs.size;
  }
}
