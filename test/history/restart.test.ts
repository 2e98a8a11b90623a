// History across restarts, the server as a child process, with the embedded
// store (DATA_DIR/history.log) and with MariaDB: after SIGTERM the same epoch
// and every message; after kill -9 the whole history or a new epoch, and never
// a message under an (epoch, seq) that named another one before.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { destroyAllClients } from '../helpers/raw-client';
import { freshDatabase, type TestDatabase } from '../helpers/mariadb';
import { startServerProcess, stopAllServerProcesses, type ServerProcess } from '../helpers/server-process';
import { cleanup, tempDataDir } from '../recovery/support';
import { type Json, joinJson, quiet } from './support';

const databases: TestDatabase[] = [];

test.after(async () => {
  destroyAllClients();
  cleanup();
  await stopAllServerProcesses();
  for (const db of databases) await db.drop();
});

async function storeEnv(kind: 'file' | 'mariadb'): Promise<Record<string, string>> {
  const env: Record<string, string> = { DATA_DIR: tempDataDir(), LOG_LEVEL: 'warn', HISTORY_SIZE: '50' };
  if (kind === 'mariadb') {
    const db = await freshDatabase();
    databases.push(db);
    env.MARIADB_URL = db.url;
  }
  return env;
}

/** ada says each line; bob, listening, has heard them all (so every one was relayed). */
async function chat(srv: ServerProcess, room: string, lines: string[]): Promise<{ epoch: string; heard: Json[] }> {
  const bob = await joinJson(srv.port, room, 'bob');
  const ada = await joinJson(srv.port, room, 'ada');
  for (const line of lines) ada.say(line);
  const heard = await bob.messages(lines.length);
  bob.client.destroy();
  ada.client.destroy();
  return { epoch: String(ada.welcome.epoch), heard };
}

for (const kind of ['file', 'mariadb'] as const) {
  test(`${kind} store: SIGTERM keeps every message under the same epoch; kill -9 keeps it whole or renews the epoch`, async () => {
    const srv = await startServerProcess({ env: await storeEnv(kind) });
    const first = await chat(srv, 'keep', ['one', 'two', 'three', 'four', 'five']);
    assert.equal(first.heard.map((m) => m.seq), [1, 2, 3, 4, 5]);

    assert.is(await srv.term(), 0);
    await srv.restart();
    const back = await joinJson(srv.port, 'keep', 'cy', `&since=0&epoch=${first.epoch}`);
    assert.equal([back.welcome.epoch, back.welcome.seq, back.welcome.recovered], [first.epoch, 5, true]);
    const replayed = await back.messages(5);
    assert.equal(replayed.map((m) => [m.seq, m.from, m.text, m.ts]), first.heard.map((m) => [m.seq, m.from, m.text, m.ts]));
    assert.ok(await quiet(back.client));
    back.client.destroy();

    // Three more, heard by a member, then a crash without a goodbye.
    const second = await chat(srv, 'keep', ['six', 'seven', 'eight']);
    assert.is(second.epoch, first.epoch);
    const named = new Map<number, string>([...first.heard, ...second.heard].map((m) => [m.seq as number, String(m.text)]));
    await srv.kill9();
    await srv.restart();

    const after = await joinJson(srv.port, 'keep', 'dee', '&history=100');
    const kept = await collect(after);
    if (after.welcome.epoch === first.epoch) {
      // Whole: all eight, exactly.
      assert.equal(kept.map((m) => m.text), ['one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight']);
    } else {
      // A new epoch: whatever is kept is what those seqs named, and resuming the old epoch says so.
      for (const m of kept) assert.is(named.get(m.seq as number), m.text, `seq ${m.seq} under the new epoch`);
      const old = await joinJson(srv.port, 'keep', 'eve', `&since=5&epoch=${first.epoch}`);
      assert.is(old.welcome.recovered, false);
      assert.ok(await quiet(old.client));
    }
    // Life goes on: the next message takes the next seq of whichever epoch.
    const next = await chat(srv, 'keep', ['nine']);
    assert.is(next.heard[0]!.seq, Number(after.welcome.seq) + 1);
    await srv.term();
  });
}

/** Every message frame until nothing arrives for 400 ms. */
async function collect(member: Awaited<ReturnType<typeof joinJson>>): Promise<Json[]> {
  const out: Json[] = [];
  for (;;) {
    let frame: Json;
    try {
      frame = await member.next(400);
    } catch (error) {
      if (/no frame within/.test(String(error))) return out;
      throw error;
    }
    if (frame.type === 'message') out.push(frame);
  }
}

test.run();
