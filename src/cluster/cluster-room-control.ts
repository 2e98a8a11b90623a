// Owner commands across a cluster (RoomControl): a node acts on its own members
// and publishes the command on the room's channel, and every other node that
// follows the room does the same to its members. The state a join is decided by
// (secret hash, lock, closed) is also written to Redis first, and a node reads it
// before deciding a join, so no node admits by a state the owner already changed.
// A command given while Redis is away is owed, in order, and published once it
// has been back long enough for every node to listen again: a kick or a close
// reaches the other nodes' members late, never not at all.

import { accessOfRecord, type RoomAccess } from '../access/room-access';
import { LocalRoomControl, type RoomControl } from '../access/room-control';
import type { RoomRecord } from '../persistence/types';
import type { Room } from '../rooms/room';
import type { RoomRegistry } from '../rooms/room-registry';
import type { ClusterDelivery } from './cluster-delivery';

/** On the channel. `createdAt` names the room's incarnation: a room closed and made again is another room. */
type ControlEvent = { node: string; createdAt: number } & ({ op: 'kick'; name: string } | { op: 'close' } | { op: 'access'; access: RoomAccess });

/** Commands a node may owe the others while Redis is away; past it the oldest are dropped (and logged). */
const MAX_OWED = 1024;

interface Owed {
  key: string;
  event: string;
  state: string | null;
}

/** In Redis (names.access): what a node must admit by. */
interface AccessState {
  createdAt: number;
  closed: boolean;
  access: RoomAccess;
}

export class ClusterRoomControl implements RoomControl {
  private readonly local = new LocalRoomControl();
  /** Published when Redis is back, oldest first; while any is owed, later commands queue behind it (order is the owner's). */
  private owed: Owed[] = [];
  private draining = false;

  constructor(
    private readonly delivery: ClusterDelivery,
    private readonly registry: RoomRegistry,
    /** The shared room store's read, when it has one: a room made on another node is found there. */
    private readonly read?: (key: string) => Promise<RoomRecord | null>,
    private readonly log?: (level: 'warn', event: string, fields: Record<string, unknown>) => void,
  ) {}

  /** How many commands wait for Redis (for /healthz and the tests). */
  get owedCount(): number {
    return this.owed.length;
  }

  /** Redis is back and every node listens again: the commands given meanwhile go out, in order (a no-op when none is owed). */
  async resend(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.owed.length > 0) {
        const next = this.owed[0]!;
        try {
          await this.delivery.publishControl(next.key, next.event, next.state);
        } catch {
          return; // away again: the next return of Redis resumes here
        }
        this.owed.shift();
      }
    } finally {
      this.draining = false;
    }
  }

  /**
   * This node stops: what it owes goes out now if Redis answers (late beats never,
   * even before every node listens again); what cannot is logged, counted and never
   * named (a room key is the only secret of an unprotected room), so an operator
   * knows a kick or a close given during the outage did not reach the other nodes.
   */
  async beforeStop(): Promise<void> {
    await this.resend();
    if (this.owed.length > 0) this.log?.('warn', 'owner_commands_lost', { commands: this.owed.length, rooms: new Set(this.owed.map((o) => o.key)).size });
  }

  kick(room: Room, name: string): number {
    const here = this.local.kick(room, name);
    void this.publish(room, { op: 'kick', name }, null);
    return here;
  }

  closeMembers(room: Room): void {
    this.local.closeMembers(room);
    void this.publish(room, { op: 'close' }, { createdAt: room.createdAt, closed: true, access: room.access });
  }

  /** The owner hears the new state once Redis has it (or once it is owed): every node admits by it from then on. */
  announceState(room: Room): void {
    void this.publish(room, { op: 'access', access: room.access }, { createdAt: room.createdAt, closed: false, access: room.access }).finally(() => this.local.announceState(room));
  }

  /** A command another node published, for a room this node follows. */
  onControl(room: Room, json: string): void {
    const event = parse<ControlEvent>(json);
    if (event === null || event.node === this.delivery.node) return;
    // A shared store gives every node the same creation time; per-node stores do not, and then any event for the key counts.
    if (this.read !== undefined && event.createdAt !== room.createdAt) return;
    if (this.registry.get(room.key) !== room) return;
    switch (event.op) {
      case 'kick':
        this.local.kick(room, event.name);
        return;
      case 'close':
        this.registry.forget(room);
        this.local.closeMembers(room);
        return;
      case 'access':
        room.access = { ...event.access };
        this.local.announceState(room);
        return;
    }
  }

  /**
   * Before a join is decided: a room made on another node is taken from the shared
   * store, and the owner's latest state from Redis replaces what this node holds
   * (it may not have followed the room when the command went out).
   */
  async refresh(key: string): Promise<void> {
    let room = this.registry.get(key);
    if (room === undefined && this.read !== undefined) {
      const record = await this.read(key).catch(() => null);
      if (record !== null && this.registry.get(key) === undefined) this.registry.restore([record]);
      room = this.registry.get(key);
    }
    if (room === undefined) return;
    let json: string | null;
    try {
      json = await this.delivery.readAccess(key);
    } catch {
      return this.refreshFromStore(room);
    }
    const state = parse<AccessState>(json);
    if (state === null || state.createdAt !== room.createdAt || this.registry.get(key) !== room) return;
    if (state.closed) this.closedElsewhere(room);
    else room.access = { ...state.access };
  }

  /**
   * Redis cannot say what the owner last set (down or stalled): the shared store can,
   * since every owner command also saves the room's access there. The store's read
   * answers null both for "no such room" and for "cannot say", so a missing record
   * changes nothing (a close_room given elsewhere meanwhile reaches this node's
   * members only through Redis). Without a shared store, or when it cannot be read,
   * the state last known here decides.
   */
  private async refreshFromStore(room: Room): Promise<void> {
    if (this.read === undefined) return;
    const record = await this.read(room.key).catch(() => null);
    // Another incarnation's record (the room made again meanwhile) says nothing about this one.
    if (record === null || record.createdAt !== room.createdAt || this.registry.get(room.key) !== room) return;
    room.access = accessOfRecord(record);
  }

  private closedElsewhere(room: Room): void {
    this.registry.forget(room);
    this.local.closeMembers(room);
  }

  /** Resolves once Redis has the command, or once it is owed (never rejects). */
  private async publish(room: Room, command: { op: 'kick'; name: string } | { op: 'close' } | { op: 'access'; access: RoomAccess }, state: AccessState | null): Promise<void> {
    const event = { node: this.delivery.node, createdAt: room.createdAt, ...command };
    const item: Owed = { key: room.key, event: JSON.stringify(event), state: state === null ? null : JSON.stringify(state) };
    if (this.owed.length > 0) return this.owe(item);
    try {
      await this.delivery.publishControl(item.key, item.event, item.state);
    } catch {
      this.owe(item);
    }
  }

  private owe(item: Owed): void {
    if (this.owed.length >= MAX_OWED) {
      this.owed.shift();
      this.log?.('warn', 'cluster_control_dropped', { owed: MAX_OWED });
    }
    this.owed.push(item);
  }
}

function parse<T>(json: string | null): T | null {
  if (json === null) return null;
  try {
    return JSON.parse(json) as T;
  } catch {
    return null;
  }
}
