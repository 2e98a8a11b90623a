// End to end in real headless Chromium: two pages chat through the real server,
// presence follows joins and leaves, other rooms hear nothing, and the README
// screenshot is written to docs/screenshot.png.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { WebSocket } from 'ws';
import {
  REPO_ROOT, eventually, joinByForm, joinByLink, launchBrowser, memberNames, messageTexts, say, sleep, startServer, tempDir,
  text, waitMembers, waitMessage, waitOpen, watchErrors, type Browser, type RunningServer,
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

const pages: Record<string, Page> = {};
const errors: Record<string, string[]> = {};
async function openPage(label: string): Promise<Page> {
  const { browser } = await ready();
  const page = await browser.context.newPage();
  pages[label] = page;
  errors[label] = watchErrors(page);
  return page;
}

const ROOM = `e2e-${Date.now().toString(36)}`;
const OTHER_ROOM = `${ROOM}-other`;

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

test('two pages join one room through the form and chat both ways', async () => {
  const { server } = await ready();
  const alice = await openPage('alice');
  const bob = await openPage('bob');
  await joinByForm(alice, server.base, ROOM, 'alice');
  await joinByLink(bob, server.base, ROOM, 'bob');

  await say(alice, 'hello from alice');
  await waitMessage(bob, 'hello from alice');
  await say(bob, 'hi alice, bob here');
  await waitMessage(alice, 'hi alice, bob here');

  // Sender and time are shown with each message; own messages are marked.
  const last = bob.locator('#messages .msg').filter({ hasText: 'hello from alice' });
  assert.is(await last.locator('.from').textContent(), 'alice');
  const when = await last.locator('time').getAttribute('datetime');
  assert.ok(when && Math.abs(Date.parse(when) - Date.now()) < 60_000, `datetime ${when}`);
  assert.match((await last.locator('time').textContent()) ?? '', /\d/);
  const mine = alice.locator('#messages .msg.mine').filter({ hasText: 'hello from alice' });
  assert.is(await mine.count(), 1);
  // The sender is not echoed its own message: exactly one copy on each side.
  assert.is((await messageTexts(alice)).filter((t) => t === 'hello from alice').length, 1);
  assert.is((await messageTexts(bob)).filter((t) => t === 'hi alice, bob here').length, 1);
  // The header names the room and the user.
  assert.is(await text(alice, '#where-room'), ROOM);
  assert.is(await text(bob, '#where-name'), 'bob');
});

test('presence: member lists follow joins and leaves', async () => {
  const { server } = await ready();
  const { alice, bob } = pages;
  await waitMembers(alice, ['alice', 'bob']);
  await waitMembers(bob, ['alice', 'bob']);

  const carol = await openPage('carol');
  await joinByForm(carol, server.base, ROOM, 'carol');
  await waitMembers(carol, ['alice', 'bob', 'carol']);
  await waitMembers(alice, ['alice', 'bob', 'carol']);
  await waitMembers(bob, ['alice', 'bob', 'carol']);
  assert.is(await text(carol, '#members .you .member-name'), 'carol');
  assert.is(await text(alice, '#member-count'), '(3)');

  // Leaving with the button: a clean 1000 close, and back to the join form.
  await carol.locator('#leave').click();
  await waitMembers(alice, ['alice', 'bob']);
  await waitMembers(bob, ['alice', 'bob']);
  assert.ok(await carol.locator('#join-view').isVisible());
  await sleep(1500);
  assert.is(await carol.locator('#state-box').getAttribute('data-state'), 'idle', 'no reconnect after leaving');
  await waitMembers(alice, ['alice', 'bob']);

  // Closing the tab is a leave too.
  const dave = await openPage('dave');
  await joinByLink(dave, server.base, ROOM, 'dave');
  await waitMembers(bob, ['alice', 'bob', 'dave']);
  await dave.close();
  delete pages.dave;
  await waitMembers(alice, ['alice', 'bob']);
  await waitMembers(bob, ['alice', 'bob']);

  // Joins and leaves are announced in the message list too.
  const notices = await alice.locator('#messages .notice').allTextContents();
  assert.ok(notices.some((n) => n.includes('carol joined')), JSON.stringify(notices));
  assert.ok(notices.some((n) => n.includes('carol left')), JSON.stringify(notices));
});

test('a page in another room hears nothing', async () => {
  const { server } = await ready();
  const { alice, bob } = pages;
  const eve = await openPage('eve');
  await joinByForm(eve, server.base, OTHER_ROOM, 'eve');
  await waitMembers(eve, ['eve']);

  await say(alice, 'only for this room');
  await waitMessage(bob, 'only for this room');
  await say(eve, 'eve in the other room');
  await sleep(500);
  assert.equal(await messageTexts(eve), ['eve in the other room']);
  assert.not.ok((await messageTexts(alice)).includes('eve in the other room'));
  assert.not.ok((await messageTexts(bob)).includes('eve in the other room'));
  // Presence does not leak across rooms either.
  assert.equal(await memberNames(alice), ['alice', 'bob']);
  assert.equal(await memberNames(eve), ['eve']);
  const eveNotices = await eve.locator('#messages .notice').allTextContents();
  assert.not.ok(eveNotices.some((n) => /alice|bob/.test(n)), JSON.stringify(eveNotices));
});

test('room keys are case-sensitive: Ops and ops are two rooms', async () => {
  const { server } = await ready();
  const upper = await openPage('upper');
  const lower = await openPage('lower');
  await joinByForm(upper, server.base, `${ROOM}-Ops`, 'upper');
  await joinByForm(lower, server.base, `${ROOM}-ops`, 'lower');
  await say(upper, 'capital');
  await sleep(400);
  assert.equal(await messageTexts(lower), []);
  assert.equal(await memberNames(lower), ['lower']);
  await upper.close();
  await lower.close();
  delete pages.upper;
  delete pages.lower;
});

test('a raw-mode client (no subprotocol, like wscat) and the page hear each other', async () => {
  const { server } = await ready();
  const { alice, bob } = pages;
  const raw = new WebSocket(`ws://127.0.0.1:${server.port}/?room=${ROOM}&name=wscat-user`);
  const heard: string[] = [];
  raw.on('message', (data, isBinary) => heard.push(isBinary ? '(binary)' : data.toString()));
  await new Promise<void>((resolve, reject) => {
    raw.once('open', () => resolve());
    raw.once('error', reject);
  });
  try {
    assert.is(raw.protocol, '');
    await waitMembers(alice, ['alice', 'bob', 'wscat-user']);
    raw.send('plain text from a terminal');
    await waitMessage(alice, 'plain text from a terminal');
    const row = alice.locator('#messages .msg').filter({ hasText: 'plain text from a terminal' });
    assert.is(await row.locator('.from').textContent(), 'wscat-user');
    raw.send(Buffer.from([0xde, 0xad, 0xbe, 0xef]));
    await waitMessage(bob, '[binary message, 4 bytes] de ad be ef');
    await say(bob, 'reply to the terminal');
    await eventually(() => assert.ok(heard.includes('reply to the terminal'), JSON.stringify(heard)));
  } finally {
    raw.close(1000);
  }
  await waitMembers(alice, ['alice', 'bob']);
  await waitMembers(bob, ['alice', 'bob']);
});

test('repeated names: the member list keeps both, and drops one on leave', async () => {
  const { server } = await ready();
  const room = `${ROOM}-twins`;
  const first = await openPage('sam1');
  const second = await openPage('sam2');
  await joinByForm(first, server.base, room, 'sam');
  await second.goto(`${server.base}/#room=${room}`);
  await second.locator('#name').fill('sam');
  await second.locator('#name').press('Enter');
  // The server may accept the repeated name or refuse it; the page shows what it says.
  const outcome = await eventually(async () => {
    const state = await second.locator('#state-box').getAttribute('data-state');
    const status = await text(second, '#status');
    if (state === 'open' && status === 'Open') return 'accepted';
    if (state === 'closed') return `refused: ${status}`;
    throw new Error(`state ${state}, status ${status}`);
  }, 10_000, 'the second "sam" to be accepted or refused');
  if (outcome === 'accepted') {
    await waitMembers(first, ['sam', 'sam']);
    await waitMembers(second, ['sam', 'sam']);
    assert.is(await second.locator('#members .you').count(), 1);
    await second.locator('#leave').click();
    await waitMembers(first, ['sam']);
  } else {
    assert.match(outcome, /Closed \(\d{4}/);
    await waitMembers(first, ['sam']);
  }
  await first.close();
  await second.close();
  delete pages.sam1;
  delete pages.sam2;
});

test('message text is shown as text, never parsed as HTML', async () => {
  const { alice, bob } = pages;
  const evil = '<img src=x onerror="document.title=\'pwned\'"><b>bold?</b> & "quotes"\nsecond line';
  await say(alice, evil);
  await waitMessage(bob, evil);
  assert.is(await bob.locator('#messages img, #messages b').count(), 0);
  assert.is.not(await bob.title(), 'pwned');
});

test('the protocol panel shows messages both ways, with the open', async () => {
  const { alice, bob } = pages;
  await alice.locator('#protocol summary').click();
  assert.ok(await alice.locator('#frames').isVisible());
  await say(alice, 'watch the wire');
  await waitMessage(bob, 'watch the wire');
  await say(bob, 'wire seen');
  await waitMessage(alice, 'wire seen');
  const rows = await alice.locator('#frames .frame').allTextContents();
  const sent = rows.find((r) => r.startsWith('→') && r.includes('"watch the wire"'));
  assert.ok(sent, JSON.stringify(rows.slice(-6)));
  assert.match(sent, /\{"type":"message","text":"watch the wire"\}/);
  const received = rows.find((r) => r.startsWith('←') && r.includes('"wire seen"'));
  assert.ok(received, JSON.stringify(rows.slice(-6)));
  assert.match(received, /"from":"bob"/);
  assert.match(received, /"ts":\d+/);
  assert.ok(rows.some((r) => r.includes('welcome') && r.includes('"members"')), 'welcome shown');
  assert.ok(rows.some((r) => r.includes('open') && r.includes('rooms.v1.json')), 'open shown with the subprotocol');
  assert.match(await text(alice, '#protocol'), /not raw frames/);
});

test('screenshot of a two-member chat for the README', async () => {
  const { server } = await ready();
  const left = await openPage('shot-left');
  const right = await openPage('shot-right');
  await left.setViewportSize({ width: 1100, height: 760 });
  const room = 'team-standup';
  await joinByForm(left, server.base, room, 'Amira');
  await joinByLink(right, server.base, room, 'Jonas');
  await waitMembers(left, ['Amira', 'Jonas']);
  await say(right, 'Morning! Is the north entrance open today?');
  await waitMessage(left, 'Morning! Is the north entrance open today?');
  await say(left, 'Yes, until 18:00. The south one is closed for repairs.');
  await waitMessage(right, 'Yes, until 18:00. The south one is closed for repairs.');
  await say(right, 'Thanks, heading there now.');
  await waitMessage(left, 'Thanks, heading there now.');
  await left.locator('#protocol summary').click();
  await left.locator('#text').blur();
  mkdirSync(join(REPO_ROOT, 'docs'), { recursive: true });
  const path = join(REPO_ROOT, 'docs', 'screenshot.png');
  await left.screenshot({ path, fullPage: true });
  assert.ok(statSync(path).size > 10_000, 'screenshot written');
  await right.close();
  await waitMembers(left, ['Amira']);
  await left.close();
});

test('the pages logged no script or CSP errors', async () => {
  for (const [label, list] of Object.entries(errors)) {
    assert.equal(list, [], `${label}: ${list.join('\n')}`);
  }
  const { alice, bob } = pages;
  await waitOpen(alice);
  await waitOpen(bob);
  await eventually(async () => {
    assert.equal(await memberNames(alice), ['alice', 'bob']);
  });
});

test.run();
