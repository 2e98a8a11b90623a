// The room registry of the original design: room key -> room, in memory, backed
// by the store. It owns the rooms' lifecycle: created by a first join (durably,
// before that member's 101), live while occupied, idle when empty, purged after
// ROOM_RETENTION, and restored empty after a restart.

import { accessOfRecord, type RoomAccess } from '../access/room-access';
import { type HistorySource, type JoinView, LocalHistorySource, NO_REPLAY, type ReplayWanted } from '../history/history-source';
import { RoomHistory } from '../history/room-history';
import { sameCreation, type RoomRecord, type WriteOutcome } from '../persistence/types';
import type { RoomDelivery, RoomMessage } from './delivery';
import type { RoomMember } from './member';
import { Room, type RoomOrigin } from './room';

/** The part of the store the registry writes to. */
export interface RoomPersistence {
  save(record: RoomRecord): Promise<WriteOutcome>;
  remove(room: string): Promise<WriteOutcome>;
}

/** `view`: what the member's welcome and replay say (call view.done() if it never joins). */
export type Admission = { ok: true; room: Room; created: boolean; view: JoinView } | { ok: false; reason: string };

export interface RegistryOptions {
  /** How long an empty room is kept; 0 deletes it with its last member. */
  retentionMs: number;
  now?: () => number;
  /** Seqs, epochs and kept messages per room (src/history); by default none kept, seqs still counted. */
  history?: RoomHistory;
  /** Where seqs, epochs and replays come from; by default `history` (a cluster: Redis, src/cluster). */
  source?: HistorySource;
  /**
   * A cluster: after a room's creation is durable, what the store now holds for
   * its key. Another node may have created the same key at the same moment; the
   * store's merge kept one owner and creation time, and every node adopts it.
   */
  readBack?: (key: string) => Promise<RoomRecord | null>;
}

export interface RoomSummary {
  room: string;
  members: number;
  owner: string;
  createdAt: string;
  status: string;
  protected: boolean;
  locked: boolean;
}

export class RoomRegistry {
  private readonly rooms = new Map<string, Room>();
  /** The writable side of each room's owner and creation time: only restore() changes them. */
  private readonly origins = new WeakMap<Room, RoomOrigin>();
  private readonly now: () => number;
  /** While shutting down, members leave because we close them: rooms stay as they were stored. */
  private frozen = false;
  readonly history: RoomHistory;
  readonly source: HistorySource;

  constructor(
    private readonly persistence: RoomPersistence,
    private readonly delivery: RoomDelivery,
    private readonly options: RegistryOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.history = options.history ?? new RoomHistory({ size: 0, ttlMs: 0, now: this.now });
    this.source = options.source ?? new LocalHistorySource(this.history);
  }

  get size(): number {
    return this.rooms.size;
  }

  get(key: string): Room | undefined {
    return this.rooms.get(key);
  }

  /**
   * Puts stored rooms back, empty, keeping owner and creation time. A room that was
   * live when the server stopped gets a fresh retention period from now, so its
   * members have the whole period to come back.
   *
   * A key already in memory (created here while the store was down, before it
   * could say the room existed; the late load) keeps its members, status and
   * activity, but the stored creation wins: a stored room of another creation
   * gives the in-memory one its owner, creation time and access, as the store's
   * own write rule keeps the row (persistence/types.ts applySave). The store
   * leaves out rows of rooms removed and created again meanwhile, so those keep
   * theirs. This and a creation's read-back are the only ways a room's owner or
   * creation time ever changes.
   */
  restore(records: readonly RoomRecord[]): number {
    const now = this.now();
    let restored = 0;
    for (const record of records) {
      const existing = this.rooms.get(record.room);
      if (existing !== undefined) {
        const origin = this.origins.get(existing);
        if (origin && !sameCreation(record, existing.record())) {
          origin.owner = record.owner;
          origin.createdAt = record.createdAt;
          existing.access = accessOfRecord(record);
        }
        continue;
      }
      const lastActivity = record.status === 'live' ? Math.max(now, record.lastActivity) : record.lastActivity;
      const room = this.newRoom(record.room, record.owner, record.createdAt, 'idle', lastActivity);
      room.access = accessOfRecord(record);
      this.rooms.set(record.room, room);
      restored++;
    }
    return restored;
  }

  private newRoom(key: string, owner: string, createdAt: number, status: RoomRecord['status'], lastActivity: number): Room {
    const origin: RoomOrigin = { owner, createdAt };
    const room = new Room(key, origin, status, lastActivity);
    this.origins.set(room, origin);
    return room;
  }

  /**
   * Before a member's 101: finds the room, or creates it with this member as owner.
   * Creation waits until the store has the row (or has queued it while down), so a
   * room whose first member was told "101" survives a crash a moment later.
   */
  /**
   * The common case without waiting: the room exists and its creation is written.
   * Null means "call admit()": the room is new, or its first write is still under way.
   */
  admitNow(key: string): Room | null {
    const room = this.rooms.get(key);
    return room !== undefined && room.settled && (this.delivery.attached?.(room) ?? true) ? room : null;
  }

  /** `access`: what a room created by this join starts with (its secret hash, owner token hash); `wanted`: the replay the join asks for. */
  async admit(key: string, name: string, access?: RoomAccess, wanted: ReplayWanted = NO_REPLAY): Promise<Admission> {
    let room = this.rooms.get(key);
    let created = false;
    let createdElsewhere = false;
    if (room === undefined) {
      const now = this.now();
      room = this.newRoom(key, name, now, 'live', now);
      if (access !== undefined) room.access = { ...access };
      // In the map at once, so concurrent first joins share one room and one write.
      this.rooms.set(key, room);
      const creating = room;
      creating.settled = false;
      // A new room is a new history: whatever its key had before is gone, under a new epoch.
      this.source.created(key);
      const readBack = this.options.readBack;
      room.ready = this.persistence.save(room.record()).then(async (outcome) => {
        if (outcome === 'durable' && readBack !== undefined) {
          // Another node's creation of the key may have been stored first: then that is the room.
          const stored = await readBack(key).catch(() => null);
          const origin = this.origins.get(creating);
          if (stored !== null && origin !== undefined && !sameCreation(stored, creating.record())) {
            origin.owner = stored.owner;
            origin.createdAt = stored.createdAt;
            creating.access = accessOfRecord(stored);
            createdElsewhere = true;
          }
        }
        creating.settled = true;
        return outcome;
      });
      created = true;
    }
    room.pendingAdmissions++;
    const outcome = await room.ready;
    // This join did not create the room after all: its access is decided again, as a join (access-control.ts).
    if (createdElsewhere) created = false;
    // A cluster follows the room before the 101, so nothing sent after the join is missed.
    if (outcome !== 'refused') await this.delivery.attach?.(room);
    // Read after the room's traffic reaches us, and while the admission keeps it followed.
    const view = outcome === 'refused' ? null : (this.source.viewNow(room) ?? (await this.source.view(room, wanted)));
    room.pendingAdmissions--;
    if (outcome === 'refused' || view === null) {
      if (this.rooms.get(key) === room && room.members.size === 0) {
        this.rooms.delete(key);
        this.source.removed(key);
      }
      return { ok: false, reason: 'the room store is unavailable and this room could not be saved anywhere (write queue full, or its journal unwritable); try again later' };
    }
    return { ok: true, room, created, view };
  }

  /** After the 101: the member is in, and the other JSON members hear "joined". */
  join(room: Room, member: RoomMember): void {
    room.members.add(member);
    if (room.status !== 'live') {
      room.status = 'live';
      room.lastActivity = this.now();
      void this.persistence.save(room.record());
    }
    this.delivery.presence(room, member, 'joined');
  }

  /** welcome.members: every member, in every process of a cluster. */
  memberNames(room: Room): string[] {
    return this.delivery.memberNames?.(room) ?? room.memberNames();
  }

  relay(room: Room, sender: RoomMember, message: RoomMessage): void {
    this.source.sequence(room, message);
    this.delivery.relay(room, sender, message);
  }

  leave(room: Room, member: RoomMember): void {
    if (!room.members.delete(member)) return;
    this.delivery.presence(room, member, 'left');
    this.release(room);
  }

  /** A room admitted for a member who never joined (the socket closed before the 101) or just left. */
  release(room: Room): void {
    if (room.members.size > 0 || room.pendingAdmissions > 0) return;
    this.delivery.detach?.(room);
    if (this.frozen || this.rooms.get(room.key) !== room) return;
    // Empty here but not in another process of the cluster: that one writes 'idle' when it
    // empties. Here it is idle in memory only, so a later join here writes 'live' again,
    // and the purge asks the cluster before deleting it.
    if ((this.delivery.membersElsewhere?.(room) ?? 0) > 0) {
      room.status = 'idle';
      room.lastActivity = this.now();
      return;
    }
    if (this.options.retentionMs <= 0) {
      this.rooms.delete(room.key);
      this.source.removed(room.key);
      void this.persistence.remove(room.key);
      return;
    }
    room.status = 'idle';
    room.lastActivity = this.now();
    void this.persistence.save(room.record());
  }

  /** Idle rooms whose retention has passed (a cluster asks Redis whether they are empty everywhere). */
  expiredRooms(): Room[] {
    const cutoff = this.now() - this.options.retentionMs;
    return [...this.rooms.values()].filter((room) => room.status === 'idle' && room.members.size === 0 && room.lastActivity <= cutoff);
  }

  /** Deletes idle rooms whose retention has passed; returns their keys. `occupied`: keys with members on another node, kept. */
  purgeExpired(occupied?: ReadonlySet<string>): string[] {
    const cutoff = this.now() - this.options.retentionMs;
    const purged: string[] = [];
    for (const room of this.rooms.values()) {
      if (occupied?.has(room.key)) {
        room.lastActivity = this.now();
        continue;
      }
      if (room.status === 'idle' && room.members.size === 0 && room.lastActivity <= cutoff) {
        this.rooms.delete(room.key);
        this.source.removed(room.key);
        void this.persistence.remove(room.key);
        purged.push(room.key);
      }
    }
    return purged;
  }

  /** Writes a room's changed access (lock, secret); the room stays as it is. */
  saveAccess(room: Room): Promise<WriteOutcome> {
    return this.persistence.save(room.record());
  }

  /**
   * The owner's close_room (or the admin's DELETE): the room leaves memory and the
   * store at once, so its owner token and secret stop working; its members are
   * closed by the caller, and their leaving no longer touches the store.
   */
  closeRoom(room: Room): boolean {
    if (this.rooms.get(room.key) !== room) return false;
    this.rooms.delete(room.key);
    // Its history and epoch go with it (CONTRACT.md: a room created again starts a new epoch).
    this.source.removed(room.key);
    void this.persistence.remove(room.key);
    return true;
  }

  /**
   * A room closed on another node of a cluster: it leaves this node's memory only
   * (that node already removed it from the store and Redis). Its members are
   * closed by the caller; their leaving touches nothing.
   */
  forget(room: Room): boolean {
    if (this.rooms.get(room.key) !== room) return false;
    this.rooms.delete(room.key);
    this.history.removed(room.key);
    return true;
  }

  freeze(): void {
    this.frozen = true;
  }

  /** summaries() with member counts from `count` (a cluster's, over every node). */
  async summariesCounted(count: (rooms: Room[]) => Promise<Map<string, number>>): Promise<RoomSummary[]> {
    const counts = await count([...this.rooms.values()]);
    return this.summaries().map((summary) => {
      const members = counts.get(summary.room) ?? summary.members;
      return { ...summary, members, status: members > 0 ? 'live' : summary.status };
    });
  }

  summaries(): RoomSummary[] {
    return [...this.rooms.values()].map((room) => ({
      room: room.key,
      members: room.members.size,
      owner: room.owner,
      createdAt: new Date(room.createdAt).toISOString(),
      status: room.status,
      protected: room.access.secretHash !== null,
      locked: room.access.locked,
    }));
  }
}
