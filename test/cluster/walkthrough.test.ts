// Issue 11's "done when", as the README's "Try it: three processes, one room"
// tells a new user to do it: three `npm start` processes on the machine's Redis
// and a MariaDB, `wscat` on two of them, the page in Chromium on the third, a
// chat across all three, then `kill -9` of one node and the page reporting its
// member gone within 20 s. Nothing here is in-process: real processes, the real
// wscat, a real browser.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Page } from 'playwright-core';
import { eventually, joinByForm, launchBrowser, say, waitMembers, waitMessage, watchErrors, type Browser } from '../browser/harness';
import { freshDatabase, type TestDatabase } from '../helpers/mariadb';
import { type ServerProcess, startServerProcess, stopAllServerProcesses } from '../helpers/server-process';
import { forgetCluster, getJson, randomCluster, randomRoom, SHARED_REDIS } from './support';

const WSCAT = fileURLToPath(new URL('../../node_modules/.bin/wscat', import.meta.url));
const cluster = randomCluster();
const room = randomRoom('demo');
let db: TestDatabase;
let browser: Browser;
let nodes: ServerProcess[] = [];
const cats = new Set<ChildProcess>();

interface Wscat {
  child: ChildProcess;
  output: () => string;
  type: (line: string) => void;
}

/** `npx wscat -c URL`, typed into and read from as a person at a terminal would. */
function wscat(url: string): Wscat {
  const child = spawn(WSCAT, ['-c', url], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  cats.add(child);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString('utf8')));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString('utf8')));
  return { child, output: () => output, type: (line) => child.stdin!.write(`${line}\n`) };
}

async function printed(cat: Wscat, text: string): Promise<void> {
  await eventually(() => {
    if (!cat.output().includes(text)) throw new Error(`wscat printed ${JSON.stringify(cat.output().slice(-300))}`);
  }, 10_000, `wscat to print ${JSON.stringify(text)}`);
}

test.before(async () => {
  db = await freshDatabase();
  // The README's environment, one `npm start` per terminal (one after the other: the first builds dist/).
  for (let i = 0; i < 3; i++) {
    nodes.push(
      await startServerProcess({
        command: 'npm-start',
        env: { REDIS_URL: SHARED_REDIS, MARIADB_URL: db.url, ADMIN_TOKEN: 'secret-admin', CLUSTER: cluster, DATA_DIR: mkdtempSync(join(tmpdir(), 'rooms-walk-')), LOG_LEVEL: 'warn' },
        readyTimeoutMs: 120_000,
      }),
    );
  }
  browser = await launchBrowser();
});

test.after(async () => {
  for (const cat of cats) if (cat.exitCode === null) cat.kill('SIGTERM');
  await browser?.close();
  await stopAllServerProcesses();
  await db?.drop();
  await forgetCluster(cluster);
});

test('wscat on two nodes and the page on the third chat; kill -9 of a node: the page shows its member left within 20 s', async () => {
  const ada = wscat(`ws://127.0.0.1:${nodes[0]!.port}/?room=${room}&name=ada`);
  const bob = wscat(`ws://127.0.0.1:${nodes[1]!.port}/?room=${room}&name=bob`);
  const page: Page = await browser.context.newPage();
  const errors = watchErrors(page);
  await joinByForm(page, nodes[2]!.httpUrl, room, 'cy');
  await waitMembers(page, ['ada', 'bob', 'cy']);

  ada.type('hello from 8081');
  await printed(bob, 'hello from 8081');
  await waitMessage(page, 'hello from 8081');
  bob.type('hi from 8082');
  await printed(ada, 'hi from 8082');
  await waitMessage(page, 'hi from 8082');
  await say(page, 'and from the page');
  await printed(ada, 'and from the page');
  await printed(bob, 'and from the page');

  const started = Date.now();
  await nodes[1]!.kill9();
  await eventually(async () => {
    const notices = await page.locator('#messages .notice').allTextContents();
    if (!notices.some((n) => n.startsWith('bob left.'))) throw new Error(JSON.stringify(notices.slice(-3)));
  }, 20_000, 'the page to show that bob left');
  assert.ok(Date.now() - started < 20_000, `bob left after ${Date.now() - started} ms`);
  await waitMembers(page, ['ada', 'cy']);

  // What the README says the operator sees next: two nodes, and the members of every node counted.
  const health = (await getJson(`${nodes[0]!.httpUrl}/healthz`)) as { cluster: { nodes: number; redis: string } };
  await eventually(async () => {
    const h = (await getJson(`${nodes[0]!.httpUrl}/healthz`)) as typeof health;
    if (h.cluster.nodes !== 2) throw new Error(`nodes ${h.cluster.nodes}`);
  }, 10_000, 'the cluster to count two nodes');
  assert.is(health.cluster.redis, 'up');
  const rooms = (await getJson(`${nodes[0]!.httpUrl}/admin/rooms`, { Authorization: 'Bearer secret-admin' })) as Array<{ room: string; members: number }>;
  assert.is(rooms.find((r) => r.room === room)?.members, 2);
  assert.equal(errors, []);
});

test.run();
