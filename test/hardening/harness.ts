// Shared by the hardening tests: an in-process server whose every log line is
// captured, and "bystanders": well-behaved members in two rooms who keep talking
// while a test abuses a limit, and prove they noticed nothing.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { startServer, type RoomsServer } from '../../src/server/server';
import { createLogger } from '../../src/server/logger';
import { WsPeer } from '../../src/server/ws-peer';
import { defaultSettings, type Settings } from '../../src/settings';
import { destroyRawPeers, terminateWsMembers, until, WsMember } from '../helpers/misbehaving-clients';

export interface Hardened {
  server: RoomsServer;
  port: number;
  url: string;
  settings: Settings;
  /** Every log line the server wrote, at level debug. */
  logs: string[];
  /** Log lines parsed. */
  events(): Array<Record<string, unknown>>;
  stop(): Promise<void>;
}

/**
 * A server on 127.0.0.1 with the given limits; everything else at defaults,
 * except a short close timeout and joins per minute out of the way unless set.
 */
export async function startHardened(overrides: Partial<Settings> = {}): Promise<Hardened> {
  const dataDir = mkdtempSync(join(tmpdir(), 'rooms-hardening-'));
  const settings = defaultSettings({
    host: '127.0.0.1',
    port: 0,
    dataDir,
    logLevel: 'debug',
    closeTimeoutMs: 1000,
    joinsPerMinutePerAddress: 1_000_000,
    ...overrides,
  });
  const logs: string[] = [];
  const log = createLogger(settings.logLevel, (line) => {
    logs.push(line.trimEnd());
  });
  const server = await startServer(settings, { log });
  let stopped: Promise<void> | null = null;
  return {
    server,
    port: server.port,
    url: server.url,
    settings,
    logs,
    events: () => logs.map((line) => JSON.parse(line) as Record<string, unknown>),
    stop: () =>
      (stopped ??= (async () => {
        terminateWsMembers();
        destroyRawPeers();
        try {
          await server.close();
        } finally {
          rmSync(dataDir, { recursive: true, force: true });
        }
      })()),
  };
}

/**
 * The most the server may hold for one receiver before dropping it (src/server/ws-peer.ts):
 * over MAX_BUFFERED_BYTES for a moment (a burst the reader is draining) is allowed, but
 * never past 2 x MAX_BUFFERED_BYTES + MAX_MESSAGE_BYTES; plus 1 KiB for the close frame.
 */
export function heldBound(settings: Settings): number {
  return 2 * settings.maxBufferedBytes + settings.maxMessageBytes + 1024;
}

/** The server side of a room's members (WsPeer exposes its socket). */
export function serverPeers(server: RoomsServer, room: string): WsPeer[] {
  const found = server.registry.get(room);
  return found === undefined ? [] : [...found.members].filter((m): m is WsPeer => m instanceof WsPeer);
}

export function memberNames(server: RoomsServer, room: string): string[] {
  return server.registry.get(room)?.memberNames() ?? [];
}

/**
 * Two rooms with two JSON members each (ann and bob in `roomA`, cat and dan in
 * `roomB`). A test puts its abuser in `roomA`; `exchange()` has everyone talk and
 * checks that each member heard each room-mate's lines, all of them, in order,
 * and nothing from the other room.
 */
export class Bystanders {
  private round = 0;

  private constructor(
    readonly roomA: string,
    readonly roomB: string,
    readonly a: readonly [WsMember, WsMember],
    readonly b: readonly [WsMember, WsMember],
  ) {}

  static async start(url: string, options: { roomA?: string; roomB?: string; localAddress?: string } = {}): Promise<Bystanders> {
    const roomA = options.roomA ?? 'team-a';
    const roomB = options.roomB ?? 'team-b';
    const opts = options.localAddress ? { localAddress: options.localAddress } : {};
    const ann = await WsMember.join(url, roomA, 'ann', opts);
    const bob = await WsMember.join(url, roomA, 'bob', opts);
    const cat = await WsMember.join(url, roomB, 'cat', opts);
    const dan = await WsMember.join(url, roomB, 'dan', opts);
    return new Bystanders(roomA, roomB, [ann, bob], [cat, dan]);
  }

  get all(): WsMember[] {
    return [...this.a, ...this.b];
  }

  /** Everyone says `lines` lines; every room-mate hears all of them in order. */
  async exchange(lines = 3, timeoutMs = 10_000): Promise<void> {
    const label = `round-${++this.round}`;
    for (const member of this.all) {
      assert.ok(member.open, `${member.name} is still connected before ${label} (close ${member.closeCode} ${member.closeReason})`);
    }
    for (let i = 0; i < lines; i++) for (const member of this.all) member.say(`${label} ${member.name} #${i}`);
    for (const [x, y] of [this.a, this.b]) {
      for (const [speaker, listener] of [
        [x, y],
        [y, x],
      ] as const) {
        const expected = Array.from({ length: lines }, (_, i) => `${label} ${speaker.name} #${i}`);
        const got = () => listener.from(speaker.name).filter((t) => t.startsWith(`${label} `));
        await until(() => got().length >= lines, `${listener.name} to hear ${speaker.name}'s ${label}`, timeoutMs);
        assert.equal(got(), expected, `${listener.name} heard ${speaker.name}'s ${label} lines in order, once each`);
      }
    }
    // Nothing crosses rooms.
    for (const listener of this.a) for (const speaker of this.b) assert.equal(listener.from(speaker.name), [], `${listener.name} heard nothing from ${speaker.name}`);
    for (const listener of this.b) for (const speaker of this.a) assert.equal(listener.from(speaker.name), [], `${listener.name} heard nothing from ${speaker.name}`);
    for (const member of this.all) {
      assert.ok(member.open, `${member.name} is still connected after ${label} (close ${member.closeCode} ${member.closeReason})`);
      assert.equal(member.errors, [], `${member.name} got no error`);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.all.map((m) => m.close()));
  }
}

/** Runs `abuse` while the bystanders keep exchanging lines (every `pauseMs`), then once more after it. */
export async function whileBystandersTalk<T>(bystanders: Bystanders, abuse: () => Promise<T>, pauseMs = 50): Promise<T> {
  let done = false;
  let failure: unknown = null;
  let rounds = 0;
  const talk = (async () => {
    while (!done) {
      await bystanders.exchange(2);
      rounds++;
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  })().catch((error: unknown) => {
    failure = error;
  });
  let result: T;
  try {
    result = await abuse();
  } finally {
    done = true;
    await talk;
  }
  if (failure !== null) throw failure;
  assert.ok(rounds > 0, 'the bystanders talked at least once during the abuse');
  await bystanders.exchange(3);
  return result;
}
