// The page in a protected room, through /rooms-client.js: the owner who reloads
// the tab is the owner again (the owner key kept in sessionStorage is offered),
// and after a dropped network both the owner and a member who joined with the
// secret resume (the credential is offered again on every reconnect), with the
// missed messages marked. No credential in any URL or in the protocol panel.
import { rmSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Page } from 'playwright-core';
import { RawClient, text as textFrame } from '../helpers/raw-client';
import { connState, eventually, launchBrowser, startServer, tempDir, text, waitMembers, waitMessage, waitOpen, watchErrors, type Browser, type RunningServer } from './harness';

let server: RunningServer;
let browser: Browser;
let dataDir: string;
let ada: Page;
let bob: Page;
let room = '';
let secret = '';
let bot: RawClient | null = null;
const errors: string[][] = [];
const urlsSeen: string[] = [];

test.before(async () => {
  dataDir = tempDir('rooms-e2e-protected-');
  server = await startServer({ port: 0, dataDir });
  browser = await launchBrowser();
});
test.after(async () => {
  bot?.destroy();
  await browser?.close();
  await server?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function newPage(): Promise<Page> {
  const page = await browser.context.newPage();
  errors.push(watchErrors(page));
  page.on('request', (request) => urlsSeen.push(request.url()));
  page.on('websocket', (ws) => urlsSeen.push(ws.url()));
  return page;
}

async function rows(page: Page): Promise<{ text: string; missed: boolean }[]> {
  return page.locator('#messages .msg').evaluateAll((items) =>
    items.map((li) => ({ text: li.querySelector('.text')?.textContent ?? '', missed: li.classList.contains('missed') })),
  );
}

async function ownerKey(page: Page): Promise<string> {
  // A string expression: the tests have no DOM types.
  return String(await page.evaluate(`sessionStorage.getItem(${JSON.stringify(`rooms.owner.${room}`)}) ?? ''`));
}

test('the owner creates a protected room; a member joins with the secret; a bot with the secret talks', async () => {
  ada = await newPage();
  await ada.goto(`${server.base}/`);
  await ada.locator('#generate').click();
  room = await ada.locator('#room').inputValue();
  secret = await ada.locator('#secret').inputValue();
  await ada.locator('#name').fill('ada');
  await ada.locator('#join').click();
  await waitOpen(ada);
  assert.ok(await ada.locator('#owner-controls').isVisible());
  assert.ok((await ownerKey(ada)).length > 0, 'the owner key is kept in this tab');
  const link = await ada.locator('#secret-once-link').inputValue();

  bob = await newPage();
  await bob.goto(link);
  await bob.locator('#name').fill('bob');
  await bob.locator('#join').click();
  await waitOpen(bob);
  assert.not.ok(await bob.locator('#owner-controls').isVisible());

  bot = await RawClient.room(server.port, room, 'bot', { headers: { Authorization: `Bearer ${secret}` } });
  await waitMembers(ada, ['ada', 'bob', 'bot']);
  bot.send(textFrame('before the reload'));
  await waitMessage(ada, 'before the reload');
  await waitMessage(bob, 'before the reload');
});

test('a reload keeps the owner the owner (the owner key is offered, not the secret)', async () => {
  await ada.reload();
  assert.is(await ada.locator('#secret').inputValue(), '', 'the secret is not kept across a reload');
  await ada.locator('#name').fill('ada');
  await ada.locator('#join').click();
  await waitOpen(ada);
  assert.ok(await ada.locator('#owner-controls').isVisible(), 'still the owner after a reload');
  assert.match(await text(ada, '#room-state'), /Protected by a secret/);
  assert.ok(await ada.locator('#members button.kick').count() >= 1, 'remove buttons for the owner');
  const connects = await ada.locator('#frames .frame .payload').allTextContents();
  assert.ok(connects.some((line) => line.includes('owner key offered as rooms.auth.')), JSON.stringify(connects));
});

test('a dropped network in a protected room: owner and member both resume, the missed messages marked', async () => {
  await browser.context.setOffline(true);
  await eventually(async () => {
    for (const page of [ada, bob]) {
      const state = await connState(page);
      if (state !== 'reconnecting' && state !== 'connecting') throw new Error(`state ${state}`);
    }
  }, 10_000, 'both pages to notice they are offline');
  bot!.send(textFrame('while away 1'));
  bot!.send(textFrame('while away 2'));
  await new Promise((r) => setTimeout(r, 300));
  await browser.context.setOffline(false);
  for (const page of [ada, bob]) {
    await waitOpen(page, 20_000);
    await waitMessage(page, 'while away 2');
    const notices = await page.locator('#messages .notice').allTextContents();
    assert.ok(notices.some((n) => n.includes('Nothing was lost')), JSON.stringify(notices));
    assert.not.ok(await page.locator('#access-error').isVisible(), 'no refusal');
  }
  for (const page of [ada, bob]) {
    const got = await rows(page);
    assert.equal(got.filter((r) => r.text.startsWith('while away')), [
      { text: 'while away 1', missed: true },
      { text: 'while away 2', missed: true },
    ]);
  }
  assert.ok(await ada.locator('#owner-controls').isVisible(), 'still the owner after the resume');
  assert.not.ok(await bob.locator('#owner-controls').isVisible());
  bot!.send(textFrame('live again'));
  await waitMessage(ada, 'live again');
  await waitMessage(bob, 'live again');
});

test('owner commands still work after the resume; no credential in a URL or in the protocol panel', async () => {
  await ada.locator('#rotate-secret').click();
  const rotated = await ada.locator('#secret-once-value').inputValue();
  assert.ok(rotated.length >= 20 && rotated !== secret);
  await eventually(async () => {
    const notices = await bob.locator('#messages .notice').allTextContents();
    if (!notices.some((n) => n.includes('protected by a secret'))) throw new Error(JSON.stringify(notices));
  }, 10_000, 'the room frame at the member');
  const key = await ownerKey(ada);
  for (const page of [ada, bob]) {
    const panel = (await page.locator('#frames').textContent()) ?? '';
    for (const credential of [secret, rotated, key]) assert.not.ok(panel.includes(credential), 'a credential in the protocol panel');
  }
  assert.ok(((await ada.locator('#frames').textContent()) ?? '').includes('(hidden'), 'the set_secret command is shown redacted');
  for (const url of urlsSeen) {
    for (const credential of [secret, rotated, key]) assert.not.ok(url.split('#')[0]!.includes(credential), `a credential before the #: ${url}`);
  }
});

test('the pages logged no script or CSP errors', async () => {
  await ada.close();
  await bob.close();
  assert.equal(errors.flat(), []);
});

test.run();
