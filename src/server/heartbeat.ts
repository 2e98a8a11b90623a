// One heartbeat for all peers (RFC 6455 section 5.5.2): a peer silent for a whole
// interval gets a ping; still silent one interval later, it is gone (half-open TCP
// never says so itself). The tick also ends uploads that stall. The server owns the timer.

import { CloseCode } from '../frames/close-codes';
import type { Logger } from './logger';
import type { Metrics } from './metrics';
import type { WsPeer } from './ws-peer';

/**
 * A message begun but not completed for this many ticks holds memory (up to
 * MAX_MESSAGE_BYTES) for a peer that only drips bytes: it is closed with 1008.
 */
export const STALLED_TICKS = 3;

export function heartbeatTick(peers: Iterable<WsPeer>, ctx: { log: Logger; metrics: Metrics; pingIntervalMs: number }): void {
  const { log, metrics } = ctx;
  for (const peer of peers) {
    const { conn } = peer;
    if (conn.messageInProgress && conn.messagesCompleted === peer.messagesAtLastTick) peer.stalledTicks++;
    else peer.stalledTicks = 0;
    peer.messagesAtLastTick = conn.messagesCompleted;
    if (peer.stalledTicks >= STALLED_TICKS) {
      log.info('stalled_message_dropped', { peer: peer.remote, closeCode: CloseCode.PolicyViolation });
      peer.close(CloseCode.PolicyViolation, 'message not completed in time');
      continue;
    }
    if (conn.heardFrom) {
      conn.heardFrom = false;
      peer.awaitingPong = false;
    } else if (!peer.awaitingPong) {
      peer.awaitingPong = true;
      conn.ping();
    } else {
      metrics.deadPeersDropped++;
      log.info('dead_peer_dropped', { peer: peer.remote, silentForMoreThanMs: 2 * ctx.pingIntervalMs });
      peer.socket.destroy();
    }
  }
}
