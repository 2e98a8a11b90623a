// The page's access features in real Chromium: a generated secret by default,
// shown once with a share link that keeps it after the #; joining with a secret
// from such a link; a plain-language refusal; owner controls for the owner only
// (lock, change the secret, remove a member, close the room); a reload stays the
// owner. No URL the browser requests or connects to ever carries the secret.

import { rmSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Page } from 'playwright-core';
import { eventually, launchBrowser, startServer, tempDir, text, waitMembers, waitOpen, watchErrors, type Browser, type RunningServer } from '../browser/harness';

let server: RunningServer;
let browser: Browser;
let dataDir: string;
const urlsSeen: string[] = [];
const errors: string[] = [];

test.before(async () => {
  dataDir = tempDir('rooms-access-page-');
  server = await startServer({ port: 0, dataDir });
  browser = await launchBrowser();
});
test.after(async () => {
  await browser?.close();
  await server?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function newPage(): Promise<Page> {
  const page = await browser.context.newPage();
  const errs = watchErrors(page);
  page.on('close', () => errors.push(...errs));
  page.on('request', (request) => urlsSeen.push(request.url()));
  page.on('websocket', (ws) => urlsSeen.push(ws.url()));
  return page;
}

test('create a protected room, share it, join with the secret; refusals in plain words; owner controls', async () => {
  const ada = await newPage();
  await ada.goto(`${server.base}/`);
  await ada.locator('#generate').click();
  const room = await ada.locator('#room').inputValue();
  const secret = await ada.locator('#secret').inputValue();
  assert.ok(secret.length >= 20, 'a secret is generated with the key');
  await ada.locator('#name').fill('ada');
  await ada.locator('#join').click();
  await waitOpen(ada);
  assert.ok(await ada.locator('#secret-once').isVisible(), 'the secret is shown once');
  assert.is(await ada.locator('#secret-once-value').inputValue(), secret);
  const link = await ada.locator('#secret-once-link').inputValue();
  assert.ok(link.includes(`#room=${room}&secret=`), link);
  assert.ok(await ada.locator('#owner-controls').isVisible());
  assert.match(await text(ada, '#room-state'), /Protected by a secret/);

  // Someone without the secret: refused, told why in plain words, not retried forever.
  const eve = await newPage();
  await eve.goto(`${server.base}/#room=${room}`);
  await eve.locator('#name').fill('eve');
  await eve.locator('#join').click();
  await eventually(async () => {
    if (!(await eve.locator('#access-error').isVisible())) throw new Error('no refusal shown');
  });
  assert.match(await text(eve, '#access-error'), /probably protected by a secret/);

  // Someone with the link: the secret comes from the fragment and leaves the address bar.
  const bob = await newPage();
  await bob.goto(link);
  assert.is(await bob.locator('#secret').inputValue(), secret);
  assert.not.ok(bob.url().includes(secret), 'the secret is taken out of the address bar');
  await bob.locator('#name').fill('bob');
  await bob.locator('#join').click();
  await waitOpen(bob);
  assert.not.ok(await bob.locator('#owner-controls').isVisible(), 'no owner controls for a member');
  assert.is(await bob.locator('#members button.kick').count(), 0);
  await waitMembers(ada, ['ada', 'bob']);

  // Lock: a newcomer with the right secret is refused with a plain explanation.
  await ada.locator('#lock-room').click();
  await eventually(async () => {
    if (!/locked/.test(await text(ada, '#room-state'))) throw new Error('not locked yet');
  });
  const cy = await newPage();
  await cy.goto(link);
  await cy.locator('#name').fill('cy');
  await cy.locator('#join').click();
  await eventually(async () => {
    if (!(await cy.locator('#access-error').isVisible())) throw new Error('no refusal shown');
  });
  assert.match(await text(cy, '#access-error'), /secret is probably wrong .* or the owner has locked the room/);
  await ada.locator('#lock-room').click();

  // A reload keeps ada the owner (the owner key is in this tab's sessionStorage).
  await ada.reload();
  await ada.locator('#name').fill('ada');
  await ada.locator('#secret').fill('');
  await ada.locator('#join').click();
  await waitOpen(ada);
  assert.ok(await ada.locator('#owner-controls').isVisible(), 'still the owner after a reload');

  // Remove bob from the member list.
  await waitMembers(ada, ['ada', 'bob']);
  await ada.locator('#members button.kick').first().click();
  await eventually(async () => {
    const notices = await bob.locator('#messages .notice').allTextContents();
    if (!notices.some((n) => n.includes("The room's owner removed you"))) throw new Error(JSON.stringify(notices));
  });

  // Close the room: ada hears it closed.
  ada.once('dialog', (dialog) => void dialog.accept());
  await ada.locator('#close-room').click();
  await eventually(async () => {
    const notices = await ada.locator('#messages .notice').allTextContents();
    if (!notices.some((n) => n.includes('The owner closed this room'))) throw new Error(JSON.stringify(notices));
  });

  for (const url of urlsSeen) assert.not.ok(url.includes(secret) && !url.includes('#'), `a URL sent to the server carries the secret: ${url}`);
  for (const url of urlsSeen) assert.not.ok(url.split('#')[0]!.includes(secret), `secret before the #: ${url}`);
  for (const page of [ada, bob, eve, cy]) await page.close();
  assert.equal(errors, []);
});

test.run();
