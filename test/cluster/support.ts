// Shared by the cluster tests: server processes that form one cluster over the
// machine's Redis (a random CLUSTER per test file, so parallel runs never meet),
// JSON members, and a Redis client for looking at what the cluster left there.

import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
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
