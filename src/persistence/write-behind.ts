// What every write-behind store shares (rooms: queued-store.ts, history: history-writer.ts):
// the one timer for the next attempt with a doubling backoff, up/down health, an idle liveness
// check, and waits a hung store cannot hold past a deadline. What is owed stays with the owner.

export interface BackoffOptions {
  minMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { minMs: 250, maxMs: 10_000 };

/**
 * Delay before retry number attempt (0-based): uniform in [cap/2, cap], cap = min*2^attempt
 * bounded by max. A restarted store is found quickly, a long outage is not hammered, and
 * several servers behind one database do not retry in lockstep.
 */
export function backoffDelay(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const cap = Math.min(options.maxMs, options.minMs * 2 ** Math.min(attempt, 30));
  return Math.round(cap / 2 + (random() * cap) / 2);
}

export interface WriteBehindHealth {
  state: 'up' | 'down';
  /** failed connection attempts, writes and other store operations since start */
  errors: number;
  lastError: string | null;
}

export class WriteBehind {
  private state: 'up' | 'down';
  private errors = 0;
  private lastError: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private attempt = 0;
  private heartbeat: NodeJS.Timeout | null = null;

  constructor(
    private readonly backoff: BackoffOptions,
    initially: 'up' | 'down',
  ) {
    this.state = initially;
  }

  get isUp(): boolean {
    return this.state === 'up';
  }

  /** retries since the last success (for logs) */
  get attempts(): number {
    return this.attempt;
  }

  health(): WriteBehindHealth {
    return { state: this.state, errors: this.errors, lastError: this.lastError };
  }

  /** The store answered again; true when it was down (the end of an outage, worth a log line). */
  up(): boolean {
    const wasDown = this.state === 'down';
    this.state = 'up';
    return wasDown;
  }

  /** Counts err as an outage; true when the store was up (its start, worth a log line). */
  down(err: unknown): boolean {
    const wasUp = this.state === 'up';
    this.state = 'down';
    this.failed(err);
    return wasUp;
  }

  /** Counts a failure that says nothing new about reachability; `about` names what failed when it is not the store. */
  failed(err: unknown, about?: string): void {
    this.errors++;
    this.lastError = about === undefined ? describeError(err) : `${about}: ${describeError(err)}`;
  }

  /**
   * Runs next once after delayMs, unless an attempt is already due: that one
   * picks up whatever is owed by then, so work is grouped rather than repeated.
   */
  schedule(delayMs: number, next: () => void): void {
    if (this.timer !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      next();
    }, delayMs);
    // A pending attempt alone must not keep a finished process alive; a close holds its own timers.
    this.timer.unref();
  }

  /** schedule after the next backoff delay; each retry waits about twice as long as the last, up to maxMs */
  retry(next: () => void): void {
    if (this.timer !== null) return;
    this.schedule(backoffDelay(this.attempt++, this.backoff), next);
  }

  /** A write went through: the next outage starts from the shortest delay again. */
  resetBackoff(): void {
    this.attempt = 0;
  }

  /** Drops the attempt that is due, if any. */
  cancel(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Runs check every periodMs (0: never) until stopped, so an idle store's outage is noticed without traffic. */
  startHeartbeat(periodMs: number, check: () => void): void {
    if (this.heartbeat !== null || periodMs <= 0) return;
    this.heartbeat = setInterval(check, periodMs);
    this.heartbeat.unref();
  }

  stopHeartbeat(): void {
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }
}

/** The end of a close: every wait is bounded by it, so a hung store cannot hold the stop. */
export class Deadline {
  private readonly at: number;

  constructor(ms: number) {
    this.at = Date.now() + ms;
  }

  get left(): number {
    return Math.max(0, this.at - Date.now());
  }

  get passed(): boolean {
    return Date.now() >= this.at;
  }

  /** work's result, or late once the deadline passes */
  race<T>(work: Promise<T>, late: T): Promise<T> {
    return within(work, this.left, late);
  }

  /** Waits ms, or less if the deadline comes first (at least 1 ms, so a poll never spins). */
  pause(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, Math.max(1, Math.min(ms, this.left))));
  }
}

/** work's result, or late after ms (a hung store); leaves no timer behind. */
export async function within<T>(work: Promise<T>, ms: number, late: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(late), ms);
  });
  try {
    return await Promise.race([work, bound]);
  } finally {
    clearTimeout(timer);
  }
}

/** One line for logs and /healthz; errors from our own code already carry no secrets. */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    // The connector prefixes "(conn:12, no: 1045, SQLState: 28000) ": keep the words.
    const message = err.message.replace(/^\(conn:[^)]*\)\s*/, '').split('\n')[0]!;
    return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
  }
  return String(err);
}
