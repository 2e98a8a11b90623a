// The Origin policy against cross-site WebSocket hijacking (issue 6): by default
// only a page from the server's own host may connect from a browser (403 for any
// other Origin, "null" included); ALLOWED_ORIGINS replaces that with a list, or
// '*' for any. Clients that send no Origin (wscat, scripts) are not browsers and
// are let in. A refused hijacker costs the room's members nothing.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RawPeer, roomPath } from '../helpers/misbehaving-clients';
import { parseSettings } from '../../src/settings';
import { Bystanders, memberNames, startHardened, whileBystandersTalk, type Hardened } from './harness';

let h: Hardened | null = null;
test.after.each(async () => {
  await h?.stop();
  h = null;
});

async function tryOrigin(port: number, origin: string | null, name: string): Promise<{ status: number; body: string }> {
  const headers: Record<string, string | null> = origin === null ? {} : { Origin: origin };
  const { peer, response } = await RawPeer.handshake(port, { path: roomPath('team-a', name), headers });
  if (response.status !== 101) await peer.waitForEnd();
  peer.destroy();
  return { status: response.status, body: response.body.trim() };
}

test('default (same host): a cross-site Origin gets 403, the page own host gets 101', async () => {
  h = await startHardened();
  const { port } = h;
  const bystanders = await Bystanders.start(h.url);
  await whileBystandersTalk(bystanders, async () => {
    const evil = await tryOrigin(port, 'https://evil.example', 'hijacker');
    assert.equal(evil, { status: 403, body: 'origin not allowed (see ALLOWED_ORIGINS)' });
    // Same host name, another port: another origin.
    assert.is((await tryOrigin(port, `http://127.0.0.1:${port + 1}`, 'neighbour')).status, 403);
    // Sandboxed iframes and file:// pages send "null".
    assert.is((await tryOrigin(port, 'null', 'sandboxed')).status, 403);
    assert.is((await tryOrigin(port, 'not a url', 'garbled')).status, 403);
    // The page served by this server connects.
    assert.is((await tryOrigin(port, `http://127.0.0.1:${port}`, 'page')).status, 101);
    assert.is((await tryOrigin(port, `HTTP://127.0.0.1:${port}`, 'page-upper')).status, 101);
    // No Origin: not a browser.
    assert.is((await tryOrigin(port, null, 'script')).status, 101);
  });
  // The hijacker never entered the room; its members saw only the admitted ones come and go.
  const seen = new Set(bystanders.a[0].presence.map((p) => p.name));
  for (const refused of ['hijacker', 'neighbour', 'sandboxed', 'garbled']) assert.not.ok(seen.has(refused), `${refused} never joined`);
  assert.ok(seen.has('page') && seen.has('script'));
  assert.equal(memberNames(h.server, 'team-a').sort(), ['ann', 'bob']);
  await bystanders.close();
});

test('ALLOWED_ORIGINS as a list: exactly those origins (compared case-insensitively), nothing else', async () => {
  const parsed = parseSettings([], { ALLOWED_ORIGINS: 'https://App.example, https://ops.example:8443' });
  assert.ok(parsed.ok);
  if (!parsed.ok) return;
  assert.equal(parsed.settings.allowedOrigins, ['https://app.example', 'https://ops.example:8443']);
  h = await startHardened({ allowedOrigins: parsed.settings.allowedOrigins });
  const { port } = h;
  const bystanders = await Bystanders.start(h.url);
  await whileBystandersTalk(bystanders, async () => {
    assert.is((await tryOrigin(port, 'https://app.example', 'app')).status, 101);
    assert.is((await tryOrigin(port, 'https://APP.example', 'app-upper')).status, 101);
    assert.is((await tryOrigin(port, 'https://ops.example:8443', 'ops')).status, 101);
    // Not on the list: another port, another scheme, a look-alike, the server's own host.
    assert.equal(await tryOrigin(port, 'https://ops.example', 'ops-443'), { status: 403, body: 'origin not allowed (see ALLOWED_ORIGINS)' });
    assert.is((await tryOrigin(port, 'http://app.example', 'app-http')).status, 403);
    assert.is((await tryOrigin(port, 'https://app.example.evil.example', 'lookalike')).status, 403);
    assert.is((await tryOrigin(port, `http://127.0.0.1:${port}`, 'same-host')).status, 403);
    assert.is((await tryOrigin(port, null, 'script')).status, 101);
  });
  await bystanders.close();
});

test("ALLOWED_ORIGINS='*': any Origin gets 101", async () => {
  const parsed = parseSettings(['--allowed-origins', '*'], {});
  assert.ok(parsed.ok);
  if (!parsed.ok) return;
  assert.is(parsed.settings.allowedOrigins, '*');
  h = await startHardened({ allowedOrigins: '*' });
  const { port } = h;
  const bystanders = await Bystanders.start(h.url);
  await whileBystandersTalk(bystanders, async () => {
    assert.is((await tryOrigin(port, 'https://evil.example', 'anyone')).status, 101);
    assert.is((await tryOrigin(port, 'null', 'sandboxed')).status, 101);
    assert.is((await tryOrigin(port, `http://127.0.0.1:${port}`, 'page')).status, 101);
  });
  await bystanders.close();
});

test('the default, spelt out: parseSettings gives "same host" (an empty list) when ALLOWED_ORIGINS is unset', () => {
  const parsed = parseSettings([], {});
  assert.ok(parsed.ok);
  if (parsed.ok) assert.equal(parsed.settings.allowedOrigins, []);
  const explicit = parseSettings([], { ALLOWED_ORIGINS: 'same-host' });
  assert.ok(explicit.ok);
  if (explicit.ok) assert.equal(explicit.settings.allowedOrigins, []);
});

test.run();
