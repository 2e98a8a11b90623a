// The start-time rules of the cluster settings (CONTRACT.md, "Several processes
// acting as one"): checked before anything listens, each refusal a sentence
// for the operator.

import type { Settings } from '../settings';
import { CLUSTER_NAME } from './names';

export type RoomStoreKind = 'file' | 'mariadb' | 'redis';

/** ROOM_STORE, or its default: mariadb with MARIADB_URL, else the file. */
export function roomStoreKind(settings: Settings): RoomStoreKind | null {
  const kind = settings.roomStore ?? (settings.mariadbUrl ? 'mariadb' : 'file');
  return kind === 'file' || kind === 'mariadb' || kind === 'redis' ? kind : null;
}

export function clusterSettingsError(settings: Settings): string | null {
  if (!CLUSTER_NAME.test(settings.cluster)) return `CLUSTER/--cluster: ${JSON.stringify(settings.cluster)} must be 1-64 characters of A-Z a-z 0-9 _ . -`;
  const kind = roomStoreKind(settings);
  if (kind === null) return `ROOM_STORE/--room-store: ${JSON.stringify(settings.roomStore)} is not file, mariadb or redis`;
  if (kind === 'mariadb' && !settings.mariadbUrl) return 'ROOM_STORE=mariadb needs MARIADB_URL';
  if (kind === 'redis' && !settings.redisUrl) return 'ROOM_STORE=redis needs REDIS_URL (the Redis that keeps the rooms)';
  if (settings.redisUrl !== undefined) {
    try {
      const url = new URL(settings.redisUrl);
      if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new Error('scheme');
    } catch {
      return 'REDIS_URL/--redis-url: not a redis:// or rediss:// URL';
    }
  }
  if (settings.workers > 1) {
    if (!settings.redisUrl) return `WORKERS=${settings.workers} needs REDIS_URL: the processes relay each other's rooms through Redis`;
    if (kind === 'file') return `WORKERS=${settings.workers} needs a shared room store: set MARIADB_URL or ROOM_STORE=redis (the file store belongs to one process)`;
  }
  if (settings.redisUrl && kind === 'file') {
    // Allowed (one node with its own file, e.g. trying a cluster out), but every node then keeps its own rooms.
  }
  return null;
}
