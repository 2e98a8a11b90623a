// The owner's commands in JSON mode (CONTRACT.md, "The owner"): kick, lock,
// unlock, set_secret, close_room. Parsing is pure; acting goes through the
// registry (store) and a RoomControl (members), so a cluster can carry it.
// Anyone but the owner gets `forbidden` and stays connected.

import type { Room } from '../rooms/room';
import type { RoomRegistry } from '../rooms/room-registry';
import type { JoinRole } from './join-tokens';
import type { RoomControl } from './room-control';
import { MAX_SECRET_CHARS, MIN_SECRET_CHARS, type SecretHasher, secretLengthOk } from './secret-hash';

export type OwnerCommand =
  | { type: 'kick'; name: string }
  | { type: 'lock' }
  | { type: 'unlock' }
  | { type: 'set_secret'; secret: string | null }
  | { type: 'close_room' };

export type ParsedCommand = { ok: true; command: OwnerCommand } | { ok: false; code: 'bad_command'; message: string } | null;

const TYPES = new Set(['kick', 'lock', 'unlock', 'set_secret', 'close_room']);

/** Null when the frame is not an owner command at all (then it is some other unknown type). */
export function parseOwnerCommand(text: string): ParsedCommand {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const frame = value as Record<string, unknown>;
  const type = frame.type;
  if (typeof type !== 'string' || !TYPES.has(type)) return null;
  switch (type) {
    case 'kick':
      return typeof frame.name === 'string' && frame.name.length > 0 ? { ok: true, command: { type, name: frame.name } } : { ok: false, code: 'bad_command', message: 'kick needs "name" as a string' };
    case 'set_secret':
      if (frame.secret === null) return { ok: true, command: { type, secret: null } };
      if (typeof frame.secret === 'string' && secretLengthOk(frame.secret)) return { ok: true, command: { type, secret: frame.secret } };
      return { ok: false, code: 'bad_command', message: `set_secret needs "secret": a string of ${MIN_SECRET_CHARS}-${MAX_SECRET_CHARS} characters, or null to remove it` };
    default:
      return { ok: true, command: { type: type as 'lock' | 'unlock' | 'close_room' } };
  }
}

export interface CommandSender {
  readonly role: JoinRole;
}

export class OwnerCommands {
  constructor(
    private readonly registry: RoomRegistry,
    private readonly control: RoomControl,
    private readonly hasher: SecretHasher,
  ) {}

  /**
   * Handles `text` if it is an owner command, answering errors through `reply`;
   * false when it is not one (the caller answers unknown_type as before).
   */
  handle(sender: CommandSender, room: Room, text: string, reply: (frame: string) => void): boolean {
    const parsed = parseOwnerCommand(text);
    if (parsed === null) return false;
    if (sender.role !== 'owner') {
      reply(errorJson('forbidden', "only the room's owner may do that"));
      return true;
    }
    if (!parsed.ok) {
      reply(errorJson(parsed.code, parsed.message));
      return true;
    }
    void this.run(parsed.command, room, reply);
    return true;
  }

  /** Also the admin's DELETE /admin/rooms/KEY. */
  closeRoom(room: Room): boolean {
    if (!this.registry.closeRoom(room)) return false;
    this.control.closeMembers(room);
    return true;
  }

  private async run(command: OwnerCommand, room: Room, reply: (frame: string) => void): Promise<void> {
    // A room closed meanwhile is not this room any more: nothing to act on.
    if (this.registry.get(room.key) !== room) return;
    switch (command.type) {
      case 'kick':
        this.control.kick(room, command.name);
        return;
      case 'lock':
      case 'unlock':
        room.access = { ...room.access, locked: command.type === 'lock' };
        break;
      case 'set_secret': {
        let secretHash: string | null = null;
        if (command.secret !== null) {
          const hashed = await this.hasher.hash(command.secret);
          if (!hashed.ok) return reply(errorJson('busy', 'the server is busy checking secrets; try again in a moment'));
          if (this.registry.get(room.key) !== room) return;
          secretHash = hashed.hash;
        }
        room.access = { ...room.access, secretHash };
        break;
      }
      case 'close_room':
        this.closeRoom(room);
        return;
    }
    // In force at once (the next join meets it); announced once stored, or queued for a store that is down
    // (kept in the outage journal): an owner who saw "locked" never finds the room unlocked after a crash.
    await this.registry.saveAccess(room);
    if (this.registry.get(room.key) === room) this.control.announceState(room);
  }
}

function errorJson(code: string, message: string): string {
  return JSON.stringify({ type: 'error', code, message });
}
