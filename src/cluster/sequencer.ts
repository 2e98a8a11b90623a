// A room's sequence in Redis as one node drives it: the messages it relays in
// one event-loop turn leave as one sequencing script call, and a joining
// member's view (epoch, seq, kept messages, then a marker) is read by the other
// script that may start a room's epoch, so the epoch candidate lives here too.

import type { ReplayWanted } from '../history/history-source';
import type { RoomMessage } from '../rooms/delivery';
import type { RoomMember } from '../rooms/member';
import { decodeChannelEvent } from './envelope';
import type { FollowedRoom, JoinWait } from './followed-room';
import { HASH_LENGTH } from './names';
import type { RedisLink } from './redis-link';

/** At most this many messages per script call: Redis runs one script at a time, so a flood must not become one long stall for everyone. */
const MAX_PER_CALL = 128;

export interface SequencerSettings {
  node: string;
  /** CLUSTER: the script builds each room's names from it and the room's hash (names.ts) */
  prefix: string;
  /** how long a room's seq and epoch outlive its last message (seconds) */
  keyTtlSeconds: number;
  /** HISTORY_SIZE (0 keeps no list) and HISTORY_TTL of the room's history list */
  historySize: number;
  historyTtlMs: number;
}

/** A message waiting for the end of the turn, kept whole so it can still be relayed on this node if Redis fails it. */
export interface QueuedMessage {
  followed: FollowedRoom;
  /** envelope.ts's message body, published after "m:SEQ:EPOCH:" */
  body: Buffer;
  sender: RoomMember;
  message: RoomMessage;
}

/** A room's history as one Redis script read it for a joining member (cluster-history.ts builds the view). */
export interface ClusterJoinState {
  epoch: string;
  seq: number;
  entries: RoomMessage[];
  /** Live messages that came after the read, until done(). */
  missed(): RoomMessage[];
  done(): void;
}

export class Sequencer {
  private queued: QueuedMessage[] = [];
  private scheduled = false;
  private epochs = 0;
  private marks = 0;
  private candidate: string;

  constructor(
    private readonly link: RedisLink,
    private readonly settings: SequencerSettings,
    /** Redis did not take these (it went away): the delivery relays them on this node. */
    private readonly unpublished: (queued: QueuedMessage) => void,
  ) {
    this.candidate = this.newEpoch();
  }

  /**
   * Queues a message for the end of this turn. A script call costs Redis and
   * ioredis more than one message inside it does, and a turn often holds several
   * (every member whose frame arrived in this poll phase): in bench/cluster.ts
   * many-rooms a call carried 5 to 7 messages, and CPU per message fell by ~20%.
   */
  publish(queued: QueuedMessage): void {
    this.queued.push(queued);
    if (this.scheduled) return;
    this.scheduled = true;
    // setImmediate runs after every I/O callback of this poll phase: all the turn's reads are in.
    setImmediate(this.atTurnEnd);
  }

  private readonly atTurnEnd = (): void => {
    this.scheduled = false;
    this.flush();
  };

  /** Sends what is queued, in order. The link also calls it before any other command, so none overtakes a message. */
  flush(): void {
    if (this.queued.length === 0) return;
    const all = this.queued;
    this.queued = [];
    for (let at = 0; at < all.length; at += MAX_PER_CALL) this.send(all.length <= MAX_PER_CALL ? all : all.slice(at, at + MAX_PER_CALL));
  }

  private send(batch: readonly QueuedMessage[]): void {
    // One argument for the whole batch: per message, the room's hash, the body's length, the body.
    let length = 0;
    for (const { body } of batch) length += HASH_LENGTH + 4 + body.length;
    const packed = Buffer.allocUnsafe(length);
    let at = 0;
    for (const { followed, body } of batch) {
      at += packed.write(followed.hash, at, HASH_LENGTH, 'latin1');
      at = packed.writeUInt32BE(body.length, at);
      at += body.copy(packed, at);
    }
    const candidate = this.candidate;
    const s = this.settings;
    this.link.run('publishMessages', [], [candidate, s.keyTtlSeconds, s.historySize, Math.max(1, s.historyTtlMs), s.prefix, packed]).then(
      (fresh) => this.taken(candidate, Number(fresh)),
      () => {
        for (const queued of batch) this.unpublished(queued);
      },
    );
  }

  /**
   * After attach(): the room's epoch, latest seq and kept messages from Redis, and
   * the live messages that reach this node after that read until done(). The read
   * publishes a marker on the room's channel; messages before the marker were in
   * the read or older, those after it are collected. Null when Redis does not
   * answer in time (the caller answers from this node's own history).
   */
  async joinState(followed: FollowedRoom, wanted: ReplayWanted, timeoutMs: number): Promise<ClusterJoinState | null> {
    const token = `${this.settings.node}${(this.marks++).toString(36)}`;
    let marked!: () => void;
    const markSeen = new Promise<boolean>((resolve) => (marked = () => resolve(true)));
    // Collecting from before the read: messages after it may reach us before its reply does.
    const wait: JoinWait = { collected: [], marked };
    followed.joins.set(token, wait);
    const candidate = this.candidate;
    try {
      const reply = (await this.link.runBuffer('joinView', followed.sequenceKeys, [followed.channel, candidate, token, this.settings.keyTtlSeconds, this.settings.historySize, wanted.history ?? 0, wanted.resume?.since ?? -1, wanted.resume?.epoch ?? ''])) as [Buffer, number, number, Buffer[]];
      const [epochBytes, seq, fresh, raw] = reply;
      this.taken(candidate, Number(fresh));
      let timer: NodeJS.Timeout | undefined;
      const seen = await Promise.race([markSeen, new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)))]);
      clearTimeout(timer);
      if (!seen) {
        followed.joins.delete(token);
        return null;
      }
      const epoch = epochBytes.toString('latin1');
      const entries: RoomMessage[] = [];
      for (const bytes of raw) {
        const event = decodeChannelEvent(bytes);
        if (event?.kind === 'message' && event.epoch === epoch) entries.push({ from: event.from, opcode: event.opcode, payload: event.payload, ts: event.ts, seq: event.seq });
      }
      const top = Number(seq);
      return {
        epoch,
        seq: top,
        entries,
        missed: () => wait.collected.filter((message) => message.seq > top),
        done: () => followed.joins.delete(token),
      };
    } catch {
      followed.joins.delete(token);
      return null;
    }
  }

  /** The candidate became some room's epoch: never offer it again. */
  private taken(candidate: string, rooms: number): void {
    if (rooms > 0 && this.candidate === candidate) this.candidate = this.newEpoch();
  }

  private newEpoch(): string {
    return `${this.settings.node}.${(this.epochs++).toString(36)}`;
  }
}
