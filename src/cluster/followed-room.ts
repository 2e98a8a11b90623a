// The cluster delivery's vocabulary: what a node keeps per room it follows, its
// health and counters as /healthz and /metrics show them, and the stand-in
// member used to deliver to "everyone" (presence of remote members, messages
// whose sender is on another node).

import type { RoomMessage } from '../rooms/delivery';
import type { RoomMember } from '../rooms/member';
import type { Room } from '../rooms/room';
import type { LinkStats } from './redis-link';
import type { RemotePresence } from './remote-presence';

export interface ClusterHealth {
  node: string;
  nodes: number;
  redis: 'up' | 'down';
}

export interface ClusterStats {
  messagesOut: number;
  messagesIn: number;
  localOnly: number;
}

/** A member who is not in any room: delivery "to everyone but it" is to everyone. */
export function ghost(name: string): RoomMember {
  return { name, mode: 'raw', deflateWindowBits: 0, deliver() {} };
}
export const NOBODY = ghost('');

export interface FollowedRoom {
  room: Room;
  hash: string;
  channel: string;
  /** seq, epoch and history list: the keys both sequencing scripts take (built once, not per message) */
  sequenceKeys: readonly [string, string, string];
  subscribed: boolean;
  busy: Promise<void> | null;
  remote: RemotePresence;
  /** a presence re-read waiting for the other nodes to settle (see SETTLE_MS) */
  resync: NodeJS.Timeout | null;
  /** joining members' reads in progress, by marker token */
  joins: Map<string, JoinWait>;
}

/** A joining member's read: live messages are collected until its marker shows which came after the read. */
export interface JoinWait {
  collected: RoomMessage[];
  marked: () => void;
}

/**
 * How long a node waits before re-reading a room's presence after Redis came back
 * or another node rebuilt its entries: long enough for every node to reconnect and
 * rewrite its own (each retries within a second), so members present all along are
 * not announced as left and then joined again.
 */
export const SETTLE_MS = 2500;

export function renderClusterMetrics(stats: ClusterStats, link: LinkStats, up: boolean, nodes: number): string {
  const rows: Array<[string, 'counter' | 'gauge', string, number]> = [
    ['rooms_cluster_messages_out_total', 'counter', 'Messages this node published to the cluster (once per message).', stats.messagesOut],
    ['rooms_cluster_messages_in_total', 'counter', 'Messages from other nodes delivered here (once per message).', stats.messagesIn],
    ['rooms_cluster_local_only_total', 'counter', 'Messages relayed to this node only because Redis was unreachable.', stats.localOnly],
    ['rooms_cluster_redis_round_trips_total', 'counter', 'Commands sent to Redis.', link.roundTrips],
    ['rooms_cluster_redis_errors_total', 'counter', 'Failed Redis connections and commands.', link.errors],
    ['rooms_cluster_redis_up', 'gauge', 'Whether Redis is reachable (1) or not (0).', up ? 1 : 0],
    ['rooms_cluster_nodes', 'gauge', 'Live nodes in the cluster, as of the last heartbeat.', nodes],
  ];
  return rows.map(([name, type, help, value]) => `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name} ${value}\n`).join('');
}
