// The page itself in real headless Chromium: served with the right headers by
// the real server, the room key from the link, the key generator, labels,
// keyboard-only use and a 360 px phone screen.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import type { Page } from 'playwright-core';
import {
  eventually, joinByForm, launchBrowser, say, startServer, tempDir, text, waitMembers, waitMessage, waitOpen, watchErrors,
  type Browser, type RunningServer,
} from './harness';

interface World { server: RunningServer; browser: Browser; dataDir: string }
let world: Promise<World> | undefined;
const ready = (): Promise<World> => {
  world ??= (async () => {
    const dataDir = tempDir('rooms-e2e-data-');
    const server = await startServer({ port: 0, dataDir });
    const browser = await launchBrowser().catch(async (err: unknown) => {
      await server.stop();
      throw err;
    });
    return { server, browser, dataDir };
  })();
  return world;
};

const allErrors: string[] = [];
async function openPage(): Promise<Page> {
  const { browser } = await ready();
  const page = await browser.context.newPage();
  const errs = watchErrors(page);
  page.on('close', () => allErrors.push(...errs));
  return page;
}

/** One raw HTTP/1.1 request, so the path reaches the server byte for byte (fetch would normalise "..", "%2e"). */
function rawGet(port: number, target: string): Promise<{ status: number; head: string; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.setEncoding('latin1');
    socket.on('connect', () => socket.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`));
    socket.on('data', (d: string) => (data += d));
    socket.on('end', () => {
      const split = data.indexOf('\r\n\r\n');
      const head = data.slice(0, split);
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), head, body: data.slice(split + 4) });
    });
    socket.on('error', reject);
    socket.setTimeout(5000, () => socket.destroy(new Error(`no answer for ${target}`)));
  });
}

test.after(async () => {
  if (!world) return;
  const w = await world.catch(() => undefined);
  if (!w) return;
  await w.browser.close();
  await w.server.stop();
  rmSync(w.dataDir, { recursive: true, force: true });
});

test('server and Chromium start', async () => {
  const { server } = await ready();
  assert.ok(server.port > 0);
});

test('GET / serves the page with type, ETag, no-cache, nosniff and CSP', async () => {
  const { server } = await ready();
  const res = await fetch(`${server.base}/`);
  assert.is(res.status, 200);
  assert.is(res.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.is(res.headers.get('cache-control'), 'no-cache');
  assert.is(res.headers.get('x-content-type-options'), 'nosniff');
  assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'self'/);
  const etag = res.headers.get('etag');
  assert.match(etag ?? '', /^"[^"]+"$/);
  assert.match(await res.text(), /<title>rooms<\/title>/);
  const again = await fetch(`${server.base}/`, { headers: { 'If-None-Match': etag ?? '' } });
  assert.is(again.status, 304);
  const js = await fetch(`${server.base}/app.js`);
  assert.is(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
  const css = await fetch(`${server.base}/style.css`);
  assert.is(css.headers.get('content-type'), 'text/css; charset=utf-8');
  const head = await fetch(`${server.base}/app.js`, { method: 'HEAD' });
  assert.is(head.status, 200);
  assert.is(head.headers.get('content-length'), js.headers.get('content-length'));
  assert.is((await fetch(`${server.base}/no-such-file.js`)).status, 404);
});

test('path traversal over the wire is refused', async () => {
  const { server } = await ready();
  for (const target of ['/../package.json', '/%2e%2e/package.json', '/%2e%2e%2fpackage.json', '/..%5cpackage.json', '/%252e%252e/package.json', '/.gitignore', '/../src/main.ts']) {
    const r = await rawGet(server.port, target);
    assert.ok(r.status === 400 || r.status === 404, `${target}: ${r.status}`);
    assert.not.match(r.body, /"name": "rooms"|node_modules|import /, target);
  }
});

test('the room key from the link (#room=) is prefilled', async () => {
  const { server } = await ready();
  const page = await openPage();
  await page.goto(`${server.base}/#room=Field-Team_7.~x`);
  assert.is(await page.locator('#room').inputValue(), 'Field-Team_7.~x');
  assert.is(await page.locator('#share-link').inputValue(), `${server.base}/#room=Field-Team_7.~x`);
  // An old-style ?room= link still works, and the key is moved out of the query into the fragment.
  await page.goto(`${server.base}/?room=legacy-key`);
  assert.is(await page.locator('#room').inputValue(), 'legacy-key');
  assert.is(page.url(), `${server.base}/#room=legacy-key`);
  await page.close();
});

test('"Generate a key" makes a strong random key and updates the link', async () => {
  const { server } = await ready();
  const page = await openPage();
  await page.goto(`${server.base}/`);
  await page.locator('#generate').click();
  const first = await page.locator('#room').inputValue();
  assert.match(first, /^[A-Za-z0-9_-]{22}$/);
  assert.is(await page.locator('#share-link').inputValue(), `${server.base}/#room=${first}`);
  assert.is(page.url(), `${server.base}/#room=${first}`);
  await page.locator('#generate').click();
  const second = await page.locator('#room').inputValue();
  assert.match(second, /^[A-Za-z0-9_-]{22}$/);
  assert.is.not(second, first);
  await page.locator('#copy-link').click();
  await eventually(async () => assert.match(await text(page, '#copy-status'), /copied|selected/i));
  await page.close();
});

test('every control has a label; bad input is explained next to the field', async () => {
  const { server } = await ready();
  const page = await openPage();
  await page.goto(`${server.base}/`);
  const unlabelled = await page.evaluate(
    `[...document.querySelectorAll('input, button, textarea, select')]
       .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim())
       .map((e) => e.id || e.outerHTML)`,
  );
  assert.equal(unlabelled, []);
  await page.locator('#room').fill('no spaces allowed');
  await page.locator('#join').click();
  assert.ok(await page.locator('#room-error').isVisible());
  assert.is(await page.locator('#room').getAttribute('aria-invalid'), 'true');
  assert.ok(await page.locator('#join-view').isVisible(), 'still on the form');
  assert.is(await page.evaluate('document.activeElement.id'), 'room');
  await page.locator('#room').fill('fine-room');
  await page.locator('#name').fill('');
  await page.locator('#join').click();
  assert.ok(await page.locator('#name-error').isVisible());
  assert.is(await page.evaluate('document.activeElement.id'), 'name');
  await page.close();
});

test('keyboard alone: logical tab order, Enter joins, Enter sends, focus is visible', async () => {
  const { server } = await ready();
  const page = await openPage();
  const other = await openPage();
  await joinByForm(other, server.base, 'keyboard-room', 'mouse-user');
  await page.goto(`${server.base}/`);
  const order: string[] = [];
  for (let i = 0; i < 8; i++) {
    await page.keyboard.press('Tab');
    order.push(String(await page.evaluate('document.activeElement.id')));
  }
  assert.equal(order, ['room', 'generate', 'name', 'secret', 'generate-secret', 'join', 'share-link', 'copy-link']);
  // The focused control shows a visible outline.
  const outline = String(await page.evaluate('getComputedStyle(document.activeElement).outlineStyle'));
  assert.is.not(outline, 'none');

  await page.keyboard.press('Shift+Tab');
  await page.keyboard.press('Shift+Tab');
  await page.keyboard.press('Shift+Tab');
  await page.keyboard.press('Shift+Tab');
  await page.keyboard.press('Shift+Tab');
  await page.keyboard.press('Shift+Tab');
  await page.keyboard.press('Shift+Tab'); // back in the room field
  assert.is(await page.evaluate('document.activeElement.id'), 'room');
  await page.keyboard.type('keyboard-room');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Tab');
  await page.keyboard.type('keys-only');
  await page.keyboard.press('Enter');
  await waitOpen(page);
  assert.is(await page.evaluate('document.activeElement.id'), 'text', 'focus moves to the message box');
  await page.keyboard.type('typed and sent with Enter');
  await page.keyboard.press('Enter');
  await waitMessage(other, 'typed and sent with Enter');
  await page.keyboard.press('Tab');
  assert.is(await page.evaluate('document.activeElement.id'), 'send');
  // Live regions announce new messages and connection changes.
  assert.is(await page.locator('#messages').getAttribute('aria-live'), 'polite');
  assert.is(await page.locator('#status').getAttribute('role'), 'status');
  await other.close();
  await page.close();
});

test('usable on a 360 px phone screen: no sideways scrolling, composer in view', async () => {
  const { server, browser } = await ready();
  const page = await browser.context.newPage();
  const errs = watchErrors(page);
  await page.setViewportSize({ width: 360, height: 740 });
  await page.goto(`${server.base}/#room=phone-room`);
  const formWidth = Number(await page.evaluate('document.documentElement.scrollWidth'));
  assert.ok(formWidth <= 360, `join form is ${formWidth}px wide`);
  await joinByForm(page, server.base, 'phone-room', 'a rather long display name for a phone');
  const peer = await openPage();
  await joinByForm(peer, server.base, 'phone-room', 'peer');
  await waitMembers(page, ['a rather long display name for a phone', 'peer']);
  await say(peer, 'averyveryverylongwordwithoutanyspacesthatmustwrapinsteadofwideningthescreen'.repeat(2));
  await waitMessage(page, 'averyveryverylongwordwithoutanyspacesthatmustwrapinsteadofwideningthescreen'.repeat(2));
  const chatWidth = Number(await page.evaluate('document.documentElement.scrollWidth'));
  assert.ok(chatWidth <= 360, `chat is ${chatWidth}px wide`);
  const box = await page.locator('#send').boundingBox();
  assert.ok(box && box.x + box.width <= 360 && box.height >= 40, `send button ${JSON.stringify(box)}`);
  const input = await page.locator('#text').boundingBox();
  assert.ok(input && input.width >= 150, `message box ${JSON.stringify(input)}`);
  assert.equal(errs, []);
  await peer.close();
  await page.close();
});

test('the pages logged no script or CSP errors', () => {
  assert.equal(allErrors, []);
});

test.run();
