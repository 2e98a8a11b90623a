// The server's counters and gauges, rendered in the Prometheus text format
// (version 0.0.4) for GET /metrics.

import type { HistoryMemory } from '../history/room-history';

export class Metrics {
  connectionsTotal = 0;
  handshakesRefused = 0;
  messagesIn = 0;
  bytesIn = 0;
  messagesOut = 0;
  bytesOut = 0;
  protocolErrors = 0;
  slowConsumersDropped = 0;
  deadPeersDropped = 0;
  rateLimited = 0;
}

export interface MetricsSnapshot {
  metrics: Metrics;
  /** Open WebSocket connections: the server's set of peers, not a counter kept beside it. */
  connections: number;
  compression: { inflatedFrom: number; inflatedTo: number; deflatedFrom: number; deflatedTo: number };
  rooms: number;
  roomMembers: number;
  store: { kind: string; up: boolean; pendingWrites: number; errors: number };
  /** This process's kept history (in a cluster, Redis keeps it: this is what a node keeps for a Redis outage). */
  history: HistoryMemory;
}

export function renderPrometheus({ metrics, connections, rooms, roomMembers, store, compression, history }: MetricsSnapshot): string {
  const lines: string[] = [];
  const metric = (name: string, type: 'counter' | 'gauge', help: string, value: number, labels = '') => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name}${labels} ${value}`);
  };
  metric('rooms_connections', 'gauge', 'Open WebSocket connections.', connections);
  metric('rooms_connections_total', 'counter', 'WebSocket connections accepted since start.', metrics.connectionsTotal);
  metric('rooms_handshakes_refused_total', 'counter', 'Upgrade requests refused with an HTTP error.', metrics.handshakesRefused);
  metric('rooms_rooms', 'gauge', 'Rooms in memory (live and idle).', rooms);
  metric('rooms_members', 'gauge', 'Members present in rooms.', roomMembers);
  metric('rooms_messages_in_total', 'counter', 'Data messages received from clients.', metrics.messagesIn);
  metric('rooms_bytes_in_total', 'counter', 'Payload bytes of data messages received.', metrics.bytesIn);
  metric('rooms_messages_out_total', 'counter', 'Data messages delivered to clients (one per receiver).', metrics.messagesOut);
  metric('rooms_bytes_out_total', 'counter', 'Frame bytes delivered to clients.', metrics.bytesOut);
  metric('rooms_protocol_errors_total', 'counter', 'Connections failed for a protocol violation (1002/1007/1009).', metrics.protocolErrors);
  metric('rooms_slow_consumers_dropped_total', 'counter', 'Receivers dropped for exceeding MAX_BUFFERED_BYTES.', metrics.slowConsumersDropped);
  metric('rooms_dead_peers_dropped_total', 'counter', 'Peers dropped for not answering pings.', metrics.deadPeersDropped);
  metric('rooms_rate_limited_total', 'counter', 'Connections closed for exceeding the message rate.', metrics.rateLimited);
  metric('rooms_deflate_in_compressed_bytes_total', 'counter', 'Compressed payload bytes received (permessage-deflate).', compression.inflatedFrom);
  metric('rooms_deflate_in_inflated_bytes_total', 'counter', 'What those bytes inflated to.', compression.inflatedTo);
  metric('rooms_deflate_out_original_bytes_total', 'counter', 'Message bytes compressed for sending (each compression counted once).', compression.deflatedFrom);
  metric('rooms_deflate_out_compressed_bytes_total', 'counter', 'What those bytes compressed to.', compression.deflatedTo);
  metric('rooms_deflate_out_ratio', 'gauge', 'Compressed / original for sent messages (1 when nothing was compressed).', compression.deflatedFrom === 0 ? 1 : compression.deflatedTo / compression.deflatedFrom);
  metric('rooms_store_up', 'gauge', 'Whether the room store is reachable (1) or not (0).', store.up ? 1 : 0, `{kind="${store.kind}"}`);
  metric('rooms_store_pending_writes', 'gauge', 'Room writes owed to the store.', store.pendingWrites);
  metric('rooms_store_errors_total', 'counter', 'Failed store connections and writes since start.', store.errors);
  metric('rooms_history_kept_messages', 'gauge', 'Messages kept for resume and history=N, all rooms.', history.messages);
  metric('rooms_history_kept_bytes', 'gauge', 'What those messages cost as HISTORY_MAX_BYTES counts them (payload, sender, about 100 bytes each).', history.bytes);
  metric('rooms_history_slab_bytes', 'gauge', 'Memory the slabs of small kept payloads (up to 4 KiB) hold: at most about twice their live bytes plus 128 KiB.', history.slabBytes);
  return `${lines.join('\n')}\n`;
}
