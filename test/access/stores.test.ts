// A room's rights in every store: the file store's format and the outage
// journal carry the access fields (and refuse wrong types); the merge rule keeps
// the access of the incarnation that wins, in memory (applySave) and in SQL; an
// in-process server on the file store keeps protection, lock and owner token
// across a restart.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeSnapshot, encodeSnapshot } from '../../src/persistence/file';
import { decodeJournal, encodeJournal } from '../../src/persistence/journal';
import { DEFAULT_MARIADB_OPTIONS, MariadbBackend } from '../../src/persistence/mariadb';
import { applySave, type RoomRecord } from '../../src/persistence/types';
import { startServer } from '../../src/server/server';
import { createLogger } from '../../src/server/logger';
import { defaultSettings } from '../../src/settings';
import { freshDatabase } from '../helpers/mariadb';
import { destroyAllClients } from '../helpers/raw-client';
import { jsonMember, refusal } from './support';

const HASH = 'scrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g';
const OWNER = 'a'.repeat(64);
const rec = (room: string, owner: string, createdAt: number, access: Partial<RoomRecord> = {}): RoomRecord => ({ room, owner, createdAt, status: 'live', lastActivity: createdAt, ...access });

test('file store and journal: access fields round trip, absent ones stay absent, wrong types are refused', () => {
  const records = [rec('a', 'ann', 1, { secretHash: HASH, ownerTokenHash: OWNER, locked: true }), rec('b', 'bob', 2)];
  assert.equal(decodeSnapshot(encodeSnapshot(records)), records);
  const ops = [{ kind: 'save' as const, room: 'a', record: records[0]! }, { kind: 'save' as const, room: 'b', record: records[1]!, replaces: true }];
  assert.equal(decodeJournal(encodeJournal('file', ops)).ops, ops);
  const bad = encodeSnapshot([rec('c', 'cy', 3)]).replace('"lastActivity":3', '"lastActivity":3,"locked":"yes"');
  assert.throws(() => decodeSnapshot(bad), /room "?c"? has a bad locked/);
});

test('merge rule: the same incarnation writes its access; a later one keeps the stored room\'s', () => {
  const stored = rec('r', 'ann', 1000, { secretHash: HASH, ownerTokenHash: OWNER });
  assert.equal(applySave(stored, { kind: 'save', room: 'r', record: rec('r', 'ann', 1000, { ownerTokenHash: OWNER, locked: true }) }), rec('r', 'ann', 1000, { ownerTokenHash: OWNER, locked: true }));
  const later = applySave(stored, { kind: 'save', room: 'r', record: rec('r', 'bob', 5000, { ownerTokenHash: 'b'.repeat(64) }) });
  assert.equal(later, { ...rec('r', 'bob', 5000), owner: 'ann', createdAt: 1000, secretHash: HASH, ownerTokenHash: OWNER });
  assert.equal(applySave(stored, { kind: 'save', room: 'r', record: rec('r', 'zed', 9000), replaces: true }), rec('r', 'zed', 9000));
});

test('MariaDB: access columns round trip and follow the same merge rule in SQL', async () => {
  const db = await freshDatabase();
  const backend = new MariadbBackend(db.url, { ...DEFAULT_MARIADB_OPTIONS, log: () => undefined });
  try {
    await backend.connect();
    await backend.write([{ kind: 'save', room: 'r', record: rec('r', 'ann', 1000, { secretHash: HASH, ownerTokenHash: OWNER, locked: true }) }, { kind: 'save', room: 'o', record: rec('o', 'oz', 1000) }]);
    let rows = new Map((await backend.load()).map((r) => [r.room, r]));
    assert.equal(rows.get('r'), rec('r', 'ann', 1000, { secretHash: HASH, ownerTokenHash: OWNER, locked: true }));
    assert.equal(rows.get('o'), rec('o', 'oz', 1000));
    // a later incarnation (a server that did not know the room) keeps the stored access
    await backend.write([{ kind: 'save', room: 'r', record: rec('r', 'bob', 5000, { ownerTokenHash: 'b'.repeat(64) }) }]);
    rows = new Map((await backend.load()).map((r) => [r.room, r]));
    assert.equal(rows.get('r'), { ...rec('r', 'bob', 5000), owner: 'ann', createdAt: 1000, secretHash: HASH, ownerTokenHash: OWNER, locked: true });
    // the same incarnation unlocks and removes its secret
    await backend.write([{ kind: 'save', room: 'r', record: rec('r', 'ann', 1000, { ownerTokenHash: OWNER }) }]);
    rows = new Map((await backend.load()).map((r) => [r.room, r]));
    assert.equal(rows.get('r'), rec('r', 'ann', 1000, { ownerTokenHash: OWNER }));
  } finally {
    await backend.close();
    await db.drop();
  }
});

test('file store: a restart keeps the room protected and locked, and its owner token', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'rooms-access-file-'));
  const settings = defaultSettings({ host: '127.0.0.1', port: 0, dataDir, logLevel: 'silent', closeTimeoutMs: 500 });
  const log = createLogger('silent', () => {});
  try {
    let server = await startServer(settings, { log });
    const owner = await jsonMember(server.port, 'kept', 'ada', { bearer: 'file-secret' });
    owner.send({ type: 'lock' });
    await owner.nextOf('room');
    destroyAllClients();
    await server.close();
    server = await startServer(settings, { log });
    assert.is((await refusal(server.port, 'kept', 'bob', { bearer: 'file-secret' })).status, 423);
    const back = await jsonMember(server.port, 'kept', 'ada', { bearer: owner.welcome.ownerToken as string });
    assert.equal([back.welcome.role, back.welcome.protected], ['owner', true]);
    back.send({ type: 'unlock' });
    await back.nextOf('room');
    assert.is((await refusal(server.port, 'kept', 'bob')).status, 401);
    destroyAllClients();
    await server.close();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test.run();
