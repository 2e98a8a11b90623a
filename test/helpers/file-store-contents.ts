// Reads what the embedded store holds right now — rooms.json with rooms.log
// applied over it — without opening a backend (which would fold the log while
// the server under test is still writing to it).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FILE_NAME, LOG_NAME, decodeLog, decodeSnapshot } from '../../src/persistence/file';
import { applySave, type RoomRecord } from '../../src/persistence/types';

export function storedRooms(dataDir: string): Map<string, RoomRecord> {
  const rooms = new Map<string, RoomRecord>();
  const snapshot = join(dataDir, FILE_NAME);
  if (existsSync(snapshot)) for (const record of decodeSnapshot(readFileSync(snapshot))) rooms.set(record.room, record);
  const log = join(dataDir, LOG_NAME);
  if (existsSync(log)) {
    for (const op of decodeLog(readFileSync(log, 'utf8'))) {
      if (op.kind === 'remove') rooms.delete(op.room);
      else rooms.set(op.room, applySave(rooms.get(op.room), op));
    }
  }
  return rooms;
}

/** The stored records as the JSON text a person would read: for "is this key or secret anywhere in it?" checks. */
export function storedText(dataDir: string): string {
  return [...storedRooms(dataDir).values()].map((record) => JSON.stringify(record)).join('\n');
}
