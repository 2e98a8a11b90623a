// Seqs, epochs and history for a node of a cluster (HistorySource): Redis gives
// each message its seq and keeps the room's history list in the script that
// publishes it, so every node welcomes, resumes and replays alike. While Redis is
// away a node relays locally under an epoch of its own (never the cluster's), so
// a resume across the outage answers recovered:false instead of a wrong replay.

import { type HistorySource, type JoinView, logView, type ReplayWanted } from '../history/history-source';
import { planReplay } from '../history/replay';
import type { RoomHistory } from '../history/room-history';
import { RoomLog } from '../history/room-log';
import type { RoomMessage } from '../rooms/delivery';
import type { Room } from '../rooms/room';
import type { ClusterDelivery } from './cluster-delivery';

export class ClusterHistory implements HistorySource {
  /** `outage`: this node's own history (memory only), used while Redis is away. */
  constructor(
    private readonly delivery: ClusterDelivery,
    private readonly outage: RoomHistory,
  ) {}

  /** Redis gives the seq when it publishes; the delivery asks sequenceLocally() when it cannot. */
  sequence(): void {}

  sequenceLocally(room: Room, message: RoomMessage): void {
    message.seq = this.outage.append(room.key, message.opcode, message.from, message.payload, message.ts);
  }

  created(key: string): void {
    this.outage.created(key);
  }

  removed(key: string): void {
    this.outage.removed(key);
    this.delivery.dropHistory(key);
  }

  /** Only while Redis is away (this node's outage history); otherwise Redis is read. */
  viewNow(room: Room): JoinView | null {
    return this.delivery.health().redis === 'up' ? null : logView(this.outage.of(room.key));
  }

  async view(room: Room, wanted: ReplayWanted): Promise<JoinView> {
    const state = await this.delivery.joinState(room, wanted);
    if (state === null) return logView(this.outage.of(room.key));
    const log = new RoomLog(state.epoch, state.seq, state.entries, this.outage.limits);
    return {
      plan: (mode, replay, now, maxBytes) => planReplay(log, mode, replay.resume, replay.history, now, maxBytes),
      missed: state.missed,
      done: state.done,
    };
  }
}
