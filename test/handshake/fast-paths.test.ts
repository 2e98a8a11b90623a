// The handshake's fast paths (issue 15) decide exactly as the general paths they
// skip: form decoding only when % or + is present, single-token headers compared
// whole, printable-ASCII names past the Unicode check, names counted in code
// points only when long, the one-shot SHA-1 equal to the Hash object's.
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WEBSOCKET_GUID, computeAcceptKey } from '../../src/handshake/accept-key';
import { HttpRequestParser } from '../../src/handshake/http-request-parser';
import { decideRequest, type RequestDecision } from '../../src/handshake/upgrade-request';

function decide(target: string, extra: Record<string, string> = {}): RequestDecision {
  const lines = [`GET ${target} HTTP/1.1`, 'Host: rooms.test', 'Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13'];
  const headers = new Map(lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  for (const [k, v] of Object.entries(extra)) headers.set(k, v);
  return decideRequest({ method: 'GET', target, version: '1.1', headers }, { echoEnabled: true, allowedOrigins: '*' });
}

const nameOf = (d: RequestDecision): string | null => (d.kind === 'upgrade' ? d.name : null);
const reasonOf = (d: RequestDecision): string => (d.kind === 'refuse' ? `${d.response.status} ${d.why}` : d.kind);

test('form decoding still happens when + or % is present, and only then', () => {
  assert.is(nameOf(decide('/?room=r&name=Ada+L')), 'Ada L');
  assert.is(nameOf(decide('/?room=r&name=Ada%2BL')), 'Ada+L');
  assert.is(nameOf(decide('/?room=r&name=plain-ascii_name.1')), 'plain-ascii_name.1');
  assert.is(reasonOf(decide('/?room=r&name=%ZZ')), '400 query string has malformed percent-encoding or invalid UTF-8');
});

test('Upgrade and Connection: one token in any case, or a list, are accepted; a same-length other word is not', () => {
  assert.is(decide('/?room=r&name=a', { upgrade: 'WebSocket' }).kind, 'upgrade');
  assert.is(decide('/?room=r&name=a', { upgrade: 'websocket, h2c' }).kind, 'upgrade');
  assert.is(decide('/?room=r&name=a', { connection: 'UPGRADE' }).kind, 'upgrade');
  assert.is(decide('/?room=r&name=a', { connection: 'keep-alive,upgrade' }).kind, 'upgrade');
  assert.is(reasonOf(decide('/?room=r&name=a', { upgrade: 'websockez' })), '400 Upgrade header must be "websocket"');
  assert.is(reasonOf(decide('/?room=r&name=a', { connection: 'upgradex' })), '400 Connection header must include "Upgrade"');
});

test('names: 64 code points pass however many UTF-16 units, 65 do not; non-ASCII control and separator characters are refused', () => {
  const fire = '🚒'; // two UTF-16 units, one code point
  assert.is(nameOf(decide(`/?room=r&name=${encodeURIComponent(fire.repeat(64))}`)), fire.repeat(64));
  assert.is(reasonOf(decide(`/?room=r&name=${encodeURIComponent(fire.repeat(65))}`)), '400 name must be 1-64 characters');
  assert.is(nameOf(decide(`/?room=r&name=${'n'.repeat(64)}`)), 'n'.repeat(64));
  assert.is(reasonOf(decide('/?room=r&name=a%C2%85b')), '400 name must be printable (no control characters)'); // U+0085, a C1 control
  assert.is(reasonOf(decide('/?room=r&name=a%E2%80%A8b')), '400 name must be printable (no control characters)'); // U+2028
  assert.is(reasonOf(decide('/?room=r&name=a%7Fb')), '400 name must be printable (no control characters)'); // DEL
});

test('the accept key from the one-shot hash equals SHA-1 through a Hash object', () => {
  for (let i = 0; i < 50; i++) {
    const key = randomBytes(16).toString('base64');
    assert.is(computeAcceptKey(key), createHash('sha1').update(key + WEBSOCKET_GUID).digest('base64'));
  }
});

test('the head parser reads LF-only and CRLF heads alike, skips leading blank lines, keeps repeated fields', () => {
  const crlf = 'GET /?room=r&name=a HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nx-a: 2\r\n\r\n';
  for (const text of [crlf, crlf.replaceAll('\r\n', '\n'), `\r\n\r\n${crlf}`.slice(2)]) {
    const parsed = new HttpRequestParser(8192).push(Buffer.from(text, 'latin1'));
    assert.ok(parsed.kind === 'head', JSON.stringify(text));
    if (parsed.kind !== 'head') return;
    assert.is(parsed.head.target, '/?room=r&name=a');
    assert.equal([...parsed.head.headers], [['host', 'x'], ['x-a', '1, 2']]);
  }
  const folded = new HttpRequestParser(8192).push(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n  folded\r\n\r\n', 'latin1'));
  assert.equal(folded, { kind: 'error', status: 400, reason: 'obsolete header line folding' });
});

test.run();
