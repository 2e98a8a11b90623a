// Delivery to a room's members, behind an interface so a broker spanning several
// server processes can take the place of the in-process one without touching the
// protocol code. Each relayed message is encoded once per mode, not per receiver.

import { COMPRESS_THRESHOLD, type CompressionStats, deflateMessage } from '../extensions/permessage-deflate';
import { encodeFrame, encodeHeader } from '../frames/frame-encoder';
import { Opcode, type DataOpcode } from '../frames/opcodes';
import { messageFrame, presenceFrame } from './json-protocol';
import type { RoomMember } from './member';
import type { Room } from './room';

export interface RoomMessage {
  from: string;
  opcode: DataOpcode;
  /** For text, UTF-8 bytes; the same bytes go to raw members unchanged (CONTRACT.md, raw mode). */
  payload: Buffer;
  ts: number;
  /** The room's sequence number within its epoch: history's in one process (src/history), Redis's sequencer in a cluster (src/cluster). */
  seq: number;
}

export interface RoomDelivery {
  /** To every member of `room` except `sender`; never to another room. */
  relay(room: Room, sender: RoomMember, message: RoomMessage): void;
  /** joined/left, to the JSON members other than `member`. */
  presence(room: Room, member: RoomMember, kind: 'joined' | 'left'): void;
  // A delivery spanning several processes (src/cluster) also implements these:
  /** Before a join's 101: null when the room's traffic already reaches this process, else a promise that settles when it does. */
  attach?(room: Room): Promise<void> | null;
  /** Whether a join may be answered now (attach would return null). */
  attached?(room: Room): boolean;
  /** The room has no member and no admission left in this process. */
  detach?(room: Room): void;
  /** welcome.members: this process's members and the other processes'. */
  memberNames?(room: Room): string[];
  /** Members in other processes, as last known. */
  membersElsewhere?(room: Room): number;
}

export class LocalDelivery implements RoomDelivery {
  constructor(private readonly stats: CompressionStats | null = null) {}

  relay(room: Room, sender: RoomMember, message: RoomMessage): void {
    const raw = new EncodedOnce(message.opcode, message.payload, this.stats);
    let json: EncodedOnce | null = null;
    for (const member of room.members) {
      if (member === sender) continue;
      if (member.mode === 'raw') {
        raw.deliverTo(member);
      } else {
        json ??= new EncodedOnce(Opcode.Text, jsonMessageBody(message), this.stats);
        member.deliver(json.frameFor(member.deflateWindowBits));
      }
    }
  }

  presence(room: Room, member: RoomMember, kind: 'joined' | 'left'): void {
    // Presence frames are a few dozen bytes: below the compression threshold, always plain.
    let frame: Buffer | null = null;
    for (const other of room.members) {
      if (other === member || other.mode !== 'json') continue;
      frame ??= encodeFrame(Opcode.Text, Buffer.from(presenceFrame(kind, member.name)));
      other.deliver(frame);
    }
  }
}

export function jsonMessageBody(message: RoomMessage): Buffer {
  const body =
    message.opcode === Opcode.Text
      ? messageFrame(message.from, message.payload.toString('utf8'), message.ts, undefined, message.seq)
      : messageFrame(message.from, message.payload.toString('base64'), message.ts, 'base64', message.seq);
  return Buffer.from(body);
}

/** Payloads from this size are sent as header + payload: copying them costs more than a second buffer in a writev. */
const SPLIT_BYTES = 16 * 1024;

/**
 * One message's frames, each built at most once: plain, and compressed per window
 * size (RFC 7692; our messages never depend on earlier ones, so compressed bytes
 * can be shared by every receiver that negotiated the same window).
 */
class EncodedOnce {
  private plain: Buffer | null = null;
  private plainHeader: Buffer | null = null;
  private compressed: Map<number, Buffer | null> | null = null;

  constructor(
    private readonly opcode: DataOpcode,
    private readonly payload: Buffer,
    private readonly stats: CompressionStats | null,
  ) {}

  /** A large plain payload goes as header + payload, not copied into a frame, to members that take parts. */
  deliverTo(member: RoomMember): void {
    if (member.deliverParts !== undefined && member.deflateWindowBits === 0 && this.payload.length >= SPLIT_BYTES) {
      member.deliverParts((this.plainHeader ??= encodeHeader(this.opcode, this.payload.length)), this.payload);
    } else {
      member.deliver(this.frameFor(member.deflateWindowBits));
    }
  }

  frameFor(deflateWindowBits: number): Buffer {
    if (deflateWindowBits === 0 || this.payload.length < COMPRESS_THRESHOLD) return (this.plain ??= encodeFrame(this.opcode, this.payload));
    this.compressed ??= new Map();
    let frame = this.compressed.get(deflateWindowBits);
    if (frame === undefined) {
      const body = deflateMessage(this.payload, deflateWindowBits);
      frame = body === null ? null : encodeFrame(this.opcode, body, { rsv1: true });
      if (body !== null && this.stats !== null) {
        this.stats.deflatedFrom += this.payload.length;
        this.stats.deflatedTo += body.length;
      }
      this.compressed.set(deflateWindowBits, frame);
    }
    return frame ?? (this.plain ??= encodeFrame(this.opcode, this.payload));
  }
}
