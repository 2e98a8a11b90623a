// Chromium always offers permessage-deflate: the server negotiates it, and a long
// message from the browser (compressed by Chromium) reaches a plain ws member, and
// a long message from that member reaches the browser (compressed by us).
import { rmSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { launchBrowser, startServer, tempDir, type Browser, type RunningServer } from './harness';

let server: RunningServer;
let browser: Browser;
let dataDir: string;

test.before(async () => {
  dataDir = tempDir('rooms-e2e-deflate-');
  server = await startServer({ port: 0, dataDir });
  browser = await launchBrowser();
});
test.after(async () => {
  await browser?.close();
  await server?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

test('Chromium negotiates permessage-deflate and long messages flow both ways', async () => {
  const page = await browser.context.newPage();
  await page.goto(`${server.base}/`);
  const plain = new WebSocket(`ws://127.0.0.1:${server.port}/?room=deflate&name=plain`, { perMessageDeflate: false });
  await new Promise((resolve, reject) => {
    plain.once('open', resolve);
    plain.once('error', reject);
  });
  // The plain member answers the browser's message with a long one of its own.
  const fromBrowser = new Promise<string>((resolve) =>
    plain.once('message', (data) => {
      plain.send('reply '.repeat(1000));
      resolve(String(data));
    }),
  );
  const long = 'compress me please '.repeat(400);
  const result = await page.evaluate(
    async ({ port, long }) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/?room=deflate&name=browser`);
      await new Promise((resolve, reject) => {
        ws.onopen = resolve;
        ws.onerror = reject;
      });
      const reply = new Promise<string>((resolve) => (ws.onmessage = (e) => resolve(String(e.data))));
      ws.send(long);
      const text = await reply;
      const extensions = ws.extensions;
      ws.close();
      return { extensions, length: text.length, head: text.slice(0, 20) };
    },
    { port: server.port, long },
  );
  assert.is(await fromBrowser, long);
  assert.match(result.extensions, /^permessage-deflate/);
  plain.close();
  await page.close();
  assert.is(result.length, 'reply '.repeat(1000).length);
  // Compressed bytes really crossed the wire, both ways.
  const metrics = await (await fetch(`${server.base}/metrics`)).text();
  const counter = (name: string) => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(metrics)?.[1] ?? 0);
  assert.ok(counter('rooms_deflate_in_compressed_bytes_total') > 0, 'Chromium sent compressed frames');
  assert.ok(counter('rooms_deflate_in_inflated_bytes_total') >= long.length);
  assert.ok(counter('rooms_deflate_out_compressed_bytes_total') > 0, 'the server compressed for Chromium');
});

test.run();
