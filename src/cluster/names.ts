// Redis key and channel names of one cluster. A room key is the only secret of an
// unprotected room, so it never appears in Redis: every per-room name carries a
// hash of CLUSTER and the key instead. CLUSTER prefixes everything (CONTRACT.md).

import { createHash } from 'node:crypto';

/** CLUSTER values accepted: short, and free of the separators used below. */
export const CLUSTER_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** Characters of a room hash: fixed, so the publishing script can cut a packed batch by it. */
export const HASH_LENGTH = 22;

/** 22 base64url characters (128 bits) of SHA-256(CLUSTER, NUL, room key). */
export function roomHash(cluster: string, roomKey: string): string {
  return createHash('sha256').update(cluster).update('\0').update(roomKey).digest('base64url').slice(0, HASH_LENGTH);
}

export class ClusterNames {
  /** sorted set: node id -> heartbeat deadline (ms, Redis clock) */
  readonly nodes: string;

  constructor(readonly cluster: string) {
    this.nodes = `${cluster}:nodes`;
  }

  hash(roomKey: string): string {
    return roomHash(this.cluster, roomKey);
  }

  /** pub/sub channel of a room: messages, presence changes, presence resyncs */
  channel(h: string): string {
    return `${this.cluster}:m:${h}`;
  }

  /** the room's message counter (INCR per message) */
  seq(h: string): string {
    return `${this.cluster}:s:${h}`;
  }

  /** the room's epoch: replaced whenever seq starts again at 1 */
  epoch(h: string): string {
    return `${this.cluster}:e:${h}`;
  }

  /** list: the room's latest messages as published (seq and epoch included), trimmed to HISTORY_SIZE */
  history(h: string): string {
    return `${this.cluster}:h:${h}`;
  }

  /** string: the room's access state as its owner last set it (JSON), or that it was closed */
  access(h: string): string {
    return `${this.cluster}:a:${h}`;
  }

  /** hash: node id + member name -> how many connections of that name the node has */
  presence(h: string): string {
    return `${this.cluster}:p:${h}`;
  }

  /** the room's presence version: INCR per change, so a snapshot and the events after it fit together */
  presenceVersion(h: string): string {
    return `${this.cluster}:v:${h}`;
  }

  /** set of room hashes where a node has (had) members: what a reaper visits */
  nodeRooms(node: string): string {
    return `${this.cluster}:n:${node}`;
  }

  /** prefix the Lua scripts build per-room names from (same layout as above) */
  get prefix(): string {
    return this.cluster;
  }
}
