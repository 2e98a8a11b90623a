import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { computeAcceptKey, isValidWebSocketKey } from '../../src/handshake/accept-key';
import type { HttpRequestHead } from '../../src/handshake/http-request-parser';
import { decideRequest, type UpgradePolicy } from '../../src/handshake/upgrade-request';

test('4.2.2: the RFC sample key gives the RFC sample accept value', () => {
  assert.is(computeAcceptKey('dGhlIHNhbXBsZSBub25jZQ=='), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
});

test('4.1: a key is base64 of exactly 16 bytes', () => {
  assert.ok(isValidWebSocketKey('dGhlIHNhbXBsZSBub25jZQ=='));
  assert.not.ok(isValidWebSocketKey('dGhlIHNhbXBsZSBub25jZQ'));
  assert.not.ok(isValidWebSocketKey('dGhlIHNhbXBsZSBub25jZXg='));
  assert.not.ok(isValidWebSocketKey('not base64 at all!!!!!=='));
});

const policy: UpgradePolicy = { echoEnabled: true, allowedOrigins: [] };

function head(target: string, extra: Record<string, string | undefined> = {}, method = 'GET', version = '1.1'): HttpRequestHead {
  const base: Record<string, string | undefined> = {
    host: 'rooms.test:8080',
    upgrade: 'websocket',
    connection: 'keep-alive, Upgrade',
    'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
    'sec-websocket-version': '13',
    ...extra,
  };
  const headers = new Map<string, string>();
  for (const [k, v] of Object.entries(base)) if (v !== undefined) headers.set(k, v);
  return { method, target, version, headers };
}

function refusal(h: HttpRequestHead, p: UpgradePolicy = policy): { status: number; body: string; headers: Record<string, string> } | null {
  const d = decideRequest(h, p);
  return d.kind === 'refuse' ? { status: d.response.status, body: d.response.body.toString().trim(), headers: d.response.headers } : null;
}

test('a valid room join is an upgrade with room and name', () => {
  const d = decideRequest(head('/?room=Ops-1.a_b~c&name=Ada%20L'), policy);
  assert.equal(d.kind === 'upgrade' && [d.endpoint, d.room, d.name, d.protocol], ['room', 'Ops-1.a_b~c', 'Ada L', null]);
});

test('names may be any printable Unicode, percent-encoded as UTF-8', () => {
  const d = decideRequest(head(`/?room=r&name=${encodeURIComponent('Zoë 🚒')}`), policy);
  assert.ok(d.kind === 'upgrade' && d.name === 'Zoë 🚒');
});

const refusals: Array<[string, HttpRequestHead, number, RegExp]> = [
  ['missing room', head('/?name=ada'), 400, /missing room/],
  ['empty room', head('/?room=&name=ada'), 400, /missing room/],
  ['room with a space', head('/?room=a%20b&name=ada'), 400, /room must be/],
  ['room of 129 characters', head(`/?room=${'a'.repeat(129)}&name=ada`), 400, /room must be/],
  ['room with a slash', head('/?room=a%2Fb&name=ada'), 400, /room must be/],
  ['room given twice', head('/?room=a&room=b&name=ada'), 400, /more than once/],
  ['missing name', head('/?room=a'), 400, /missing name/],
  ['name of 65 characters', head(`/?room=a&name=${'n'.repeat(65)}`), 400, /name must be 1-64/],
  ['name with a control character', head('/?room=a&name=a%07b'), 400, /printable/],
  ['name with a newline', head('/?room=a&name=a%0Ab'), 400, /printable/],
  ['malformed percent-encoding', head('/?room=a&name=%E2%82'), 400, /percent-encoding/],
  ['POST', head('/?room=a&name=b', {}, 'POST'), 400, /GET/],
  ['HTTP/1.0', head('/?room=a&name=b', {}, 'GET', '1.0'), 400, /HTTP\/1.1/],
  ['missing Host', head('/?room=a&name=b', { host: undefined }), 400, /Host/],
  ['Upgrade is not websocket', head('/?room=a&name=b', { upgrade: 'h2c' }), 400, /Upgrade/],
  ['Connection lacks upgrade', head('/?room=a&name=b', { connection: 'keep-alive' }), 400, /Connection/],
  ['missing key', head('/?room=a&name=b', { 'sec-websocket-key': undefined }), 400, /missing Sec-WebSocket-Key/],
  ['malformed key', head('/?room=a&name=b', { 'sec-websocket-key': 'short' }), 400, /base64 of 16 bytes/],
  ['unknown path', head('/chat?room=a&name=b'), 404, /no WebSocket endpoint/],
  ['cross-site origin', head('/?room=a&name=b', { origin: 'https://evil.example' }), 403, /origin/],
  ['opaque origin', head('/?room=a&name=b', { origin: 'null' }), 403, /origin/],
];
for (const [name, h, status, reason] of refusals) {
  test(`refused: ${name} -> ${status}`, () => {
    const r = refusal(h);
    assert.ok(r !== null, 'refused');
    assert.is(r!.status, status);
    assert.match(r!.body, reason);
    assert.not.match(r!.body, /\n/, 'one line');
  });
}

test('4.4: version 12 gets 426 and Sec-WebSocket-Version: 13', () => {
  const r = refusal(head('/?room=a&name=b', { 'sec-websocket-version': '12' }));
  assert.is(r?.status, 426);
  assert.is(r?.headers['Sec-WebSocket-Version'], '13');
});

test('subprotocol: rooms.v1.json is chosen when offered among others; otherwise none', () => {
  const pick = (offer: string) => {
    const d = decideRequest(head('/?room=a&name=b', { 'sec-websocket-protocol': offer }), policy);
    return d.kind === 'upgrade' ? d.protocol : 'refused';
  };
  assert.is(pick('chat, rooms.v1.json'), 'rooms.v1.json');
  assert.is(pick('rooms.v1.json'), 'rooms.v1.json');
  assert.is(pick('chat'), null);
  assert.is(pick('ROOMS.V1.JSON'), null);
});

test('origin policy: same host by default, a list, or any', () => {
  const same = head('/?room=a&name=b', { origin: 'http://rooms.test:8080' });
  assert.is(decideRequest(same, policy).kind, 'upgrade');
  const listed = head('/?room=a&name=b', { origin: 'https://app.example' });
  assert.is(decideRequest(listed, { echoEnabled: true, allowedOrigins: ['https://app.example'] }).kind, 'upgrade');
  assert.is(decideRequest(listed, { echoEnabled: true, allowedOrigins: '*' }).kind, 'upgrade');
  assert.is(decideRequest(head('/?room=a&name=b'), policy).kind, 'upgrade', 'no Origin: not a browser');
});

test('/echo is an upgrade unless disabled', () => {
  assert.is(decideRequest(head('/echo'), policy).kind, 'upgrade');
  assert.is(refusal(head('/echo'), { echoEnabled: false, allowedOrigins: [] })?.status, 404);
});

test('a plain GET without upgrade headers goes to the HTTP router', () => {
  const h: HttpRequestHead = { method: 'GET', target: '/healthz?x=1', version: '1.1', headers: new Map([['host', 'x']]) };
  const d = decideRequest(h, policy);
  assert.ok(d.kind === 'http' && d.path === '/healthz' && d.query === 'x=1');
});

test.run();
