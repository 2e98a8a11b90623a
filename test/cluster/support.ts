// Shared by the cluster tests: server processes that form one cluster over the
// machine's Redis (a random CLUSTER per test file, so parallel runs never meet),
// JSON members, and a Redis client for looking at what the cluster left there.

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from '../helpers/mariadb';
import { RawClient } from '../helpers/raw-client';
import { startServerProcess, type ServerProcess } from '../helpers/server-process';

export const SHARED_REDIS = process.env.REDIS_URL || 'redis://127.0.0.1:6379/0';

export function randomCluster(): string {
  return `t${randomBytes(6).toString('hex')}`;
}

export function randomRoom(prefix = 'room'): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}

export interface NodeOptions {
  redisUrl?: string;
  cluster: string;
  env?: Record<string, string>;
}

/** One node: its own file store (rooms are not what these tests share), LOG_LEVEL warn. */
export function startNode(options: NodeOptions): Promise<ServerProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), 'rooms-cluster-'));
  return startServerProcess({
    env: { REDIS_URL: options.redisUrl ?? SHARED_REDIS, CLUSTER: options.cluster, DATA_DIR: dataDir, LOG_LEVEL: 'warn', ADMIN_TOKEN: 'admin-token', ...options.env },
  });
}

export interface JsonFrame {
  type: string;
  [field: string]: unknown;
}

export async function nextJson(client: RawClient, timeoutMs = 3000): Promise<JsonFrame> {
  const message = await client.message(timeoutMs);
  return JSON.parse(message.payload.toString('utf8')) as JsonFrame;
}

/** Skips frames until one of `type` arrives (presence may interleave). */
export async function nextOfType(client: RawClient, type: string, timeoutMs = 3000): Promise<JsonFrame> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`no ${type} frame within ${timeoutMs} ms`);
    const frame = await nextJson(client, left);
    if (frame.type === type) return frame;
  }
}

export async function joinJson(port: number, room: string, name: string): Promise<{ client: RawClient; welcome: JsonFrame }> {
  const client = await RawClient.room(port, room, name, { protocol: 'rooms.v1.json' });
  const welcome = await nextJson(client);
  if (welcome.type !== 'welcome') throw new Error(`expected welcome, got ${JSON.stringify(welcome)}`);
  return { client, welcome };
}

export function redisClient(url = SHARED_REDIS): Redis {
  const redis = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  return redis;
}

export async function getJson(url: string, headers: Record<string, string> = {}): Promise<unknown> {
  const res = await fetch(url, { headers });
  return res.json();
}

/** Deletes what a test cluster left in the shared Redis (its nodes were killed, nobody reaps them). */
export async function forgetCluster(cluster: string, url = SHARED_REDIS): Promise<void> {
  const redis = redisClient(url);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${cluster}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/**
 * A redis-server of the test's own, on its own port and folder, with no persistence:
 * stopped with SIGKILL and started again empty (a restart that lost everything).
 * The shared Redis is never touched.
 */
export class ThrowawayRedis {
  private proc: ChildProcess | null = null;

  private constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  static async start(): Promise<ThrowawayRedis> {
    const redis = new ThrowawayRedis(await freePort(), mkdtempSync(join(tmpdir(), 'rooms-redis-')));
    await redis.start();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** The running process (for SIGSTOP/SIGCONT), or null while stopped. */
  get process(): ChildProcess | null {
    return this.proc;
  }

  async start(): Promise<void> {
    this.proc = spawn('/usr/bin/redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir], { stdio: 'ignore' });
    const probe = redisClient(this.url);
    try {
      for (let i = 0; i < 100; i++) {
        if ((await probe.ping().catch(() => '')) === 'PONG') return;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error('throwaway redis-server did not answer');
    } finally {
      probe.disconnect();
    }
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    this.proc = null;
    if (proc === null || proc.exitCode !== null) return;
    const gone = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGKILL');
    await gone;
  }

  async remove(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
