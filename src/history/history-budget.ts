// The memory all rooms' kept messages may take together (HISTORY_MEMORY). Per
// room, HISTORY_SIZE bounds the count but not the bytes: 100 messages of 1 MiB
// in each of thousands of rooms would be gigabytes. Past the budget the oldest
// kept messages go first, whichever room holds them; a resume that needed them
// answers recovered:false, as for any message no longer kept.

/** One kept message as the budget sees it: which log holds it, its seq and size. */
interface Charge {
  log: BudgetedLog;
  seq: number;
}

/** What a room's log offers the budget: its oldest kept seq, and dropping that one. */
export interface BudgetedLog {
  /** seq of the oldest kept message, or null when none is kept */
  oldestSeq(): number | null;
  /** drops the oldest kept message; returns its payload's size */
  dropOldest(): number;
}

export class HistoryBudget {
  private used = 0;
  /** Charges in append order; entries already dropped by their log (count, age, removal) are skipped lazily. */
  private charges: Charge[] = [];
  private head = 0;
  private live = 0;

  constructor(readonly limitBytes: number) {}

  get usedBytes(): number {
    return this.used;
  }

  /** A log kept a message of `bytes`; evicts the oldest kept messages while over the budget. */
  charge(log: BudgetedLog, seq: number, bytes: number): void {
    this.used += bytes;
    this.charges.push({ log, seq });
    this.live++;
    while (this.used > this.limitBytes && this.head < this.charges.length) {
      const { log: oldestLog, seq: oldestSeq } = this.charges[this.head++]!;
      if (oldestLog.oldestSeq() === oldestSeq) oldestLog.dropOldest();
    }
    this.compact();
  }

  /** A log dropped kept messages of `bytes` in all (by count, age, eviction or removal). */
  release(bytes: number, count: number): void {
    this.used -= bytes;
    this.live -= count;
  }

  /** Stale charges are cleared once they outnumber the live ones: the queue stays proportional to what is kept. */
  private compact(): void {
    const queued = this.charges.length - this.head;
    if (queued < 1024 || queued < 2 * this.live) return;
    this.charges = this.charges.slice(this.head).filter((c) => {
      const oldest = c.log.oldestSeq();
      return oldest !== null && c.seq >= oldest;
    });
    this.head = 0;
  }
}
