// ROOM_STORE=redis: room records in Redis, behind the same queue, journal and
// outage behaviour as MariaDB (persistence/queued-store.ts). One hash per room
// under a hashed name (the room key is a value inside it, never a name), and a
// set of those hashes to load from. A batch of writes is one Lua script, so it
// lands whole, with the same merge rule as the other stores (types.ts applySave).
// As durable as that Redis's own AOF/RDB settings (README, "Cluster").

import { Redis } from 'ioredis';
import type { Backend } from '../persistence/backend';
import type { PendingOp, RoomRecord } from '../persistence/types';
import { roomHash } from './names';
import { describeRedisUrl } from './redis-link';

const WRITE = `
for _, op in ipairs(cjson.decode(ARGV[2])) do
  local key = ARGV[1] .. ':room:' .. op.h
  if op.k == 'remove' then
    redis.call('DEL', key)
    redis.call('SREM', KEYS[1], op.h)
  else
    local owner, created = op.owner, op.createdAt
    local stored = redis.call('HMGET', key, 'createdAt', 'owner', 'ownerTokenHash')
    -- As persistence/types.ts applySave: the creation stored first stays; access is written by that same incarnation only (sameCreation).
    local own = true
    if stored[1] and stored[2] and op.replaces ~= true then
      own = tonumber(stored[1]) == tonumber(op.createdAt) and stored[2] == op.owner and (stored[3] or '') == (op.ownerTokenHash or '')
      created = stored[1]
      owner = stored[2]
    end
    redis.call('HSET', key, 'room', op.room, 'owner', owner, 'createdAt', created, 'status', op.status, 'lastActivity', op.lastActivity)
    if own then
      local locked = '0'
      if op.locked then locked = '1' end
      redis.call('HSET', key, 'secretHash', op.secretHash or '', 'ownerTokenHash', op.ownerTokenHash or '', 'locked', locked)
    end
    redis.call('SADD', KEYS[1], op.h)
  end
end
return #cjson.decode(ARGV[2])
`;

export class RedisRoomBackend implements Backend {
  readonly kind = 'redis' as const;
  readonly description: string;
  readonly identity: string;
  readonly maxBatch = 500;
  readonly writeTimeoutMs = 3000;
  private client: Redis | null = null;
  private readonly index: string;

  constructor(
    private readonly url: string,
    private readonly cluster: string,
  ) {
    this.description = `redis ${describeRedisUrl(url)} (cluster ${cluster})`;
    this.identity = `redis ${describeRedisUrl(url)} ${cluster}`;
    this.index = `${cluster}:rooms`;
  }

  async connect(): Promise<void> {
    if (this.client?.status === 'ready') return;
    this.client?.disconnect();
    // The queued store reconnects with its own backoff: this client never retries by itself.
    const client = new Redis(this.url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2000, connectionName: 'rooms-store' });
    client.on('error', () => undefined);
    this.client = client;
    await client.connect();
  }

  async load(): Promise<RoomRecord[]> {
    const client = this.requireClient();
    const hashes = await client.smembers(this.index);
    const records: RoomRecord[] = [];
    for (let i = 0; i < hashes.length; i += 500) {
      const pipeline = client.pipeline();
      for (const h of hashes.slice(i, i + 500)) pipeline.hgetall(this.key(h));
      for (const [err, fields] of (await pipeline.exec()) ?? []) {
        if (err) throw err;
        const record = toRecord(fields as Record<string, string>);
        if (record !== null) records.push(record);
      }
    }
    return records;
  }

  async read(room: string): Promise<RoomRecord | null> {
    return toRecord(await this.requireClient().hgetall(this.key(roomHash(this.cluster, room))));
  }

  async write(ops: readonly PendingOp[]): Promise<void> {
    const encoded = ops.map((op) =>
      op.kind === 'remove'
        ? { k: 'remove', h: roomHash(this.cluster, op.room) }
        : {
            k: 'save',
            h: roomHash(this.cluster, op.room),
            room: op.room,
            owner: op.record.owner,
            createdAt: String(op.record.createdAt),
            status: op.record.status,
            lastActivity: String(op.record.lastActivity),
            ...(op.record.secretHash != null ? { secretHash: op.record.secretHash } : {}),
            ...(op.record.ownerTokenHash != null ? { ownerTokenHash: op.record.ownerTokenHash } : {}),
            ...(op.record.locked === true ? { locked: true } : {}),
            ...(op.replaces === true ? { replaces: true } : {}),
          },
    );
    await this.requireClient().eval(WRITE, 1, this.index, this.cluster, JSON.stringify(encoded));
  }

  classify(): 'transient' | 'data' {
    return 'transient';
  }

  async ping(): Promise<void> {
    await this.requireClient().ping();
  }

  abort(): void {
    this.client?.disconnect();
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = null;
    if (client === null) return;
    await client.quit().catch(() => client.disconnect());
  }

  private key(h: string): string {
    return `${this.cluster}:room:${h}`;
  }

  private requireClient(): Redis {
    if (this.client === null || this.client.status !== 'ready') throw new Error('redis store not connected');
    return this.client;
  }
}

function toRecord(fields: Record<string, string>): RoomRecord | null {
  const { room, owner, createdAt, status, lastActivity } = fields;
  if (room === undefined || owner === undefined || createdAt === undefined) return null;
  const record: RoomRecord = { room, owner, createdAt: Number(createdAt), status: status === 'live' ? 'live' : 'idle', lastActivity: Number(lastActivity ?? createdAt) };
  // Access fields only when set, as Room.record() writes them.
  if (fields.secretHash) record.secretHash = fields.secretHash;
  if (fields.ownerTokenHash) record.ownerTokenHash = fields.ownerTokenHash;
  if (fields.locked === '1') record.locked = true;
  return record;
}
