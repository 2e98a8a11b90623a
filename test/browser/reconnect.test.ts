// The page reconnects by itself when the server goes away and comes back on the
// same port: after a graceful stop (SIGTERM, close 1001) and after a crash
// (SIGKILL, no close frame: 1006). Both pages show open again, the member list
// is rebuilt from the new welcome, and chat works both ways.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rmSync } from 'node:fs';
import type { Page } from 'playwright-core';
import {
  connState, eventually, joinByForm, joinByLink, launchBrowser, memberNames, say, startServer, tempDir, text, waitMembers,
  waitMessage, waitOpen, watchErrors, type Browser, type RunningServer,
} from './harness';

interface World { server: RunningServer; browser: Browser; dataDir: string }
let world: World | undefined;
let starting: Promise<World> | undefined;
const ready = (): Promise<World> => {
  starting ??= (async () => {
    const dataDir = tempDir('rooms-e2e-data-');
    const server = await startServer({ port: 0, dataDir });
    const browser = await launchBrowser().catch(async (err: unknown) => {
      await server.stop();
      throw err;
    });
    world = { server, browser, dataDir };
    return world;
  })();
  return starting;
};

const ROOM = `restart-${Date.now().toString(36)}`;
let alice: Page;
let bob: Page;
const errors: string[][] = [];

test.after(async () => {
  if (!world) return;
  await world.browser.close();
  await world.server.stop();
  rmSync(world.dataDir, { recursive: true, force: true });
});

async function restart(signal: NodeJS.Signals): Promise<void> {
  const w = await ready();
  const port = w.server.port;
  const how = await w.server.stop(signal);
  if (signal === 'SIGTERM') assert.is(how, '0', `graceful stop exits 0\n${w.server.output()}`);
  // Both pages notice and count down to the next try.
  for (const page of [alice, bob]) {
    await eventually(async () => {
      const state = await connState(page);
      if (state !== 'reconnecting' && state !== 'connecting') throw new Error(`state ${state}`);
    }, 10_000, 'the page to notice the server is gone');
  }
  const status = await text(alice, '#status');
  assert.match(status, /Reconnecting/, status);
  w.server = await startServer({ port, dataDir: w.dataDir });
  assert.is(w.server.port, port);
}

test('server and Chromium start; two pages join one room', async () => {
  const { server } = await ready();
  alice = await (await ready()).browser.context.newPage();
  bob = await (await ready()).browser.context.newPage();
  errors.push(watchErrors(alice), watchErrors(bob));
  await joinByForm(alice, server.base, ROOM, 'alice');
  await joinByLink(bob, server.base, ROOM, 'bob');
  await waitMembers(alice, ['alice', 'bob']);
  await say(alice, 'before the restart');
  await waitMessage(bob, 'before the restart');
});

test('after a graceful restart (SIGTERM, 1001) both pages reconnect and chat', async () => {
  await restart('SIGTERM');
  const closeRow = (await alice.locator('#frames .frame').allTextContents()).find((r) => r.includes('close') && r.includes('1001'));
  assert.ok(closeRow, 'the 1001 close is shown in the protocol panel');
  await waitOpen(alice, 45_000);
  await waitOpen(bob, 45_000);
  await waitMembers(alice, ['alice', 'bob']);
  await waitMembers(bob, ['alice', 'bob']);
  await say(alice, 'after the restart, from alice');
  await waitMessage(bob, 'after the restart, from alice');
  await say(bob, 'after the restart, from bob');
  await waitMessage(alice, 'after the restart, from bob');
  // Earlier messages are still on screen, and the page says it reconnected.
  await waitMessage(alice, 'before the restart');
  const notices = await alice.locator('#messages .notice').allTextContents();
  assert.ok(notices.some((n) => n.includes('Reconnected')), JSON.stringify(notices));
});

test('after a crash (SIGKILL, 1006) both pages reconnect and chat', async () => {
  await restart('SIGKILL');
  await waitOpen(alice, 45_000);
  await waitOpen(bob, 45_000);
  await waitMembers(alice, ['alice', 'bob']);
  await waitMembers(bob, ['alice', 'bob']);
  await say(bob, 'after the crash, from bob');
  await waitMessage(alice, 'after the crash, from bob');
  await say(alice, 'after the crash, from alice');
  await waitMessage(bob, 'after the crash, from alice');
});

test('no duplicate members after reconnects; a leave is still seen', async () => {
  assert.equal(await memberNames(alice), ['alice', 'bob']);
  await bob.locator('#leave').click();
  await waitMembers(alice, ['alice']);
  assert.is(await connState(bob), 'idle');
  assert.is(await text(alice, '#member-count'), '(1)');
});

test('the pages logged no script or CSP errors', () => {
  for (const list of errors) assert.equal(list, []);
});

test.run();
