// What one node knows of a room's members on the other nodes: a multiset of
// names per node, kept from a snapshot plus the versioned changes published
// after it. Pure: no Redis, no timers. Every change, this node's own included,
// advances the version by one; a gap or a step back (Redis lost the version
// key) means the picture is no longer trustworthy, and the caller reads a fresh
// snapshot. Returned changes become joined/left frames for local JSON members.

import { NODE_ID_LENGTH } from './envelope';

export interface NameChange {
  name: string;
  /** > 0: that many joined; < 0: that many left */
  delta: number;
}

export type EventOutcome = { kind: 'applied'; changes: NameChange[] } | { kind: 'buffered' } | { kind: 'resync' };

interface PendingEvent {
  version: number;
  node: string;
  delta: number;
  name: string | null;
}

export class RemotePresence {
  /** field (node id + name) -> connections, other nodes only */
  private counts = new Map<string, number>();
  private version = 0;
  /** Events that arrived while a snapshot was being read; null when none is. */
  private pending: PendingEvent[] | null = null;

  constructor(private readonly self: string) {}

  get loading(): boolean {
    return this.pending !== null;
  }

  /** A snapshot is about to be read: hold events until it is applied. */
  beginSnapshot(): void {
    this.pending ??= [];
  }

  /** `flat` is HGETALL's [field, count, field, count...]. */
  applySnapshot(version: number, flat: readonly string[]): EventOutcome {
    const next = new Map<string, number>();
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const field = flat[i]!;
      const count = Number(flat[i + 1]);
      if (field.length <= NODE_ID_LENGTH || field.startsWith(this.self) || !(count > 0)) continue;
      next.set(field, count);
    }
    const changes = diff(this.counts, next);
    this.counts = next;
    this.version = version;
    const held = this.pending ?? [];
    this.pending = null;
    for (const event of held) {
      if (event.version <= version) continue;
      const outcome = this.step(event);
      if (outcome.kind !== 'applied') return outcome;
      changes.push(...outcome.changes);
    }
    return { kind: 'applied', changes };
  }

  /** A presence change (name set) or a resync notice (name null) published on the room's channel. */
  onEvent(version: number, node: string, delta: number, name: string | null): EventOutcome {
    const event = { version, node, delta, name };
    if (this.pending !== null) {
      this.pending.push(event);
      return { kind: 'buffered' };
    }
    return this.step(event);
  }

  private step(event: PendingEvent): EventOutcome {
    if (event.version !== this.version + 1) return { kind: 'resync' };
    this.version = event.version;
    if (event.node === this.self) return { kind: 'applied', changes: [] };
    // Another node rebuilt its entries: only a snapshot says what they are now.
    if (event.name === null) return { kind: 'resync' };
    const field = event.node + event.name;
    const before = this.counts.get(field) ?? 0;
    const after = Math.max(0, before + event.delta);
    if (after === 0) this.counts.delete(field);
    else this.counts.set(field, after);
    return { kind: 'applied', changes: after === before ? [] : [{ name: event.name, delta: after - before }] };
  }

  /** Forget everything (this node stopped following the room); nobody is told. */
  clear(): void {
    this.counts.clear();
    this.version = 0;
    this.pending = null;
  }

  names(): string[] {
    const out: string[] = [];
    for (const [field, count] of this.counts) {
      const name = field.slice(NODE_ID_LENGTH);
      for (let i = 0; i < count; i++) out.push(name);
    }
    return out;
  }

  total(): number {
    let n = 0;
    for (const count of this.counts.values()) n += count;
    return n;
  }
}

function diff(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>): NameChange[] {
  const changes: NameChange[] = [];
  for (const [field, count] of after) {
    const delta = count - (before.get(field) ?? 0);
    if (delta !== 0) changes.push({ name: field.slice(NODE_ID_LENGTH), delta });
  }
  for (const [field, count] of before) if (!after.has(field)) changes.push({ name: field.slice(NODE_ID_LENGTH), delta: -count });
  return changes;
}
