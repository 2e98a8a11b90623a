// The late load: when the store was unreachable at start, the rooms it holds are
// handed to the registry once it answers, without the rows that went stale while
// the load ran (rooms removed, or removed and created again, meanwhile).

import type { PendingOp, RoomRecord, StoreLog } from './types';
import { describeError } from './write-behind';

export class LateLoad {
  private readonly listeners: ((records: RoomRecord[]) => void)[] = [];
  private undelivered: RoomRecord[] | null = null;
  /** while a load runs: rooms removed (or removed and created again) meanwhile, whose loaded row is stale */
  private guard: Set<string> | null = null;

  constructor(
    private readonly log: StoreLog,
    private readonly description: string,
  ) {}

  listen(listener: (records: RoomRecord[]) => void): void {
    this.listeners.push(listener);
    // The database may answer before the registry subscribed: keep the rooms for it.
    if (this.undelivered) {
      const records = this.undelivered;
      this.undelivered = null;
      listener(records);
    }
  }

  /** The room is being removed: a row of it that a load in progress returns is stale. */
  removed(room: string): void {
    this.guard?.add(room);
  }

  /**
   * Loads the stored rooms and hands them over; `queued` (what the queue still
   * owes) names rooms whose rows are stale already. Throws what load throws,
   * and then hands nothing over.
   */
  async run(load: () => Promise<RoomRecord[]>, queued: readonly PendingOp[]): Promise<void> {
    // A room removed (purged, perhaps created again) while the load runs may come
    // back from it as it was before: those rows are stale, the registry knows better.
    const guard = new Set<string>();
    for (const op of queued) if (op.kind === 'remove' || op.replaces === true) guard.add(op.room);
    this.guard = guard;
    let records: RoomRecord[];
    try {
      records = await load();
    } finally {
      this.guard = null;
    }
    if (guard.size > 0) records = records.filter((r) => !guard.has(r.room));
    this.log('info', 'store.late_load', { store: this.description, rooms: records.length });
    if (this.listeners.length === 0) {
      this.undelivered = records;
      return;
    }
    for (const listener of this.listeners) {
      try {
        listener(records);
      } catch (err) {
        this.log('error', 'store.late_load_listener_failed', { error: describeError(err) });
      }
    }
  }
}
