// What a room store backend implements (the file store, MariaDB, Redis): connect, load
// and write one batch, within a time after which it counts as down. Queueing, outages
// and the journal are the queued store's (queued-store.ts), the same for every backend.

import type { PendingOp, RoomRecord, StoreKind } from './types';
import { within } from './write-behind';

export interface Backend {
  readonly kind: StoreKind;
  readonly description: string;
  /** the data it writes to, whatever the account ("file", "mariadb HOST:PORT/DATABASE"): a journal owed to another is refused */
  readonly identity: string;
  /** most ops written by one write() (the file store writes everything at once) */
  readonly maxBatch: number;
  /** a write still running after this long counts as an outage (a hung database) */
  readonly writeTimeoutMs: number;
  /**
   * Makes the store usable: the first call validates the settings and applies the
   * schema or reads the file; later calls (after an outage) just reach it again.
   * Throws StoreStartError for what retrying cannot fix; any other error means
   * "unreachable for now".
   */
  connect(): Promise<void>;
  /** throws StoreStartError for settings wrong before anything is read (a malformed URL); optional */
  checkSettings?(): void;
  /** every stored room; only called after connect() succeeded */
  load(): Promise<RoomRecord[]>;
  /** writes the ops in one unit (transaction or snapshot); throws when nothing or not all of it is durable */
  write(ops: readonly PendingOp[]): Promise<void>;
  /** 'data': this op can never be written (retrying is pointless); anything else is an outage */
  classify(err: unknown): 'transient' | 'data';
  /** cheap liveness check while idle; undefined when there is nothing to check */
  ping?(): Promise<void>;
  /** one stored room as the store holds it now (a cluster reads back who won a creation); optional */
  read?(room: string): Promise<RoomRecord | null>;
  /** gives up on the write in flight so that its promise settles soon (timeout) */
  abort(): void;
  close(): Promise<void>;
}

/** A write (or liveness check) that hung: treated as an outage. */
export class WriteTimeoutError extends Error {
  constructor(ms: number) {
    super(`the store did not answer within ${ms} ms`);
  }
}

/** backend.write(ops), or why not; a write still running after writeTimeoutMs is abandoned and aborted. */
export async function writeWithin(backend: Backend, ops: readonly PendingOp[]): Promise<'ok' | { error: unknown }> {
  const write = backend.write(ops).then(
    () => 'ok' as const,
    (error: unknown) => ({ error }),
  );
  const result = await within(write, backend.writeTimeoutMs, { error: new WriteTimeoutError(backend.writeTimeoutMs) });
  if (result !== 'ok' && result.error instanceof WriteTimeoutError) {
    // The entries stay queued; whatever the abandoned write does later is
    // harmless because the next write of the same rooms carries their latest op.
    backend.abort();
  }
  return result;
}

/** backend.ping(): null when it answered within writeTimeoutMs, else why not. */
export async function pingWithin(backend: Backend): Promise<unknown> {
  const pinged = (backend.ping?.() ?? Promise.resolve()).then(
    () => null,
    (err: unknown) => err,
  );
  return within(pinged, backend.writeTimeoutMs, new WriteTimeoutError(backend.writeTimeoutMs));
}
