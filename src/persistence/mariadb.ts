// The MariaDB backend: the connection pool, schema at connect (schema.ts), batched
// upserts/deletes in one transaction. Its URL is mariadb-url.ts; what its errors
// mean (outage, bad data, stop the start) is mariadb-errors.ts.

import { readFile } from 'node:fs/promises';
import type { EventEmitter } from 'node:events';
import mariadb, { type Connection, type ConnectionConfig, type Pool, type PoolConnection } from 'mariadb';
import type { Backend } from './backend';
import { isDataError, isOutage, shortMessage, startError } from './mariadb-errors';
import { describeTarget, identifyTarget, parseMariadbUrl, type MariadbTarget } from './mariadb-url';
import { applySchema, parseSchema, SCHEMA_FILE, type SchemaStep } from './schema';
import { StoreStartError, type PendingOp, type RoomRecord, type RoomStatus, type StoreLog } from './types';

export interface MariadbBackendOptions {
  log: StoreLog;
  /** also the acquire timeout base; short, so an outage is noticed within about a second */
  connectTimeoutMs: number;
  writeTimeoutMs: number;
  poolSize: number;
}

export const DEFAULT_MARIADB_OPTIONS: Omit<MariadbBackendOptions, 'log'> = {
  connectTimeoutMs: 1000,
  writeTimeoutMs: 3000,
  poolSize: 4,
};

const UPSERT_HEAD = 'INSERT INTO rooms (room_key, owner, created_at, status, last_activity, secret_hash, owner_token_hash, locked) VALUES ';
// The merge rule (types.ts applySave): over an existing row the creation stored
// first wins (owner and created_at are never updated), so a room written by a
// server that did not know it was stored (it started while the database was
// down, or another node created it a moment before) keeps the stored owner.
// The same incarnation writes its access columns (its owner token hash never
// changes); another keeps the row's. A save that replaces a removed incarnation deletes the row
// first (write()).
// "The same incarnation" is types.ts sameCreation: created_at, owner and owner_token_hash all
// equal (NULL-safe), so secret_hash and locked are assigned before anything they compare.
const SAME_CREATION = 'VALUES(created_at) = created_at AND VALUES(owner) = owner AND VALUES(owner_token_hash) <=> owner_token_hash';
const UPSERT_TAIL =
  ` ON DUPLICATE KEY UPDATE secret_hash = IF(${SAME_CREATION}, VALUES(secret_hash), secret_hash),` +
  ` locked = IF(${SAME_CREATION}, VALUES(locked), locked),` +
  ' status = VALUES(status), last_activity = VALUES(last_activity)';
/** rows per statement: one round trip each, well under max_allowed_packet */
const ROWS_PER_STATEMENT = 500;

/** What a room record is read from: its origin, status and access rights. */
const ROOM_COLUMNS = 'room_key, owner, created_at, status, last_activity, secret_hash, owner_token_hash, locked';

export class MariadbBackend implements Backend {
  readonly kind = 'mariadb' as const;
  readonly description: string;
  /** the database itself (host, port, name), whoever logs in: what a pending-writes journal is owed to */
  readonly identity: string;
  readonly maxBatch = 2000;
  readonly writeTimeoutMs: number;

  private readonly target: MariadbTarget | null;
  private readonly urlError: StoreStartError | null;
  private schemaApplied = false;
  private steps: SchemaStep[] | null = null;
  private pool: Pool | null = null;
  private current: PoolConnection | null = null;
  private closed = false;

  constructor(
    url: string,
    private readonly options: MariadbBackendOptions,
  ) {
    this.writeTimeoutMs = options.writeTimeoutMs;
    // A bad URL is reported by open() (createStore itself does not throw).
    try {
      this.target = parseMariadbUrl(url);
      this.urlError = null;
      this.description = describeTarget(this.target);
      this.identity = identifyTarget(this.target);
    } catch (err) {
      this.target = null;
      this.urlError = err as StoreStartError;
      this.description = 'mariadb (invalid MARIADB_URL)';
      this.identity = this.description;
    }
  }

  checkSettings(): void {
    if (this.urlError) throw this.urlError;
  }

  async connect(): Promise<void> {
    if (this.urlError) throw this.urlError;
    const target = this.target!;
    if (this.closed) throw new Error('store closed');
    // A fresh connection rather than the pool: it fails at once with the real
    // reason (refused, denied...) where the pool would wait for its acquire timeout.
    const conn = await this.openConnection(target);
    try {
      if (!this.schemaApplied) {
        this.steps ??= await this.readSchema();
        try {
          const result = await applySchema(conn, this.steps);
          if (result.applied.length > 0) this.options.log('info', 'store.schema_applied', { store: this.description, from: result.from, to: result.to });
        } catch (err) {
          throw startError(err, target, 'applying schema.sql');
        }
        try {
          await probeWriteAccess(conn);
        } catch (err) {
          throw startError(err, target, 'checking that it may write rooms');
        }
        this.schemaApplied = true;
      }
    } finally {
      await conn.end().catch(() => conn.destroy());
    }
    this.pool ??= this.createPool(target);
  }

  async read(room: string): Promise<RoomRecord | null> {
    const rows = (await this.requirePool().query(`SELECT ${ROOM_COLUMNS} FROM rooms WHERE room_key = ?`, [room])) as Record<string, unknown>[];
    return rows.length === 0 ? null : this.toRecords(rows)[0]!;
  }

  async load(): Promise<RoomRecord[]> {
    const rows = (await this.requirePool().query(`SELECT ${ROOM_COLUMNS} FROM rooms`)) as Record<string, unknown>[];
    return this.toRecords(rows);
  }

  private toRecords(rows: readonly Record<string, unknown>[]): RoomRecord[] {
    const records: RoomRecord[] = [];
    for (const row of rows) {
      let status = row.status as RoomStatus;
      if (status !== 'live' && status !== 'idle') {
        // A status added by a newer version: keep the room (its key matters more).
        this.options.log('warn', 'store.unknown_status', { room: row.room_key, status: row.status });
        status = 'idle';
      }
      const record: RoomRecord = {
        room: String(row.room_key),
        owner: String(row.owner),
        createdAt: Number(row.created_at),
        status,
        lastActivity: Number(row.last_activity),
      };
      if (row.secret_hash !== null && row.secret_hash !== undefined) record.secretHash = String(row.secret_hash);
      if (row.owner_token_hash !== null && row.owner_token_hash !== undefined) record.ownerTokenHash = String(row.owner_token_hash);
      if (Number(row.locked) === 1) record.locked = true;
      records.push(record);
    }
    return records;
  }

  async write(ops: readonly PendingOp[]): Promise<void> {
    const upserts: unknown[][] = [];
    // Deleted first, in the same transaction: the rooms removed, and the old
    // rows of rooms re-created after a removal (saves that replace).
    const removes: string[] = [];
    for (const op of ops) {
      if (op.kind === 'save') {
        const r = op.record;
        upserts.push([r.room, r.owner, Math.trunc(r.createdAt), r.status, Math.trunc(r.lastActivity), r.secretHash ?? null, r.ownerTokenHash ?? null, r.locked === true ? 1 : 0]);
        if (op.replaces === true) removes.push(op.room);
      } else {
        removes.push(op.room);
      }
    }
    const conn = await this.requirePool().getConnection();
    this.current = conn;
    const statements: [string, unknown[]][] = [];
    for (let i = 0; i < removes.length; i += ROWS_PER_STATEMENT) {
      const chunk = removes.slice(i, i + ROWS_PER_STATEMENT);
      statements.push([`DELETE FROM rooms WHERE room_key IN (${chunk.map(() => '?').join(', ')})`, chunk]);
    }
    for (let i = 0; i < upserts.length; i += ROWS_PER_STATEMENT) {
      const chunk = upserts.slice(i, i + ROWS_PER_STATEMENT);
      statements.push([UPSERT_HEAD + chunk.map(() => '(?, ?, ?, ?, ?, ?, ?, ?)').join(', ') + UPSERT_TAIL, chunk.flat()]);
    }
    try {
      if (statements.length === 1) {
        // autocommit: durable when the server answers, one round trip
        await conn.query(statements[0]![0], statements[0]![1]);
      } else {
        await conn.beginTransaction();
        try {
          for (const [sql, values] of statements) await conn.query(sql, values);
          await conn.commit();
        } catch (err) {
          await conn.rollback().catch(() => undefined);
          throw err;
        }
      }
    } finally {
      this.current = null;
      await conn.release().catch(() => undefined);
    }
  }

  classify(err: unknown): 'transient' | 'data' {
    return isDataError(err) ? 'data' : 'transient';
  }

  async ping(): Promise<void> {
    await this.requirePool().query('SELECT 1');
  }

  abort(): void {
    // Destroying the socket makes the hung query reject; the server rolls back.
    this.current?.destroy();
    this.current = null;
  }

  async close(): Promise<void> {
    this.closed = true;
    const pool = this.pool;
    this.pool = null;
    if (pool) await pool.end();
  }

  // --- helpers ----------------------------------------------------------------

  private requirePool(): Pool {
    if (!this.pool) throw new Error('store not connected');
    return this.pool;
  }

  private connectionConfig(target: MariadbTarget, withDatabase: boolean): ConnectionConfig {
    return {
      host: target.host,
      port: target.port,
      user: target.user,
      password: target.password,
      database: withDatabase ? target.database : undefined,
      connectTimeout: this.options.connectTimeoutMs,
      charset: 'utf8mb4',
    };
  }

  private async openConnection(target: MariadbTarget): Promise<Connection> {
    try {
      return listen(await mariadb.createConnection(this.connectionConfig(target, true)));
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'ER_BAD_DB_ERROR') throw startError(err, target, 'connecting');
    }
    // The database does not exist yet: create it, as a first start should just work.
    let admin: Connection;
    try {
      admin = listen(await mariadb.createConnection(this.connectionConfig(target, false)));
    } catch (err) {
      throw startError(err, target, 'connecting');
    }
    try {
      await admin.query(`CREATE DATABASE IF NOT EXISTS \`${target.database}\` CHARACTER SET utf8mb4`);
      this.options.log('info', 'store.database_created', { store: this.description });
    } catch (err) {
      if (isOutage(err)) throw err;
      throw new StoreStartError(
        `MariaDB database "${target.database}" does not exist and user "${target.user}" may not create it (${shortMessage(err)}). ` +
          `Create it (CREATE DATABASE \`${target.database}\`) and grant the user SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX on it, or fix the name in MARIADB_URL.`,
      );
    } finally {
      await admin.end().catch(() => admin.destroy());
    }
    try {
      return listen(await mariadb.createConnection(this.connectionConfig(target, true)));
    } catch (err) {
      throw startError(err, target, 'connecting');
    }
  }

  private async readSchema(): Promise<SchemaStep[]> {
    let text: string;
    try {
      text = await readFile(SCHEMA_FILE, 'utf8');
    } catch (err) {
      throw new StoreStartError(`cannot read the schema file ${SCHEMA_FILE.pathname} (${shortMessage(err)}); it ships with the server, reinstall or restore it.`);
    }
    try {
      return parseSchema(text);
    } catch (err) {
      throw new StoreStartError(`the schema file ${SCHEMA_FILE.pathname} is malformed: ${shortMessage(err)}`);
    }
  }

  private createPool(target: MariadbTarget): Pool {
    const pool = mariadb.createPool({
      ...this.connectionConfig(target, true),
      connectionLimit: this.options.poolSize,
      minimumIdle: 1,
      // Short, so a write during an outage gives up (and is queued) within ~1.5 s.
      acquireTimeout: Math.round(this.options.connectTimeoutMs * 1.5),
      initializationTimeout: Math.round(this.options.connectTimeoutMs * 1.5),
      idleTimeout: 60,
    });
    // Without a listener the pool's "cannot create a connection" event would
    // crash the process; the store notices outages through failed writes.
    // (The typings omit it, but the pool is an EventEmitter.)
    (pool as unknown as EventEmitter).on('error', () => undefined);
    return pool;
  }
}

/**
 * A user that may read but not write would start fine and then fail every
 * write, forever queued. Privileges are checked when a statement runs (even if
 * it touches no row), so run the store's own statements on the empty key (never
 * a room: keys have 1-128 characters) and roll back: nothing is left behind.
 */
async function probeWriteAccess(conn: Connection): Promise<void> {
  await conn.beginTransaction();
  try {
    await conn.query(UPSERT_HEAD + '(?, ?, ?, ?, ?, ?, ?, ?)' + UPSERT_TAIL, ['', '', 0, 'idle', 0, null, null, 0]);
    await conn.query('DELETE FROM rooms WHERE room_key IN (?)', ['']);
  } finally {
    await conn.rollback().catch(() => undefined);
  }
}

/** A connection emits 'error' when the server closes it; unhandled, that would crash. */
function listen(conn: Connection): Connection {
  conn.on('error', () => undefined);
  return conn;
}
