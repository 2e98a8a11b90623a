// What a room knows of a member: a name, the protocol mode it joined with, and a
// way to hand it an encoded frame. The room never sees sockets.

export type MemberMode = 'raw' | 'json';

export interface RoomMember {
  readonly name: string;
  readonly mode: MemberMode;
  /** Window bits for permessage-deflate frames to this member, or 0 when it takes only plain frames. */
  readonly deflateWindowBits: number;
  /** Queues an already-encoded frame for this member; the same bytes may go to many members. */
  deliver(frame: Buffer): void;
  /**
   * Optional: queues one frame given as its header and its payload, to be written
   * back to back (a large payload is then never copied into a frame). Members
   * without it get `deliver` with the two joined.
   */
  deliverParts?(header: Buffer, payload: Buffer): void;
}
