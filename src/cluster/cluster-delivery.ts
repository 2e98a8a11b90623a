// Delivery across server processes through Redis, behind RoomDelivery. A node
// follows a room's channel while it has members there (subscribed before their
// 101). A message goes to Redis once: one script gives it the room's next seq
// and publishes it, and every node, the sender's included, delivers it from the
// channel, framing it once for all its members. So every receiver on every node
// sees one order (delivering locally first, as Socket.IO's adapter does, would
// let a node's own members see its messages before earlier ones from other
// nodes). While Redis is away, delivery is local only; when it is back, the node
// subscribes again, rewrites its presence entries and re-reads the others'.
// The sequencing itself (a turn's messages in one script call, a joiner's view)
// is sequencer.ts; this node's heartbeat and the reaping of dead nodes, node-heartbeat.ts.

import { randomBytes } from 'node:crypto';
import type { ReplayWanted } from '../history/history-source';
import type { RoomDelivery, RoomMessage } from '../rooms/delivery';
import type { RoomMember } from '../rooms/member';
import type { Room } from '../rooms/room';
import { decodeChannelEvent, encodeMessageBody } from './envelope';
import { ClusterNames } from './names';
import { RedisLink, describeRedisUrl } from './redis-link';
import { type ClusterHealth, type ClusterStats, type FollowedRoom, NOBODY, SETTLE_MS, ghost, renderClusterMetrics } from './followed-room';
import { type EventOutcome, RemotePresence } from './remote-presence';
import { NodeHeartbeat } from './node-heartbeat';
import { type ClusterJoinState, type QueuedMessage, Sequencer } from './sequencer';

export interface ClusterOptions {
  redisUrl: string;
  cluster: string;
  /** how long a room's seq and epoch outlive its last message (seconds) */
  keyTtlSeconds: number;
  log: (level: 'info' | 'warn' | 'error', event: string, fields: Record<string, unknown>) => void;
  /** heartbeat period; a node silent for 4 periods is reaped (default 2000 ms) */
  heartbeatMs?: number;
  /** HISTORY_SIZE and HISTORY_TTL: the room's history list in Redis (size 0 keeps none) */
  history?: { size: number; ttlMs: number };
  /** Gives a message relayed on this node only (Redis away) a seq of this node's own epoch (cluster-history.ts). */
  sequenceLocally?: (room: Room, message: RoomMessage) => void;
  /** An owner command published by another node for a room followed here (cluster-room-control.ts). */
  onControl?: (room: Room, json: string) => void;
  /**
   * Redis has been back for SETTLE_MS, time enough for every node to have
   * subscribed again (pub/sub keeps nothing for a node not yet listening); then on
   * every heartbeat. Owed owner commands go out here (cluster-room-control.ts).
   */
  onSettled?: () => void;
}

export class ClusterDelivery implements RoomDelivery {
  readonly node = randomBytes(8).toString('hex');
  readonly stats: ClusterStats = { messagesOut: 0, messagesIn: 0, localOnly: 0 };
  readonly description: string;
  private readonly names: ClusterNames;
  private readonly link: RedisLink;
  private readonly sequencer: Sequencer;
  private readonly byKey = new Map<string, FollowedRoom>();
  private readonly byChannel = new Map<string, FollowedRoom>();
  private readonly memberIds = new WeakMap<RoomMember, number>();
  private readonly membersById = new Map<number, RoomMember>();
  private nextMemberId = 1;
  private readonly heartbeat: NodeHeartbeat;

  constructor(
    private readonly local: RoomDelivery,
    private readonly options: ClusterOptions,
  ) {
    this.names = new ClusterNames(options.cluster);
    this.description = `redis ${describeRedisUrl(options.redisUrl)} cluster ${options.cluster}`;
    this.link = new RedisLink(options.redisUrl, {
      up: () => void this.rebuild(),
      down: () => this.lost(),
      message: (channel, message) => this.onChannel(channel, message),
      beforeCommand: () => this.sequencer.flush(),
    });
    const history = options.history ?? { size: 0, ttlMs: 1 };
    this.sequencer = new Sequencer(this.link, { node: this.node, prefix: this.names.prefix, keyTtlSeconds: options.keyTtlSeconds, historySize: history.size, historyTtlMs: history.ttlMs }, (queued) => this.unpublished(queued));
    this.heartbeat = new NodeHeartbeat(this.link, this.names, this.node, options.heartbeatMs ?? 2000, {
      forgotten: () => this.putPresenceBack(),
      settled: () => this.options.onSettled?.(),
      log: (level, event, fields) => this.options.log(level, event, fields),
    });
  }

  async start(): Promise<void> {
    await this.link.open(3000);
    this.options.log('info', 'cluster_node', { node: this.node, cluster: this.description, redis: this.link.up ? 'up' : 'down' });
    if (!this.link.up) this.options.log('warn', 'cluster_redis_unreachable', { redis: this.description, lastError: this.link.stats.lastError });
    this.heartbeat.start();
  }

  // --- RoomDelivery

  relay(room: Room, sender: RoomMember, message: RoomMessage): void {
    const followed = this.byKey.get(room.key);
    if (followed === undefined || !followed.subscribed || !this.link.answering) {
      this.stats.localOnly++;
      this.options.sequenceLocally?.(room, message);
      return this.local.relay(room, sender, message);
    }
    const body = encodeMessageBody({ node: this.node, conn: this.memberIds.get(sender) ?? 0, opcode: message.opcode, ts: message.ts, from: message.from, payload: message.payload });
    this.stats.messagesOut++;
    this.sequencer.publish({ followed, body, sender, message });
  }

  /** Not published (Redis went away): this node's members still get it. */
  private unpublished({ followed: { room }, sender, message }: QueuedMessage): void {
    this.stats.localOnly++;
    this.options.sequenceLocally?.(room, message);
    if (room.members.size > 0) this.local.relay(room, sender, message);
  }

  presence(room: Room, member: RoomMember, kind: 'joined' | 'left'): void {
    if (kind === 'joined') {
      const id = this.nextMemberId++;
      this.memberIds.set(member, id);
      this.membersById.set(id, member);
    } else {
      const id = this.memberIds.get(member);
      if (id !== undefined) this.membersById.delete(id);
    }
    this.local.presence(room, member, kind);
    const followed = this.byKey.get(room.key);
    if (followed === undefined || !this.link.up) return; // rebuilt from the local members when Redis is back
    const h = followed.hash;
    this.link
      .run('presenceChange', [this.names.presence(h), this.names.presenceVersion(h), this.names.nodeRooms(this.node)], [this.node + member.name, kind === 'joined' ? 1 : -1, followed.channel, this.node, member.name, h, this.options.keyTtlSeconds])
      .catch(() => undefined);
  }

  /** Null when the room can be joined now; otherwise subscribes (and reads presence) first. */
  attach(room: Room): Promise<void> | null {
    // Redis away: the join goes ahead now; the room is followed so that rebuild() subscribes it.
    const followed = this.follow(room);
    if (!this.link.answering) return null;
    if (followed.subscribed && followed.busy === null && !followed.remote.loading) return null;
    return this.reconcile(followed);
  }

  attached(room: Room): boolean {
    if (!this.link.up) return true;
    const followed = this.byKey.get(room.key);
    return followed !== undefined && followed.subscribed && followed.busy === null && !followed.remote.loading;
  }

  detach(room: Room): void {
    const followed = this.byKey.get(room.key);
    if (followed !== undefined) void this.reconcile(followed);
  }

  memberNames(room: Room): string[] {
    const names = room.memberNames();
    const followed = this.byKey.get(room.key);
    if (followed !== undefined) names.push(...followed.remote.names());
    return names;
  }

  membersElsewhere(room: Room): number {
    return this.byKey.get(room.key)?.remote.total() ?? 0;
  }

  // --- history (cluster-history.ts)

  /** After attach(): the room's history as Redis has it, and the live messages after that read (sequencer.ts); null when Redis cannot answer. */
  joinState(room: Room, wanted: ReplayWanted, timeoutMs = 2000): Promise<ClusterJoinState | null> {
    const followed = this.byKey.get(room.key);
    if (followed === undefined || !followed.subscribed || !this.link.answering) return Promise.resolve(null);
    return this.sequencer.joinState(followed, wanted, timeoutMs);
  }

  /** An owner command to every node: `state` (JSON, or null) is written first, then `event` published. */
  async publishControl(key: string, event: string, state: string | null): Promise<void> {
    const h = this.names.hash(key);
    await this.link.run('control', [this.names.access(h)], [this.names.channel(h), event, state ?? '', this.options.keyTtlSeconds]);
  }

  /** The room's access state as its owner last set it anywhere, or null (never changed, or expired); rejects when Redis does not answer. */
  readAccess(key: string): Promise<string | null> {
    // A stalled Redis is not waited for: the caller asks the shared store instead.
    if (!this.link.answering) return Promise.reject(new Error('redis is not answering'));
    return this.link.get(this.names.access(this.names.hash(key)));
  }

  /** A closed or purged room: its seq, epoch and history go from Redis (best effort; they also expire). */
  dropHistory(key: string): void {
    if (!this.link.up) return;
    const h = this.names.hash(key);
    this.link.run('dropHistory', [this.names.seq(h), this.names.epoch(h), this.names.history(h)], []).catch(() => undefined);
  }

  // --- for the server

  health(): ClusterHealth {
    return { node: this.node, nodes: this.link.up ? this.heartbeat.nodes : 0, redis: this.link.up ? 'up' : 'down' };
  }

  /** Members on every node per room key; local counts only for rooms Redis could not answer for. */
  async countMembers(rooms: readonly Room[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const room of rooms) out.set(room.key, room.members.size);
    if (!this.link.up || rooms.length === 0) return out;
    try {
      // In slices: one script call per 1000 rooms keeps Redis responsive for everyone else.
      for (let at = 0; at < rooms.length; at += 1000) {
        const slice = rooms.slice(at, at + 1000);
        const counts = await this.link.countMembers(slice.map((room) => this.names.presence(this.names.hash(room.key))));
        slice.forEach((room, i) => out.set(room.key, Math.max(room.members.size, Number(counts[i] ?? 0))));
      }
    } catch {
      // counted in the link's errors; local counts stand
    }
    return out;
  }

  metricsText(): string {
    return renderClusterMetrics(this.stats, this.link.stats, this.link.up, this.health().nodes);
  }

  async close(): Promise<void> {
    await this.heartbeat.stop();
    await this.link.close();
  }

  // --- rooms followed

  private follow(room: Room): FollowedRoom {
    let followed = this.byKey.get(room.key);
    if (followed === undefined || followed.room !== room) {
      const hash = this.names.hash(room.key);
      const sequenceKeys = [this.names.seq(hash), this.names.epoch(hash), this.names.history(hash)] as const;
      followed = { room, hash, channel: this.names.channel(hash), sequenceKeys, subscribed: false, busy: null, remote: new RemotePresence(this.node), resync: null, joins: new Map() };
      this.byKey.set(room.key, followed);
      this.byChannel.set(followed.channel, followed);
    }
    return followed;
  }

  private wanted(followed: FollowedRoom): boolean {
    return followed.room.members.size > 0 || followed.room.pendingAdmissions > 0;
  }

  /** Brings the subscription in line with whether the node has members there; one at a time per room. */
  private reconcile(followed: FollowedRoom): Promise<void> {
    if (followed.busy !== null) return followed.busy.then(() => this.reconcile(followed));
    const run = async () => {
      // Never finish synchronously: `busy` is assigned below before the finally clears it
      // (a run with nothing to do would otherwise leave a settled promise in `busy`, and
      // every later reconcile would chain on it forever).
      await Promise.resolve();
      try {
        for (;;) {
          if (!this.link.up) return;
          const want = this.wanted(followed);
          if (want && !followed.subscribed) {
            await this.link.subscribe([followed.channel]);
            followed.subscribed = true;
            await this.readPresence(followed);
          } else if (!want && followed.subscribed) {
            await this.link.unsubscribe(followed.channel);
            followed.subscribed = false;
            followed.remote.clear();
          } else {
            return;
          }
        }
      } catch {
        // Redis went away mid-way: counted by the link; rebuild() starts over when it is back.
      } finally {
        followed.busy = null;
        if (!followed.subscribed && !this.wanted(followed) && this.byKey.get(followed.room.key) === followed) {
          this.byKey.delete(followed.room.key);
          this.byChannel.delete(followed.channel);
        }
      }
    };
    followed.busy = run();
    return followed.busy;
  }

  private async readPresence(followed: FollowedRoom): Promise<void> {
    followed.remote.beginSnapshot();
    for (let attempt = 0; attempt < 5; attempt++) {
      const reply = await this.link.run('presenceSnapshot', [this.names.presence(followed.hash), this.names.presenceVersion(followed.hash)], []);
      const [version, flat] = Array.isArray(reply) ? (reply as [number, string[]]) : [0, []];
      const outcome = followed.remote.applySnapshot(Number(version), flat);
      if (this.announce(followed, outcome) || attempt === 4) return;
      followed.remote.beginSnapshot();
    }
  }

  /** joined/left frames for local JSON members; false when the picture needs a fresh snapshot. */
  private announce(followed: FollowedRoom, outcome: EventOutcome): boolean {
    if (outcome.kind === 'resync') return false;
    if (outcome.kind === 'buffered') return true;
    for (const change of outcome.changes) {
      const kind = change.delta > 0 ? 'joined' : 'left';
      for (let i = 0; i < Math.abs(change.delta); i++) this.local.presence(followed.room, ghost(change.name), kind);
    }
    return true;
  }

  private onChannel(channel: Buffer, raw: Buffer): void {
    const followed = this.byChannel.get(channel.toString('latin1'));
    if (followed === undefined) return;
    const event = decodeChannelEvent(raw);
    if (event === null) return;
    if (event.kind === 'control') {
      this.options.onControl?.(followed.room, event.json);
      return;
    }
    if (event.kind === 'mark') {
      followed.joins.get(event.token)?.marked();
      return;
    }
    if (event.kind === 'message') {
      const mine = event.node === this.node;
      if (!mine) this.stats.messagesIn++;
      const message: RoomMessage = { from: event.from, opcode: event.opcode, payload: event.payload, ts: event.ts, seq: event.seq };
      // Members still being welcomed get it after their replay (their view is older than this message, or it is skipped by seq).
      for (const wait of followed.joins.values()) wait.collected.push(message);
      if (followed.room.members.size === 0) return;
      const sender = mine ? (this.membersById.get(event.conn) ?? NOBODY) : NOBODY;
      this.local.relay(followed.room, sender, message);
      return;
    }
    const outcome = followed.remote.onEvent(event.version, event.node, event.kind === 'presence' ? event.delta : 0, event.kind === 'presence' ? event.name : null);
    if (!this.announce(followed, outcome)) this.rereadLater(followed);
  }

  /** Re-reads the room's presence after SETTLE_MS (once, however many reasons pile up meanwhile). */
  private rereadLater(followed: FollowedRoom): void {
    if (followed.resync !== null) return;
    followed.resync = setTimeout(() => {
      followed.resync = null;
      if (!followed.subscribed || !this.link.up) return;
      if (followed.busy !== null) return this.rereadLater(followed);
      followed.busy = this.readPresence(followed)
        .catch(() => undefined)
        .finally(() => (followed.busy = null));
    }, SETTLE_MS);
    followed.resync.unref();
  }

  // --- Redis coming and going

  private lost(): void {
    this.options.log('warn', 'cluster_redis_down', { lastError: this.link.stats.lastError });
    // The subscriber connection is gone with its subscriptions; what is known of the others stays until Redis says otherwise.
    for (const followed of this.byKey.values()) followed.subscribed = false;
  }

  /** Redis is (back) up, perhaps empty: register, subscribe, rewrite our presence, re-read the others'. */
  private async rebuild(): Promise<void> {
    this.options.log('info', 'cluster_redis_up', { node: this.node });
    this.heartbeat.up();
    try {
      await this.heartbeat.beat();
      const rooms = [...this.byKey.values()].filter((followed) => this.wanted(followed));
      for (const followed of this.byKey.values()) if (!this.wanted(followed)) void this.reconcile(followed);
      await this.link.subscribe(rooms.map((followed) => followed.channel));
      for (const followed of rooms) followed.subscribed = true;
      await this.syncPresence(rooms);
      // The others' entries are read once they have had time to rewrite them too.
      for (const followed of rooms) this.rereadLater(followed);
    } catch {
      // Down again: the next 'up' starts over.
    }
  }

  private async syncPresence(rooms: readonly FollowedRoom[]): Promise<void> {
    await Promise.all(
      rooms.map((followed) => {
        const counts = new Map<string, number>();
        for (const member of followed.room.members) counts.set(member.name, (counts.get(member.name) ?? 0) + 1);
        const pairs: Array<string | number> = [];
        for (const [name, count] of counts) pairs.push(name, count);
        const h = followed.hash;
        return this.link.run('presenceSync', [this.names.presence(h), this.names.presenceVersion(h), this.names.nodeRooms(this.node)], [this.node, followed.channel, h, ...pairs]);
      }),
    );
  }

  /** Redis forgot this node (reaped after a long pause, or wiped): put our members back and tell the others. */
  private async putPresenceBack(): Promise<void> {
    const rooms = [...this.byKey.values()].filter((followed) => followed.subscribed);
    await this.syncPresence(rooms);
    for (const followed of rooms) this.rereadLater(followed);
  }
}
