// RoomsClient (public/rooms-client.js) on its own in Chromium, as an embedding
// app uses it: a credential offered as rooms.auth.*, the welcome's protected /
// role / ownerToken, owner commands and the room frame, and a refused join told
// apart from an unreachable server (refused: no retry; unreachable: retried).
import { rmSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Page } from 'playwright-core';
import { eventually, launchBrowser, sleep, startServer, tempDir, watchErrors, type Browser, type RunningServer } from './harness';

let server: RunningServer;
let browser: Browser;
let dataDir: string;
let page: Page;
let errors: string[] = [];
const ROOM = `lib-${Date.now().toString(36)}`;
const SECRET = 'correct horse battery staple';

test.before(async () => {
  dataDir = tempDir('rooms-e2e-lib-');
  server = await startServer({ port: 0, dataDir });
  browser = await launchBrowser();
  page = await browser.context.newPage();
  errors = watchErrors(page);
  await page.goto(`${server.base}/`);
  // One place in the page holding clients and what they heard (the tests have no DOM types: string scripts).
  await page.evaluate(`(async () => {
    const { RoomsClient } = await import('/rooms-client.js');
    window.t = { clients: {}, events: {} };
    window.t.make = (id, options) => {
      const client = new RoomsClient({ room: ${JSON.stringify(ROOM)}, backoff: { baseMs: 50, maxMs: 200 }, ...options });
      const events = [];
      for (const type of ['connecting', 'open', 'welcome', 'room', 'error', 'close', 'refused', 'frame', 'reconnecting']) {
        client.on(type, (event) => events.push({ ...event, kind: type }));
      }
      window.t.clients[id] = client;
      window.t.events[id] = events;
      client.connect();
      return true;
    };
  })()`);
});
test.after(async () => {
  await browser?.close();
  await server?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

type Event = Record<string, unknown> & { kind: string };

async function events(id: string, type?: string): Promise<Event[]> {
  const all = (await page.evaluate(`window.t.events[${JSON.stringify(id)}]`)) as Event[];
  return type === undefined ? all : all.filter((e) => e.kind === type);
}

async function waitEvent(id: string, type: string): Promise<Event> {
  return eventually(async () => {
    const found = await events(id, type);
    if (found.length === 0) throw new Error(`no ${type} yet: ${JSON.stringify((await events(id)).map((e) => e.kind))}`);
    return found[0]!;
  }, 10_000, `${id}: ${type}`);
}

async function state(id: string): Promise<string> {
  return String(await page.evaluate(`window.t.clients[${JSON.stringify(id)}].state`));
}

test('a credential creates a protected room: the welcome says owner, hands the owner key, and the frame event hides it', async () => {
  await page.evaluate(`window.t.make('owner', { name: 'ann', credential: ${JSON.stringify(SECRET)} })`);
  const welcome = await waitEvent('owner', 'welcome');
  assert.is(welcome.protected, true);
  assert.is(welcome.role, 'owner');
  assert.type(welcome.ownerToken, 'string');
  const connecting = await waitEvent('owner', 'connecting');
  assert.is(connecting.credentialOffered, true);
  assert.not.ok(String(connecting.url).includes('correct'), 'the credential is not in the URL');
  const open = await waitEvent('owner', 'open');
  assert.is(open.protocol, 'rooms.v1.json');
  const frames = (await events('owner', 'frame')).map((f) => String(f.data));
  assert.ok(frames.some((f) => f.includes('"ownerToken":"(hidden)"')), JSON.stringify(frames));
  assert.not.ok(frames.some((f) => f.includes(String(welcome.ownerToken))), 'the owner key is not in a frame event');
});

test('no credential: refused (the server answers /healthz), the client stops and does not retry', async () => {
  await page.evaluate(`window.t.make('nobody', { name: 'eve' })`);
  const refused = await waitEvent('nobody', 'refused');
  assert.equal(refused, { credentialOffered: false, reconnect: false, kind: 'refused' });
  const close = await waitEvent('nobody', 'close');
  assert.is(close.code, 1006);
  assert.is(close.opened, false);
  assert.is(close.refused, true);
  assert.is(close.willRetry, false);
  assert.is(await state('nobody'), 'closed');
  // With a 50 ms backoff a retry would have happened many times over by now.
  await sleep(1000);
  assert.is((await events('nobody', 'connecting')).length, 1, 'connected once, never again');
  assert.is((await events('nobody', 'reconnecting')).length, 0);
});

test('connect() again with the right credential from a function: joins as a member', async () => {
  await page.evaluate(`(() => {
    window.t.key = '';
    window.t.make('member', { name: 'bob', credential: () => window.t.key });
  })()`);
  await waitEvent('member', 'refused');
  await page.evaluate(`(() => { window.t.key = ${JSON.stringify(SECRET)}; window.t.clients.member.connect(); })()`);
  const welcome = await waitEvent('member', 'welcome');
  assert.is(welcome.role, 'member');
  assert.is(welcome.protected, true);
  assert.is(welcome.ownerToken, undefined);
  const offers = (await events('member', 'connecting')).map((e) => e.credentialOffered);
  assert.equal(offers, [false, true]);
});

test('owner commands: command() and sendJson(); every member hears the room frame; a member is forbidden', async () => {
  assert.is(await page.evaluate(`window.t.clients.owner.command({ type: 'lock' })`), 'sent');
  const room = await waitEvent('member', 'room');
  assert.equal(room, { locked: true, protected: true, kind: 'room' });
  await waitEvent('owner', 'room');
  assert.is(await page.evaluate(`window.t.clients.member.sendJson('{"type":"unlock"}')`), 'sent');
  const error = await waitEvent('member', 'error');
  assert.is(error.code, 'forbidden');
  assert.is(await state('member'), 'open', 'the connection stays open');
  // Locked: a newcomer with the right secret is refused, not retried.
  await page.evaluate(`window.t.make('late', { name: 'cy', credential: ${JSON.stringify(SECRET)} })`);
  const refused = await waitEvent('late', 'refused');
  assert.is(refused.credentialOffered, true);
  // A command's secret is hidden in the frame event too.
  assert.is(await page.evaluate(`window.t.clients.owner.command({ type: 'set_secret', secret: 'another one entirely' })`), 'sent');
  const out = (await events('owner', 'frame')).filter((f) => f.direction === 'out').map((f) => String(f.data));
  assert.ok(out.includes('{"type":"set_secret","secret":"(hidden)"}'), JSON.stringify(out));
  assert.not.ok(out.some((f) => f.includes('another one entirely')));
  // Before a welcome nothing is sent.
  assert.is(await page.evaluate(`window.t.clients.nobody.command({ type: 'lock' })`), 'offline');
});

test('server down: a connection that never opened is retried (no answer from /healthz), and joins once it is back', async () => {
  for (const id of ['owner', 'member', 'nobody', 'late']) await page.evaluate(`window.t.clients.${id}.close()`);
  const port = server.port;
  await server.stop();
  await page.evaluate(`window.t.make('patient', { name: 'dee', backoff: { baseMs: 200, maxMs: 400 } })`);
  await eventually(async () => {
    if ((await events('patient', 'reconnecting')).length < 2) throw new Error('not retrying');
  }, 10_000, 'retries while the server is down');
  assert.is((await events('patient', 'refused')).length, 0, 'not taken for a refusal');
  server = await startServer({ port, dataDir });
  // The room stays protected across the restart and this client offers nothing: once the server answers, a refusal.
  await waitEvent('patient', 'refused');
  assert.is(await state('patient'), 'closed');
});

test('a reconnect that failed while the server restarted is not taken for a refusal when /healthz answers by then', async () => {
  await page.evaluate(`window.t.clients.patient.close()`);
  await page.evaluate(`window.t.make('restart', { room: 'open-${Date.now().toString(36)}', name: 'flo', backoff: { baseMs: 200, maxMs: 400 } })`);
  await waitEvent('restart', 'welcome');
  const port = server.port;
  // The race, pinned: the first /healthz asked after a failed attempt answers (the server is "back"), the
  // later ones do not (it is still down) until it really is back.
  let healthAsked = 0;
  await page.route('**/healthz', (route) => (++healthAsked === 1 ? route.fulfill({ status: 200, contentType: 'application/json', body: '{}' }) : route.abort()));
  await server.stop();
  await eventually(async () => {
    if (healthAsked < 2) throw new Error(`/healthz asked ${healthAsked} times`);
  }, 10_000, 'two failed reconnects');
  assert.is((await events('restart', 'refused')).length, 0, 'the answering /healthz was not taken for a refusal');
  await page.unroute('**/healthz');
  server = await startServer({ port, dataDir });
  await eventually(async () => {
    if ((await events('restart', 'welcome')).length < 2) throw new Error('not back yet');
  }, 10_000, 'the client to rejoin');
  assert.is(await state('restart'), 'open');
  assert.is((await events('restart', 'refused')).length, 0);
});

test('the page logged no script errors', () => {
  assert.equal(errors, []);
});

test.run();
