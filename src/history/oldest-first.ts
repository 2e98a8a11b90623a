// The order HISTORY_MAX_BYTES evicts in: the rooms that keep messages, in a
// min-heap by their oldest kept message (time, then arrival). Nothing is done
// per relayed message beyond a room's first; a room's oldest only ever moves
// later, so a heap position that went stale is found and fixed when it reaches
// the top, and only an eviction pays for it.

import type { RoomLog } from './room-log';

export class OldestFirst {
  private readonly heap: RoomLog[] = [];
  /** Each log's key as it was when placed: its oldest message's time and stamp. */
  private readonly times: number[] = [];
  private readonly stamps: number[] = [];

  get size(): number {
    return this.heap.length;
  }

  /** Places a log that keeps a message (no-op if it is already placed). */
  add(log: RoomLog): void {
    if (log.heapAt >= 0 || log.oldestStamp < 0) return;
    const at = this.heap.length;
    this.heap.push(log);
    this.times.push(log.oldestTs);
    this.stamps.push(log.oldestStamp);
    log.heapAt = at;
    this.up(at);
  }

  /** Takes a log out (its room is gone), wherever it is. */
  remove(log: RoomLog): void {
    const at = log.heapAt;
    if (at < 0) return;
    log.heapAt = -1;
    const last = this.heap.length - 1;
    if (at !== last) this.move(last, at);
    this.heap.pop();
    this.times.pop();
    this.stamps.pop();
    if (at < this.heap.length) {
      this.up(at);
      this.down(at);
    }
  }

  /**
   * The log whose oldest kept message is the oldest of all, with every stale key
   * met on the way fixed; logs found empty leave the heap. Null when none keeps anything.
   */
  oldest(): RoomLog | null {
    while (this.heap.length > 0) {
      const top = this.heap[0]!;
      const stamp = top.oldestStamp;
      if (stamp === this.stamps[0]) return top;
      if (stamp < 0) this.remove(top);
      else {
        this.times[0] = top.oldestTs;
        this.stamps[0] = stamp;
        this.down(0);
      }
    }
    return null;
  }

  private before(a: number, b: number): boolean {
    return this.times[a]! < this.times[b]! || (this.times[a] === this.times[b] && this.stamps[a]! < this.stamps[b]!);
  }

  private move(from: number, to: number): void {
    const log = this.heap[from]!;
    this.heap[to] = log;
    this.times[to] = this.times[from]!;
    this.stamps[to] = this.stamps[from]!;
    log.heapAt = to;
  }

  private swap(a: number, b: number): void {
    const log = this.heap[a]!;
    const time = this.times[a]!;
    const stamp = this.stamps[a]!;
    this.move(b, a);
    this.heap[b] = log;
    this.times[b] = time;
    this.stamps[b] = stamp;
    log.heapAt = b;
  }

  private up(at: number): void {
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (!this.before(at, parent)) return;
      this.swap(at, parent);
      at = parent;
    }
  }

  private down(at: number): void {
    for (;;) {
      const left = 2 * at + 1;
      if (left >= this.heap.length) return;
      const right = left + 1;
      const child = right < this.heap.length && this.before(right, left) ? right : left;
      if (!this.before(child, at)) return;
      this.swap(at, child);
      at = child;
    }
  }
}
