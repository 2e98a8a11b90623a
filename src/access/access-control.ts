// The one object the server holds for access control: the join-token key, the
// bounded secret hasher, the gate that decides each join, and the owner commands.
// Built before the server listens, so bad token settings stop the start.

import { type HttpResponse, textResponse } from '../handshake/http-response';
import type { JoinView, ReplayWanted } from '../history/history-source';
import type { Room } from '../rooms/room';
import type { Logger } from '../server/logger';
import type { RoomRegistry } from '../rooms/room-registry';
import { AccessGate, type Granted, type JoinRequest } from './gate';
import { JoinTokens, type JoinTokenSettings } from './join-tokens';
import { LocalRoomControl, type RoomControl } from './room-control';
import { OwnerCommands } from './owner-commands';
import { SecretHasher } from './secret-hash';

/** `view`: the room's history as the joining member will see it; the caller must call `view.done()`. */
export type AccessAdmission = { ok: true; room: Room; created: boolean; grant: Granted; view: JoinView } | { ok: false; response: HttpResponse };

const CHANGED = 'the room changed while you joined; try again';

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

  /**
   * The access decision and the registry's admission for one join. The decision
   * is made for the room as it is now; if it was created or closed meanwhile (a
   * secret check takes tens of ms) it is made again, a few times at most.
   */
  async admit(registry: RoomRegistry, join: JoinRequest, wanted?: ReplayWanted): Promise<AccessAdmission> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const grant = await this.gate.decide(join, registry.get(join.room)?.access ?? null);
      if (!grant.ok) return grant;
      const admission = await registry.admit(join.room, join.name, grant.creates ?? undefined, wanted);
      if (!admission.ok) return { ok: false, response: textResponse(503, admission.reason, { 'Retry-After': '5' }) };
      if (admission.created === (grant.creates !== null)) return { ok: true, room: admission.room, created: admission.created, grant, view: admission.view };
      admission.view.done();
      // Decided for a room that was closed meanwhile: this join made a new one without an owner token.
      if (admission.created) registry.closeRoom(admission.room);
    }
    return { ok: false, response: textResponse(503, CHANGED, { 'Retry-After': '1' }) };
  }

  /** SIGHUP: reads the join-token key again; a bad one is logged and the old key stays. */
  reloadKey(log: Logger): boolean {
    if (!this.tokens.configured) return false;
    try {
      this.tokens.reload();
      log.info('join_token_key_reloaded', { algorithm: this.tokens.algorithm });
      return true;
    } catch (error) {
      // The message names the file and the problem, never key material.
      log.error('join_token_key_reload_failed', { error: error instanceof Error ? error.message : String(error) });
      return false;
    }
  }

  /** Housekeeping: forget brute-force windows that have passed. */
  sweep(now: number): void {
    this.gate.attempts.sweep(now);
  }
}
