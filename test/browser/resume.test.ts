// The page (through /rooms-client.js) resumes where it left off: across a
// dropped network (playwright takes the browser offline; once for a whole
// minute, issue 12's case) and across a server
// restart, every message sent meanwhile appears once, marked "missed while
// away", then live ones unmarked; after a crash the history cannot be vouched
// for, and the page says plainly that messages may be missing.
import { rmSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Page } from 'playwright-core';
import { RawClient, text as textFrame } from '../helpers/raw-client';
import { connState, eventually, joinByForm, launchBrowser, messageTexts, startServer, tempDir, waitMessage, waitOpen, watchErrors, type Browser, type RunningServer } from './harness';

interface World { server: RunningServer; browser: Browser; dataDir: string }
let world: World;
const ROOM = `resume-${Date.now().toString(36)}`;
let alice: Page;
let errors: string[] = [];
let bot: RawClient | null = null;

test.before(async () => {
  const dataDir = tempDir('rooms-e2e-resume-');
  const server = await startServer({ port: 0, dataDir });
  const browser = await launchBrowser().catch(async (err: unknown) => {
    await server.stop();
    throw err;
  });
  world = { server, browser, dataDir };
});
test.after(async () => {
  bot?.destroy();
  await world.browser.close();
  await world.server.stop();
  rmSync(world.dataDir, { recursive: true, force: true });
});

async function botSays(...lines: string[]): Promise<void> {
  bot ??= await RawClient.room(world.server.port, ROOM, 'bot');
  for (const line of lines) bot.send(textFrame(line));
}

async function rows(page: Page): Promise<{ text: string; missed: boolean; history: boolean }[]> {
  return page.locator('#messages .msg').evaluateAll((items) =>
    items.map((li) => ({ text: li.querySelector('.text')?.textContent ?? '', missed: li.classList.contains('missed'), history: li.classList.contains('history') })),
  );
}

async function goOffline(): Promise<void> {
  await world.browser.context.setOffline(true);
  await eventually(async () => {
    const state = await connState(alice);
    if (state !== 'reconnecting' && state !== 'connecting') throw new Error(`state ${state}`);
  }, 10_000, 'the page to notice it is offline');
}

async function restart(signal: NodeJS.Signals): Promise<void> {
  bot?.destroy();
  bot = null;
  const port = world.server.port;
  await world.server.stop(signal);
  world.server = await startServer({ port, dataDir: world.dataDir });
}

test('the page joins and shows recent history, marked as earlier', async () => {
  await botSays('from before you came');
  // The bot's message is relayed (and kept) before alice joins.
  await new Promise((r) => setTimeout(r, 200));
  alice = await world.browser.context.newPage();
  errors = watchErrors(alice);
  await joinByForm(alice, world.server.base, ROOM, 'alice');
  await waitMessage(alice, 'from before you came');
  assert.equal(await rows(alice), [{ text: 'from before you came', missed: false, history: true }]);
  await botSays('hello alice');
  await waitMessage(alice, 'hello alice');
});

test('a dropped network: the messages sent meanwhile come back once, marked missed, then live ones', async () => {
  await goOffline();
  await botSays('while offline 1', 'while offline 2');
  await new Promise((r) => setTimeout(r, 300));
  await world.browser.context.setOffline(false);
  await waitOpen(alice, 20_000);
  await waitMessage(alice, 'while offline 2');
  await botSays('live again');
  await waitMessage(alice, 'live again');
  const got = (await rows(alice)).slice(1);
  assert.equal(got, [
    { text: 'hello alice', missed: false, history: false },
    { text: 'while offline 1', missed: true, history: false },
    { text: 'while offline 2', missed: true, history: false },
    { text: 'live again', missed: false, history: false },
  ]);
  const notices = await alice.locator('#messages .notice').allTextContents();
  assert.ok(notices.some((n) => n.includes('Nothing was lost')), JSON.stringify(notices));
});

test('offline for a whole minute (the issue\'s case): every message sent meanwhile comes back once, marked missed', async () => {
  const before = (await rows(alice)).length;
  await goOffline();
  // Seven messages spread over 61 s: longer than the page's longest backoff and
  // than the server's heartbeat takes to drop the silent socket.
  const sent: string[] = [];
  for (let i = 1; i <= 7; i++) {
    const line = `during the minute ${i}`;
    await botSays(line);
    sent.push(line);
    if (i < 7) await new Promise((r) => setTimeout(r, 10_000));
  }
  await new Promise((r) => setTimeout(r, 1_000));
  await world.browser.context.setOffline(false);
  await waitOpen(alice, 20_000);
  await waitMessage(alice, 'during the minute 7');
  await botSays('live after the minute');
  await waitMessage(alice, 'live after the minute');
  assert.equal((await rows(alice)).slice(before), [
    ...sent.map((text) => ({ text, missed: true, history: false })),
    { text: 'live after the minute', missed: false, history: false },
  ]);
  const notices = await alice.locator('#messages .notice').allTextContents();
  assert.ok(notices.filter((n) => n.includes('Nothing was lost')).length >= 2, JSON.stringify(notices));
});

test('across a server restart (SIGTERM): same history, the missed messages marked, nothing twice', async () => {
  await goOffline();
  await restart('SIGTERM');
  await botSays('after the restart 1', 'after the restart 2');
  await new Promise((r) => setTimeout(r, 300));
  await world.browser.context.setOffline(false);
  await waitOpen(alice, 30_000);
  await waitMessage(alice, 'after the restart 2');
  const got = await rows(alice);
  assert.equal(got.slice(-2), [
    { text: 'after the restart 1', missed: true, history: false },
    { text: 'after the restart 2', missed: true, history: false },
  ]);
  const all = await messageTexts(alice);
  assert.equal(all.filter((t) => t === 'live again').length, 1, 'nothing shown twice');
});

test('after a crash (kill -9) the page says plainly that messages may be missing', async () => {
  await goOffline();
  await restart('SIGKILL');
  await botSays('after the crash');
  await new Promise((r) => setTimeout(r, 300));
  await world.browser.context.setOffline(false);
  await waitOpen(alice, 30_000);
  await waitMessage(alice, 'after the crash');
  const notices = await alice.locator('#messages .notice.warn').allTextContents();
  assert.ok(notices.some((n) => n.includes('may be missing')), JSON.stringify(notices));
  const all = await messageTexts(alice);
  assert.equal(all.filter((t) => t === 'after the restart 1').length, 1, 'history already on screen is not shown twice');
});

test('the page logged no script or CSP errors', () => {
  assert.equal(errors, []);
});

test.run();
