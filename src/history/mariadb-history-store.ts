// History in MariaDB (schema.sql step 2: history_rooms, history_messages). Each
// grouped write is one transaction; surplus messages are pruned by count as they
// are written and by age in small batches. Its own small pool, so history
// writes never queue behind (or in front of) the room records' writes.

import mariadb, { type Pool } from 'mariadb';
import { Opcode, type DataOpcode } from '../frames/opcodes';
import { parseMariadbUrl } from '../persistence/mariadb-url';
import type { HistoryOp, HistoryStore, StoredHistory } from './history-store';
import type { HistoryEntry } from './room-log';

/** Rows per INSERT: one round trip each, well under max_allowed_packet for small messages. */
const ROWS_PER_INSERT = 200;
const PRUNE_BATCH = 500;

export class MariadbHistoryStore implements HistoryStore {
  readonly kind = 'mariadb';
  private readonly pool: Pool;

  constructor(
    url: string,
    private readonly limits: { size: number; ttlMs: number },
    connectTimeoutMs = 1000,
  ) {
    const t = parseMariadbUrl(url);
    this.pool = mariadb.createPool({
      host: t.host,
      port: t.port,
      user: t.user,
      password: t.password,
      database: t.database,
      connectTimeout: connectTimeoutMs,
      acquireTimeout: Math.round(connectTimeoutMs * 1.5),
      connectionLimit: 2,
      charset: 'utf8mb4',
    });
  }

  async load(now: number): Promise<StoredHistory[]> {
    const conn = await this.pool.getConnection();
    try {
      const heads = (await conn.query('SELECT room_key, epoch, last_seq, clean FROM history_rooms')) as { room_key: string; epoch: string; last_seq: bigint | number; clean: number }[];
      const rows = (await conn.query('SELECT m.room_key, m.seq, m.opcode, m.sender, m.ts, m.payload FROM history_messages m JOIN history_rooms r ON r.room_key = m.room_key AND r.epoch = m.epoch WHERE m.ts >= ? ORDER BY m.room_key, m.seq', [now - this.limits.ttlMs])) as {
        room_key: string;
        seq: bigint | number;
        opcode: number;
        sender: string;
        ts: bigint | number;
        payload: Buffer;
      }[];
      // Seqs given out from now on are not in the store yet: a crash before the next clean stop must renew the epochs.
      await conn.query('UPDATE history_rooms SET clean = 0 WHERE clean <> 0');
      const byRoom = new Map<string, StoredHistory>();
      for (const head of heads) byRoom.set(head.room_key, { room: head.room_key, epoch: head.epoch, lastSeq: Number(head.last_seq), entries: [], clean: Number(head.clean) === 1 });
      for (const row of rows) {
        const history = byRoom.get(row.room_key);
        if (history === undefined) continue;
        const opcode: DataOpcode = row.opcode === Opcode.Binary ? Opcode.Binary : Opcode.Text;
        history.entries.push({ seq: Number(row.seq), opcode, from: row.sender, ts: Number(row.ts), payload: Buffer.from(row.payload) });
      }
      return [...byRoom.values()];
    } finally {
      await conn.release();
    }
  }

  async write(ops: readonly HistoryOp[]): Promise<void> {
    // Rows made before the first await: a run read from a ring holds only until the relay appends again.
    const entries = ops.map((op) => (op.kind === 'write' ? op.messages.entries() : []));
    const conn = await this.pool.getConnection();
    try {
      await conn.beginTransaction();
      try {
        for (const [i, op] of ops.entries()) {
          if (op.kind === 'drop') {
            await conn.query('DELETE FROM history_messages WHERE room_key = ?', [op.room]);
            await conn.query('DELETE FROM history_rooms WHERE room_key = ?', [op.room]);
            continue;
          }
          await conn.query(
            'INSERT INTO history_rooms (room_key, epoch, last_seq, clean) VALUES (?, ?, ?, 0) ON DUPLICATE KEY UPDATE epoch = VALUES(epoch), last_seq = VALUES(last_seq), clean = 0',
            [op.room, op.epoch, op.lastSeq],
          );
          if (op.replace) await conn.query('DELETE FROM history_messages WHERE room_key = ?', [op.room]);
          const rows = entries[i]!;
          for (let at = 0; at < rows.length; at += ROWS_PER_INSERT) await this.insert(conn, op.room, op.epoch, rows.slice(at, at + ROWS_PER_INSERT));
          if (this.limits.size > 0 && op.lastSeq > this.limits.size) {
            await conn.query('DELETE FROM history_messages WHERE room_key = ? AND seq <= ?', [op.room, op.lastSeq - this.limits.size]);
          }
        }
        await conn.commit();
      } catch (error) {
        await conn.rollback().catch(() => undefined);
        throw error;
      }
    } finally {
      await conn.release();
    }
  }

  async prune(now: number): Promise<boolean> {
    const result = (await this.pool.query('DELETE FROM history_messages WHERE ts < ? LIMIT ?', [now - this.limits.ttlMs, PRUNE_BATCH])) as { affectedRows: number };
    return result.affectedRows >= PRUNE_BATCH;
  }

  async markClean(): Promise<void> {
    await this.pool.query('UPDATE history_rooms SET clean = 1');
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }

  private async insert(conn: { query(sql: string, values?: unknown[]): Promise<unknown> }, room: string, epoch: string, entries: readonly HistoryEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const values: unknown[] = [];
    for (const entry of entries) values.push(room, entry.seq, epoch, entry.opcode, entry.from, entry.ts, entry.payload);
    const rows = entries.map(() => '(?, ?, ?, ?, ?, ?, ?)').join(', ');
    // A seq already stored under an older epoch (a write that replaced it never landed) is overwritten.
    await conn.query(
      `INSERT INTO history_messages (room_key, seq, epoch, opcode, sender, ts, payload) VALUES ${rows} ON DUPLICATE KEY UPDATE epoch = VALUES(epoch), opcode = VALUES(opcode), sender = VALUES(sender), ts = VALUES(ts), payload = VALUES(payload)`,
      values,
    );
  }
}
