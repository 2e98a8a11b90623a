// The one object the server holds for access control: the join-token key, the
// bounded secret hasher, the gate that decides each join, and the owner commands.
// Built before the server listens, so bad token settings stop the start.

import type { RoomRegistry } from '../rooms/room-registry';
import { AccessGate } from './gate';
import { JoinTokens, type JoinTokenSettings } from './join-tokens';
import { LocalRoomControl, type RoomControl } from './room-control';
import { OwnerCommands } from './owner-commands';
import { SecretHasher } from './secret-hash';

export class AccessControl {
  readonly tokens: JoinTokens;
  readonly hasher = new SecretHasher();
  readonly gate: AccessGate;
  private commandsOf: OwnerCommands | null = null;

  /** Throws AccessSettingsError for settings that must stop the start. */
  constructor(settings: JoinTokenSettings) {
    this.tokens = new JoinTokens(settings);
    this.gate = new AccessGate(this.hasher, this.tokens.configured ? this.tokens : null, settings.requireToken);
  }

  /** Owner commands act on this registry's rooms through `control` (a cluster passes its own). */
  attach(registry: RoomRegistry, control: RoomControl = new LocalRoomControl()): OwnerCommands {
    this.commandsOf = new OwnerCommands(registry, control, this.hasher);
    return this.commandsOf;
  }

  get commands(): OwnerCommands {
    if (this.commandsOf === null) throw new Error('AccessControl.attach() was not called');
    return this.commandsOf;
  }

  /** Housekeeping: forget brute-force windows that have passed. */
  sweep(now: number): void {
    this.gate.attempts.sweep(now);
  }
}
