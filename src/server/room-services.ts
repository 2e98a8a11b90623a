// Everything behind the sockets, assembled from the settings: the store, the history,
// the cluster (REDIS_URL), the registry and access control; and what the server asks
// of them as a whole — its health, its room list, the retention purge and the final flush.

import { AccessControl } from '../access/access-control';
import type { OwnerCommands } from '../access/owner-commands';
import { ClusterDelivery } from '../cluster/cluster-delivery';
import { ClusterHistory } from '../cluster/cluster-history';
import { ClusterRoomControl } from '../cluster/cluster-room-control';
import { roomStoreKind } from '../cluster/cluster-settings';
import { CompressionStats } from '../extensions/permessage-deflate';
import type { HistoryStore } from '../history/history-store';
import { createServerHistory, type ServerHistory } from '../history/open-history';
import { createStore } from '../persistence/store';
import type { RoomStore } from '../persistence/types';
import { LocalDelivery } from '../rooms/delivery';
import { RoomRegistry, type RoomSummary } from '../rooms/room-registry';
import type { Settings } from '../settings';
import type { Logger } from './logger';

export interface RoomServices {
  access: AccessControl;
  store: RoomStore;
  registry: RoomRegistry;
  ownerCommands: OwnerCommands;
  compressionStats: CompressionStats;
  history: ServerHistory;
  /** null in a single process (no REDIS_URL) */
  cluster: ClusterDelivery | null;
  clusterControl: ClusterRoomControl | null;
  /** rooms back from the store at start */
  restored: number;
  /** /admin/rooms: members counted on every node in a cluster */
  rooms(): RoomSummary[] | Promise<RoomSummary[]>;
  /** DELETE /admin/rooms/KEY: closes the room as its owner would; false for no such room */
  closeRoom(key: string): Promise<boolean>;
  /** Deletes rooms idle past ROOM_RETENTION (in a cluster, only those empty on every node). */
  purgeExpired(): void;
  /** After the last socket: history, cluster and store flushed and closed, in that order. */
  close(closeTimeoutMs: number): Promise<void>;
}

export interface RoomServicesOptions {
  /** A store already built (tests); by default one is made from the settings. */
  store?: RoomStore;
  /** A history store already built (tests); null keeps history in memory only. */
  historyStore?: HistoryStore | null;
}

export async function openRoomServices(settings: Settings, log: Logger, options: RoomServicesOptions = {}): Promise<RoomServices> {
  const logTo = (level: 'info' | 'warn' | 'error', event: string, fields: Record<string, unknown>) => log[level](event, fields);
  // Access settings are checked first: a bad join-token key stops the start (AccessSettingsError).
  const access = new AccessControl(settings);
  const storeKind = roomStoreKind(settings);
  const store =
    options.store ??
    createStore({
      mariadbUrl: storeKind === 'file' ? undefined : settings.mariadbUrl,
      ...(storeKind === 'redis' && settings.redisUrl !== undefined ? { redis: { url: settings.redisUrl, cluster: settings.cluster } } : {}),
      dataDir: settings.dataDir,
      log: logTo,
    });
  // Recovery before accepting anyone: every stored room is back, empty, owner and creation time kept.
  const stored = await store.open();
  const compressionStats = new CompressionStats();
  // A cluster keeps history in Redis (src/cluster/cluster-history.ts); a node's own, for Redis outages, in memory only.
  const history = createServerHistory(settings, logTo, settings.redisUrl ? null : options.historyStore);
  let clusterHistory: ClusterHistory | null = null;
  let clusterControl: ClusterRoomControl | null = null;
  const localDelivery = new LocalDelivery(compressionStats);
  // REDIS_URL: one node of a cluster (src/cluster); unset, the in-process delivery and nothing else.
  const cluster = settings.redisUrl
    ? new ClusterDelivery(localDelivery, {
        redisUrl: settings.redisUrl,
        cluster: settings.cluster,
        keyTtlSeconds: Math.ceil(settings.roomRetentionMs / 1000) + 86_400,
        log: logTo,
        history: { size: settings.historySize, ttlMs: settings.historyTtlMs },
        sequenceLocally: (room, message) => clusterHistory?.sequenceLocally(room, message),
        onControl: (room, json) => clusterControl?.onControl(room, json),
        onSettled: () => void clusterControl?.resend(),
      })
    : null;
  if (cluster !== null) await cluster.start();
  clusterHistory = cluster !== null ? new ClusterHistory(cluster, history.history) : null;
  const readStored = store.read !== undefined ? (key: string) => store.read!(key) : undefined;
  const registry = new RoomRegistry(store, cluster ?? localDelivery, {
    retentionMs: settings.roomRetentionMs,
    history: history.history,
    ...(clusterHistory !== null ? { source: clusterHistory } : {}),
    ...(cluster !== null && readStored !== undefined ? { readBack: readStored } : {}),
  });
  const restored = registry.restore(stored);
  // Histories come back for the rooms that did; the relay never waits on the writer after this.
  await history.writer?.open((key) => registry.get(key) !== undefined);
  store.onLateLoad((records) => log.info('rooms_restored_late', { rooms: registry.restore(records) }));
  // A cluster carries owner commands to every node (src/cluster/cluster-room-control.ts).
  clusterControl = cluster !== null ? new ClusterRoomControl(cluster, registry, readStored, logTo) : null;
  const ownerCommands = access.attach(registry, clusterControl ?? undefined);

  const purged = (keys: string[]) => {
    if (keys.length > 0) log.info('rooms_purged', { count: keys.length });
  };
  return {
    access,
    store,
    registry,
    ownerCommands,
    compressionStats,
    history,
    cluster,
    clusterControl,
    restored,
    rooms: () => (cluster === null ? registry.summaries() : registry.summariesCounted((rooms) => cluster.countMembers(rooms))),
    closeRoom: async (key) => {
      // A cluster node may not hold a room made on another node: it is read from the shared store first.
      if (clusterControl !== null) await clusterControl.refresh(key);
      const room = registry.get(key);
      return room !== undefined && ownerCommands.closeRoom(room);
    },
    purgeExpired: () => {
      if (cluster === null) return purged(registry.purgeExpired());
      // Idle only when empty on every node: rooms with members elsewhere are not purged.
      void cluster.countMembers(registry.expiredRooms()).then((counts) => purged(registry.purgeExpired(new Set([...counts].filter(([, n]) => n > 0).map(([key]) => key)))));
    },
    close: async (closeTimeoutMs) => {
      await history.writer?.close(closeTimeoutMs);
      await clusterControl?.beforeStop();
      await cluster?.close();
      await store.close();
    },
  };
}
