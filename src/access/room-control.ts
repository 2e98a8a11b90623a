// What an owner command does to the members of a room, behind an interface: in
// one process it acts on the members here (LocalRoomControl); a cluster layer can
// implement the same calls by acting here and publishing them to the other nodes,
// as RoomDelivery does for messages.

import { encodeFrame } from '../frames/frame-encoder';
import { Opcode } from '../frames/opcodes';
import type { RoomMember } from '../rooms/member';
import type { Room } from '../rooms/room';
import { roomStateFrame } from './room-access';

export const KICKED = { code: 4001, reason: "removed by the room's owner" } as const;
export const ROOM_CLOSED = { code: 4002, reason: 'room closed by its owner' } as const;

/**
 * A cluster implementation acts on its own node's members and publishes each call
 * (with `room.access` for announceState) so every node does the same to its
 * members and takes the new access into its copy of the room; the store already
 * holds the truth for joins on any node after a restart.
 */
export interface RoomControl {
  /** Closes every member named `name` with 4001; returns how many were here. */
  kick(room: Room, name: string): number;
  /** Closes every member with 4002 (the room is already gone from the registry and the store). */
  closeMembers(room: Room): void;
  /** `{"type":"room","locked","protected"}` to every JSON member. */
  announceState(room: Room): void;
}

/** A member that can be closed: the server's peers are. */
interface ClosableMember extends RoomMember {
  close(code: number, reason: string): void;
}

function closable(member: RoomMember): member is ClosableMember {
  return typeof (member as Partial<ClosableMember>).close === 'function';
}

export class LocalRoomControl implements RoomControl {
  kick(room: Room, name: string): number {
    let kicked = 0;
    for (const member of [...room.members]) {
      if (member.name !== name || !closable(member)) continue;
      member.close(KICKED.code, KICKED.reason);
      kicked++;
    }
    return kicked;
  }

  closeMembers(room: Room): void {
    for (const member of [...room.members]) if (closable(member)) member.close(ROOM_CLOSED.code, ROOM_CLOSED.reason);
  }

  announceState(room: Room): void {
    let frame: Buffer | null = null;
    for (const member of room.members) {
      if (member.mode !== 'json') continue;
      frame ??= encodeFrame(Opcode.Text, Buffer.from(roomStateFrame(room.access)));
      member.deliver(frame);
    }
  }
}
