// The entry point of src/persistence: the RoomStore API the room registry uses,
// and createStore, which picks MariaDB (MARIADB_URL set) or the embedded file
// store (DATA_DIR/rooms.json) behind the same queueing and outage behaviour.
//
// Semantics the registry relies on (details in queued-store.ts and outage-journal.ts):
// - save/remove never reject. 'durable' = committed or fsynced; 'queued' = the
//   store is down, the write is kept (latest op per room) and written on
//   reconnect; 'refused' = not kept: down with the queue full (maxPendingWrites
//   rooms, default 100000) for a room not queued yet, the store closed, or the
//   database rejected the row's data. A join that would create a room should be
//   answered 503 on 'refused', so no room exists whose key could be lost.
// - open() throws StoreStartError (message for the operator) only for what a
//   retry cannot fix; an unreachable MariaDB resolves [] and the store retries
//   with backoff, then calls onLateLoad listeners once with the stored rooms.
//   Writes queued meanwhile are written first, and a save MERGES into a stored
//   row of its key (the earlier creation keeps its owner and createdAt; types.ts
//   applySave) unless it re-creates a room removed in this run (then it replaces
//   the row). So for a key present in both, the loaded row is the truth: the
//   registry adds the keys it lacks and, for keys it has, takes the stored owner
//   and createdAt when they are earlier (RoomRegistry.restore). Rows of rooms
//   removed while the load ran are left out.
// - MariaDB down: every write that enters the queue (made while down, or whose
//   write failed) is first made durable locally, in DATA_DIR/pending-writes.json
//   (journal.ts: an atomic rewrite of the whole coalesced queue, one per turn of
//   the event loop however many writes it holds), and only then resolves
//   'queued'; if that rewrite fails, the write is taken back out of the queue
//   and resolves 'refused'. So a crash (kill -9) during an outage loses no room:
//   the next start replays the file. While the store is up and no journal exists,
//   the file is never touched. The file store keeps its queue in memory (its
//   outages are disk errors, which the journal would share).
// - close() waits up to closeTimeoutMs (5 s) for pending writes; what is still
//   owed then (the store is down) is spilled to the same journal and close()
//   resolves; if even that fails it rejects with StoreCloseError (the process
//   should exit non-zero).
// - open() first replays such a journal: its writes are queued before anything
//   else and written before the load; while the store is unreachable, open()
//   returns the rooms they save, so they are served at once. The file is deleted
//   once everything in it is durable in the store; until then a write to the
//   store of a room the file holds an older op of rewrites it first, so a replay
//   never rolls a room back. A journal that cannot be read, or is owed to
//   another store, stops the start (StoreStartError).

import { RedisRoomBackend } from '../cluster/redis-store';
import { DEFAULT_BACKOFF, type BackoffOptions } from './write-behind';
import { FileBackend } from './file';
import { FileJournal } from './journal';
import { DEFAULT_MARIADB_OPTIONS, MariadbBackend } from './mariadb';
import { DEFAULT_QUEUED_STORE_OPTIONS, QueuedStore } from './queued-store';
import type { RoomStore, StoreLog } from './types';

export { StoreCloseError, StoreStartError } from './types';
export type { RoomRecord, RoomStatus, RoomStore, StoreHealth, StoreKind, StoreLog, WriteOutcome } from './types';

export interface CreateStoreOptions {
  /** set and non-empty: MariaDB; otherwise the file store in dataDir */
  mariadbUrl?: string;
  /** ROOM_STORE=redis: room records in this Redis, under this cluster's prefix (wins over mariadbUrl) */
  redis?: { url: string; cluster: string };
  /** the file store's folder, and with either store the folder of the pending-writes journal */
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
  const backend = options.redis
    ? new RedisRoomBackend(options.redis.url, options.redis.cluster)
    : options.mariadbUrl
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
    journal: new FileJournal(options.dataDir),
    // The file store has no outage of that kind: its queue is spilled only at close.
    journalWhileDown: backend.kind !== 'file',
  });
}
