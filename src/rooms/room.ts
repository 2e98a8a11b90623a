// One room: its key, owner, creation time, lifecycle status and present members.
// A room is "live" while it has members and "idle" once the last one left; an
// idle room keeps its owner until ROOM_RETENTION passes, then it is purged.

import { openAccess, type RoomAccess } from '../access/room-access';
import type { RoomRecord, RoomStatus, WriteOutcome } from '../persistence/types';
import type { RoomMember } from './member';

/**
 * Who created the room and when. The registry creates it with the room and keeps
 * the only reference that can change it (RoomRegistry.restore merging a stored,
 * earlier creation in); everyone else reads it through Room.owner/createdAt.
 */
export interface RoomOrigin {
  owner: string;
  /** ms since the epoch */
  createdAt: number;
}

export class Room {
  readonly members = new Set<RoomMember>();
  status: RoomStatus;
  lastActivity: number;
  /** Joins between admit() and join()/release(): the room must not be emptied away under them. */
  pendingAdmissions = 0;
  /** Settles when the room's creation is durable (or queued, or refused) in the store; joins wait on it. */
  ready: Promise<WriteOutcome> = Promise.resolve('durable');
  /** False while the creation write is under way: joins must wait on `ready`. */
  settled = true;
  /** Who may enter (secret hash, owner token hash, lock): see src/access. */
  access: RoomAccess = openAccess();
  private readonly origin: Readonly<RoomOrigin>;

  constructor(
    readonly key: string,
    origin: Readonly<RoomOrigin>,
    status: RoomStatus,
    lastActivity: number,
  ) {
    this.origin = origin;
    this.status = status;
    this.lastActivity = lastActivity;
  }

  get owner(): string {
    return this.origin.owner;
  }

  get createdAt(): number {
    return this.origin.createdAt;
  }

  record(): RoomRecord {
    const record: RoomRecord = { room: this.key, owner: this.owner, createdAt: this.createdAt, status: this.status, lastActivity: this.lastActivity };
    // Access fields only when set, so records of open rooms look as they always did.
    const { secretHash, ownerTokenHash, locked } = this.access;
    if (secretHash !== null) record.secretHash = secretHash;
    if (ownerTokenHash !== null) record.ownerTokenHash = ownerTokenHash;
    if (locked) record.locked = true;
    return record;
  }

  memberNames(): string[] {
    return [...this.members].map((member) => member.name);
  }
}
