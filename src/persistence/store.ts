// The entry point of src/persistence: the RoomStore API the room registry uses,
// and createStore, which picks MariaDB (MARIADB_URL set) or the embedded file
// store (DATA_DIR/rooms.json) behind the same queueing and outage behaviour.
//
// Semantics the registry relies on (details in queued-store.ts):
// - save/remove never reject. 'durable' = committed or fsynced; 'queued' = the
//   store is down, the write is kept (latest op per room) and written on
//   reconnect; 'refused' = not kept: down with the queue full (maxPendingWrites
//   rooms, default 100000) for a room not queued yet, the store closed, or the
//   database rejected the row's data. A join that would create a room should be
//   answered 503 on 'refused', so no room exists whose key could be lost.
// - open() throws StoreStartError (message for the operator) only for what a
//   retry cannot fix; an unreachable MariaDB resolves [] and the store retries
//   with backoff, then calls onLateLoad listeners once with the stored rooms.
//   Writes queued meanwhile are written first, so for a key present in both the
//   stored row already holds the in-memory version; the registry keeps its
//   in-memory rooms and adds only the keys it lacks.
// - close() waits up to closeTimeoutMs (5 s) for pending writes, then ends.

import { DEFAULT_BACKOFF, type BackoffOptions } from './backoff';
import { FileBackend } from './file';
import { DEFAULT_MARIADB_OPTIONS, MariadbBackend } from './mariadb';
import { DEFAULT_QUEUED_STORE_OPTIONS, QueuedStore } from './queued-store';
import type { RoomStore, StoreLog } from './types';

export { StoreStartError } from './types';
export type { RoomRecord, RoomStatus, RoomStore, StoreHealth, StoreKind, StoreLog, WriteOutcome } from './types';

export interface CreateStoreOptions {
  /** set and non-empty: MariaDB; otherwise the file store in dataDir */
  mariadbUrl?: string;
  dataDir: string;
  /** rooms the queue may hold while the store is down (default 100000) */
  maxPendingWrites?: number;
  log?: StoreLog;
  // Tuning, mostly for tests; the defaults suit production.
  /** how long close() waits for pending writes (default 5000) */
  closeTimeoutMs?: number;
  /** reconnect backoff (default 250 ms doubling to 10 s, with jitter) */
  backoff?: BackoffOptions;
  /** MariaDB connect timeout; the pool's acquire timeout is 1.5x (default 1000) */
  connectTimeoutMs?: number;
  /** a write still running after this long counts as an outage (default 3000 MariaDB, 30000 file) */
  writeTimeoutMs?: number;
  /** liveness check of an idle MariaDB, so health notices an outage without traffic (default 5000; 0 = off) */
  heartbeatMs?: number;
}

export function createStore(options: CreateStoreOptions): RoomStore {
  const log: StoreLog = options.log ?? (() => undefined);
  const backend = options.mariadbUrl
    ? new MariadbBackend(options.mariadbUrl, {
        log,
        connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_MARIADB_OPTIONS.connectTimeoutMs,
        writeTimeoutMs: options.writeTimeoutMs ?? DEFAULT_MARIADB_OPTIONS.writeTimeoutMs,
        poolSize: DEFAULT_MARIADB_OPTIONS.poolSize,
      })
    : new FileBackend(options.dataDir, { writeTimeoutMs: options.writeTimeoutMs ?? 30_000 });
  return new QueuedStore(backend, {
    log,
    maxPendingWrites: options.maxPendingWrites ?? DEFAULT_QUEUED_STORE_OPTIONS.maxPendingWrites,
    backoff: options.backoff ?? DEFAULT_BACKOFF,
    closeTimeoutMs: options.closeTimeoutMs ?? DEFAULT_QUEUED_STORE_OPTIONS.closeTimeoutMs,
    heartbeatMs: options.heartbeatMs ?? DEFAULT_QUEUED_STORE_OPTIONS.heartbeatMs,
  });
}
