// The two Redis connections of a node (commands, and pub/sub, which Redis
// dedicates to subscriptions) and their health. Nothing queues while Redis is
// away: a command fails at once (enableOfflineQueue off, no retries), the
// caller falls back to local delivery, and 'up' fires when both connections are
// ready again, so the cluster rebuilds what Redis forgot in one place.
// Commands reach Redis in the order they are made, after anything queued for
// the end of the turn (the sequencer's messages: beforeCommand).

import { Redis, type RedisOptions } from 'ioredis';
import { CONTROL, COUNT_MEMBERS, DROP_HISTORY, HEARTBEAT, JOIN_VIEW, PRESENCE_CHANGE, PRESENCE_SNAPSHOT, PRESENCE_SYNC, PUBLISH_MESSAGES, REAP } from './scripts';

export interface LinkStats {
  roundTrips: number;
  errors: number;
  lastError: string | null;
}

export interface LinkEvents {
  up(): void;
  down(): void;
  message(channel: Buffer, message: Buffer): void;
  /** Before any command leaves: what was queued for the end of the turn goes first, so nothing overtakes it. */
  beforeCommand(): void;
}

type Reply = unknown;

/** keys: how many KEYS the script takes; null: as many as the call gives (counted per call). */
const SCRIPTS = {
  publishMessages: { lua: PUBLISH_MESSAGES, keys: 0 },
  joinView: { lua: JOIN_VIEW, keys: 3 },
  dropHistory: { lua: DROP_HISTORY, keys: 3 },
  control: { lua: CONTROL, keys: 1 },
  presenceChange: { lua: PRESENCE_CHANGE, keys: 3 },
  presenceSync: { lua: PRESENCE_SYNC, keys: 3 },
  presenceSnapshot: { lua: PRESENCE_SNAPSHOT, keys: 2 },
  heartbeat: { lua: HEARTBEAT, keys: 1 },
  reap: { lua: REAP, keys: 1 },
  countMembers: { lua: COUNT_MEMBERS, keys: null },
} satisfies Record<string, { lua: string; keys: number | null }>;
export type ScriptName = keyof typeof SCRIPTS;

/** The Redis URL without its password, for logs and /healthz. */
export function describeRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    u.username = '';
    return u.toString();
  } catch {
    return 'redis (unparsable URL)';
  }
}

export class RedisLink {
  readonly stats: LinkStats = { roundTrips: 0, errors: 0, lastError: null };
  private readonly cmd: Redis;
  private readonly sub: Redis;
  private wasUp = false;
  private closed = false;
  private stalled = false;

  constructor(url: string, private readonly events: LinkEvents) {
    const options: RedisOptions = {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResubscribe: false,
      connectTimeout: 2000,
      // A Redis that accepts but does not answer (paused, overloaded) must not hold a join's 101 forever.
      commandTimeout: 2000,
      // Back within about a second of Redis returning, never hammering it.
      retryStrategy: (times) => Math.min(100 * times, 1000),
      lazyConnect: true,
    };
    // No auto-pipelining: the messages of a turn already leave as one command (sequencer.ts);
    // ioredis would wrap that one command in a pipeline object per turn and hold it one turn more.
    this.cmd = new Redis(url, { ...options, connectionName: 'rooms-cmd' });
    this.sub = new Redis(url, { ...options, connectionName: 'rooms-sub' });
    for (const [name, script] of Object.entries(SCRIPTS)) this.cmd.defineCommand(name, script.keys === null ? { lua: script.lua } : { numberOfKeys: script.keys, lua: script.lua });
    for (const conn of [this.cmd, this.sub]) {
      conn.on('error', (err: Error) => this.noteError(err));
      conn.on('ready', () => this.check());
      conn.on('close', () => this.check());
    }
    this.sub.on('messageBuffer', (channel: Buffer, message: Buffer) => this.events.message(channel, message));
  }

  /** Connects both; resolves when up, or after `waitMs` (the node starts degraded and keeps retrying). */
  async open(waitMs: number): Promise<void> {
    this.cmd.connect().catch((err: unknown) => this.noteError(err));
    this.sub.connect().catch((err: unknown) => this.noteError(err));
    const deadline = Date.now() + waitMs;
    while (!this.up && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  }

  get up(): boolean {
    return !this.closed && this.cmd.status === 'ready' && this.sub.status === 'ready';
  }

  /**
   * Up, and not stalled: a command that timed out (a Redis that accepts but does not
   * answer: paused, swapping, overloaded) marks the link stalled until the next reply,
   * so joins stop waiting on it (each would cost a whole command timeout) and go
   * ahead as during an outage. The heartbeat keeps asking; its first reply ends the
   * stall and the node rebuilds its subscriptions and presence as after an outage.
   */
  get answering(): boolean {
    return this.up && !this.stalled;
  }

  private replied(): void {
    if (!this.stalled) return;
    this.stalled = false;
    this.events.up();
  }

  private check(): void {
    const up = this.up;
    if (up === this.wasUp) return;
    this.wasUp = up;
    if (up) this.events.up();
    else this.events.down();
  }

  noteError(err: unknown): void {
    this.stats.errors++;
    if (err instanceof Error && /timed out/i.test(err.message)) this.stalled = true;
    // Redis errors carry no room key (names are hashed) and no message text.
    this.stats.lastError = err instanceof Error ? err.message.slice(0, 200) : String(err).slice(0, 200);
  }

  /** Runs one script; rejects (already counted) on any failure, at once when Redis is away. */
  run(name: ScriptName, keys: readonly string[], args: ReadonlyArray<string | Buffer | number>): Promise<Reply> {
    return this.script(name, this.argv(name, keys, args));
  }

  /** run(), with every bulk string of the reply as a Buffer (message bodies are binary). */
  runBuffer(name: ScriptName, keys: readonly string[], args: ReadonlyArray<string | Buffer | number>): Promise<Reply> {
    return this.script(`${name}Buffer`, this.argv(name, keys, args));
  }

  private argv(name: ScriptName, keys: readonly string[], args: ReadonlyArray<string | Buffer | number>): Array<string | Buffer | number> {
    return SCRIPTS[name].keys === null ? [keys.length, ...keys, ...args] : [...keys, ...args];
  }

  get(key: string): Promise<string | null> {
    return this.ask(() => this.cmd.get(key));
  }

  async countMembers(keys: readonly string[]): Promise<number[]> {
    if (keys.length === 0) return [];
    return (await this.run('countMembers', keys, [])) as number[];
  }

  async subscribe(channels: readonly string[]): Promise<void> {
    if (channels.length === 0) return;
    await this.ask(() => this.sub.subscribe(...channels));
  }

  async unsubscribe(channel: string): Promise<void> {
    await this.ask(() => this.sub.unsubscribe(channel));
  }

  /** A command defined with defineCommand (name, or name + 'Buffer' for binary replies). */
  private script(name: string, args: ReadonlyArray<string | Buffer | number>): Promise<Reply> {
    const fn = (this.cmd as unknown as Record<string, (...a: Array<string | Buffer | number>) => Promise<Reply>>)[name]!;
    return this.ask(() => fn.call(this.cmd, ...args));
  }

  /** Every round trip: counted, a reply ends a stall, a failure is counted and rethrown. */
  private async ask<T>(command: () => Promise<T>): Promise<T> {
    this.events.beforeCommand();
    this.stats.roundTrips++;
    try {
      const reply = await command();
      this.replied();
      return reply;
    } catch (err) {
      this.noteError(err);
      throw err;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(
      [this.cmd, this.sub].map(async (conn) => {
        try {
          if (conn.status === 'ready') await conn.quit();
          else conn.disconnect();
        } catch {
          conn.disconnect();
        }
      }),
    );
  }
}
