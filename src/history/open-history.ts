// Builds the history for a server from its settings: the rooms' RoomHistory,
// and (HISTORY_SIZE > 0) its writer to the store that matches the room store:
// MariaDB when MARIADB_URL is set, else DATA_DIR/history.log.

import type { Settings } from '../settings';
import type { HistoryStore } from './history-store';
import { FileHistoryStore } from './file-history-store';
import { HistoryWriter, type HistoryWriterHealth } from './history-writer';
import { MariadbHistoryStore } from './mariadb-history-store';
import { RoomHistory } from './room-history';

export interface ServerHistory {
  history: RoomHistory;
  /** null when history is off (HISTORY_SIZE=0: seqs are counted in memory only) or kept by the cluster in Redis. */
  writer: HistoryWriter | null;
  health(): HistoryHealth;
}

/**
 * `/healthz`'s `history`: off; kept in this process's store (file or MariaDB) with
 * its writer's state; or kept in Redis by the cluster (whose state is `cluster.redis`).
 */
export type HistoryHealth = { kept: false } | (HistoryWriterHealth & { kept: true; store: 'file' | 'mariadb' }) | { kept: true; store: 'redis' };

export type HistoryLog = (level: 'info' | 'warn', event: string, fields: Record<string, unknown>) => void;

/** `store` null: a cluster, whose history Redis keeps (src/cluster/cluster-history.ts), so this process writes none. */
export function createServerHistory(settings: Settings, log: HistoryLog, store?: HistoryStore | null): ServerHistory {
  const limits = { size: settings.historySize, ttlMs: settings.historyTtlMs };
  const history = new RoomHistory({ ...limits, maxBytes: settings.historyMaxBytes });
  if (limits.size === 0) return { history, writer: null, health: () => ({ kept: false }) };
  if (store === null) return { history, writer: null, health: () => ({ kept: true, store: 'redis' }) };
  const backend = store ?? (settings.mariadbUrl ? new MariadbHistoryStore(settings.mariadbUrl, limits) : new FileHistoryStore(settings.dataDir, limits));
  const writer = new HistoryWriter(backend, history, { log });
  return { history, writer, health: () => ({ kept: true, store: backend.kind, ...writer.health() }) };
}
