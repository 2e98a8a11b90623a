// The browser path for credentials, in real Chromium: a page cannot set headers,
// so it offers `rooms.auth.BASE64URL(secret)` next to `rooms.v1.json`. The answer
// names only rooms.v1.json (so ws.protocol never exposes the credential to page
// scripts). A wrong secret fails the upgrade; the page cannot see the status.

import { rmSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Page } from 'playwright-core';
import { launchBrowser, startServer, tempDir, type Browser, type RunningServer } from '../browser/harness';

let server: RunningServer;
let browser: Browser;
let page: Page;
let dataDir: string;

test.before(async () => {
  dataDir = tempDir('rooms-access-browser-');
  server = await startServer({ port: 0, dataDir });
  browser = await launchBrowser();
  page = await browser.context.newPage();
  await page.goto(`${server.base}/`);
});
test.after(async () => {
  await browser?.close();
  await server?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

interface Outcome {
  opened: boolean;
  protocol: string;
  first: string | null;
  closeCode: number | null;
}

/** Opens a WebSocket from the page with the given offers and reports what the browser saw. */
function connectFromPage(path: string, protocols: string[]): Promise<Outcome> {
  return page.evaluate(
    ({ url, protocols }) =>
      new Promise<Outcome>((resolve) => {
        const ws = new WebSocket(url, protocols);
        const outcome: Outcome = { opened: false, protocol: '', first: null, closeCode: null };
        ws.onopen = () => {
          outcome.opened = true;
          outcome.protocol = ws.protocol;
          if (!protocols.includes('rooms.v1.json')) resolve(outcome);
        };
        ws.onmessage = (event) => {
          outcome.first = String(event.data);
          resolve(outcome);
        };
        ws.onclose = (event) => {
          outcome.closeCode = event.code;
          resolve(outcome);
        };
      }),
    { url: `${server.base.replace(/^http/, 'ws')}${path}`, protocols },
  );
}

const b64url = (s: string) => Buffer.from(s, 'utf8').toString('base64url');

test('a secret offered as rooms.auth.* creates a protected room; the answer names only rooms.v1.json', async () => {
  const created = await connectFromPage('/?room=chromium-vault&name=ada', ['rooms.v1.json', `rooms.auth.${b64url('päss wörd ✓')}`]);
  assert.equal([created.opened, created.protocol], [true, 'rooms.v1.json']);
  const welcome = JSON.parse(created.first!) as Record<string, unknown>;
  assert.equal([welcome.type, welcome.protected, welcome.role], ['welcome', true, 'owner']);

  const joined = await connectFromPage('/?room=chromium-vault&name=bob', ['rooms.v1.json', `rooms.auth.${b64url('päss wörd ✓')}`]);
  assert.equal([joined.opened, joined.protocol], [true, 'rooms.v1.json']);
  assert.is((JSON.parse(joined.first!) as Record<string, unknown>).role, 'member');

  // Raw mode, the auth offer alone: the server answers no protocol (it never selects rooms.auth.*),
  // and a browser fails any connection whose offer got no protocol back (WHATWG WebSockets). So a
  // browser always offers rooms.v1.json with its credential; "alone" serves non-browser clients
  // (tested on the wire in refusals.test.ts). This pins the browser's side of that rule.
  const raw = await connectFromPage('/?room=chromium-vault&name=raw', [`rooms.auth.${b64url('päss wörd ✓')}`]);
  assert.equal([raw.opened, raw.closeCode], [false, 1006]);
});

test('a wrong or missing secret fails the upgrade in the browser (it sees 1006, not the status)', async () => {
  const wrong = await connectFromPage('/?room=chromium-vault&name=eve', ['rooms.v1.json', `rooms.auth.${b64url('nope')}`]);
  assert.equal([wrong.opened, wrong.closeCode], [false, 1006]);
  const none = await connectFromPage('/?room=chromium-vault&name=eve', ['rooms.v1.json']);
  assert.equal([none.opened, none.closeCode], [false, 1006]);
});

test.run();
