// Delivery to a room's members, behind an interface so a broker spanning several
// server processes can take the place of the in-process one without touching the
// protocol code. Each relayed message is encoded once per mode, not per receiver.

import { encodeFrame } from '../frames/frame-encoder';
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
}

export interface RoomDelivery {
  /** To every member of `room` except `sender`; never to another room. */
  relay(room: Room, sender: RoomMember, message: RoomMessage): void;
  /** joined/left, to the JSON members other than `member`. */
  presence(room: Room, member: RoomMember, kind: 'joined' | 'left'): void;
}

export class LocalDelivery implements RoomDelivery {
  relay(room: Room, sender: RoomMember, message: RoomMessage): void {
    let rawFrame: Buffer | null = null;
    let jsonFrame: Buffer | null = null;
    for (const member of room.members) {
      if (member === sender) continue;
      if (member.mode === 'raw') {
        rawFrame ??= encodeFrame(message.opcode, message.payload);
        member.deliver(rawFrame);
      } else {
        jsonFrame ??= encodeJsonMessage(message);
        member.deliver(jsonFrame);
      }
    }
  }

  presence(room: Room, member: RoomMember, kind: 'joined' | 'left'): void {
    let frame: Buffer | null = null;
    for (const other of room.members) {
      if (other === member || other.mode !== 'json') continue;
      frame ??= encodeFrame(Opcode.Text, Buffer.from(presenceFrame(kind, member.name)));
      other.deliver(frame);
    }
  }
}

function encodeJsonMessage(message: RoomMessage): Buffer {
  const body =
    message.opcode === Opcode.Text
      ? messageFrame(message.from, message.payload.toString('utf8'), message.ts)
      : messageFrame(message.from, message.payload.toString('base64'), message.ts, 'base64');
  return encodeFrame(Opcode.Text, Buffer.from(body));
}
