// Reading the client's address from a trusted proxy's headers, as pure functions:
// only a trusted peer is believed, the right-most untrusted hop is the client, and
// a header that does not parse changes nothing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ProxyTrust, clientAddress, parseForwardedFor, parseXForwardedFor } from '../../src/handshake/forwarded';

const h = (entries: Record<string, string>) => new Map(Object.entries(entries));
const local = new ProxyTrust(['127.0.0.1']);

test('TRUST_PROXY entries: addresses and CIDR ranges, IPv4 and IPv6, v4-mapped peers', () => {
  const trust = new ProxyTrust(['10.0.0.0/8', '192.0.2.7', 'fd00::/8', '::1']);
  assert.ok(trust.trusts('10.200.3.4'));
  assert.ok(trust.trusts('::ffff:10.1.1.1'));
  assert.ok(trust.trusts('192.0.2.7'));
  assert.not.ok(trust.trusts('192.0.2.8'));
  assert.ok(trust.trusts('fd12:3456::1'));
  assert.ok(trust.trusts('::1'));
  assert.not.ok(trust.trusts('2001:db8::1'));
  assert.not.ok(trust.trusts('not an address'));
});

test('no TRUST_PROXY, or an untrusted peer: the headers are ignored, forged or not', () => {
  const forged = h({ 'x-forwarded-for': '198.51.100.1', forwarded: 'for=198.51.100.2' });
  assert.is(clientAddress('127.0.0.1', forged, null), '127.0.0.1');
  assert.is(clientAddress('203.0.113.9', forged, local), '203.0.113.9');
  assert.is(clientAddress('::ffff:203.0.113.9', forged, null), '203.0.113.9');
});

test('X-Forwarded-For from a trusted peer: the right-most untrusted entry', () => {
  const trust = new ProxyTrust(['127.0.0.1', '10.0.0.0/8']);
  assert.is(clientAddress('127.0.0.1', h({ 'x-forwarded-for': '198.51.100.1' }), trust), '198.51.100.1');
  // The client prepended a forgery; the proxies appended the truth to its right.
  assert.is(clientAddress('127.0.0.1', h({ 'x-forwarded-for': '1.1.1.1, 198.51.100.1, 10.0.0.5' }), trust), '198.51.100.1');
  assert.is(clientAddress('127.0.0.1', h({ 'x-forwarded-for': '2001:db8::7' }), trust), '2001:db8::7');
  assert.is(clientAddress('127.0.0.1', h({ 'x-forwarded-for': '198.51.100.1:4711' }), trust), '198.51.100.1');
  assert.is(clientAddress('127.0.0.1', h({ 'x-forwarded-for': '[2001:db8::7]:4711' }), trust), '2001:db8::7');
  // Every hop a trusted proxy: the leftmost is as far back as is known.
  assert.is(clientAddress('127.0.0.1', h({ 'x-forwarded-for': '10.0.0.9, 10.0.0.5' }), trust), '10.0.0.9');
  // Repeated header lines arrive joined with ", " (RFC 9110 section 5.3).
  assert.equal(parseXForwardedFor('198.51.100.1, 10.0.0.5'), ['198.51.100.1', '10.0.0.5']);
});

test('Forwarded (RFC 7239) from a trusted peer: quoted IPv6 with brackets and ports, other pairs', () => {
  assert.equal(parseForwardedFor('for=192.0.2.60;proto=http;by=203.0.113.43'), ['192.0.2.60']);
  assert.equal(parseForwardedFor('for="[2001:db8:cafe::17]:4711"'), ['2001:db8:cafe::17']);
  assert.equal(parseForwardedFor('For="[2001:db8:cafe::17]"'), ['2001:db8:cafe::17']);
  assert.equal(parseForwardedFor('for=192.0.2.43, for=198.51.100.17'), ['192.0.2.43', '198.51.100.17']);
  assert.equal(parseForwardedFor('for="192.0.2.43:47011";proto=https, for=198.51.100.17;by="[::1]:80"'), ['192.0.2.43', '198.51.100.17']);
  assert.equal(parseForwardedFor('proto=https'), []);
  assert.is(clientAddress('127.0.0.1', h({ forwarded: 'for=192.0.2.43, for="[2001:db8::1]:80"' }), local), '2001:db8::1');
  // X-Forwarded-For wins when both are there.
  assert.is(clientAddress('127.0.0.1', h({ forwarded: 'for=192.0.2.43', 'x-forwarded-for': '198.51.100.3' }), local), '198.51.100.3');
});

test('malformed headers are ignored: the peer stays the client, nothing throws', () => {
  const bad: Array<Record<string, string>> = [
    { 'x-forwarded-for': 'not-an-ip' },
    { 'x-forwarded-for': '198.51.100.1,, 10.0.0.1' },
    { 'x-forwarded-for': '' },
    { 'x-forwarded-for': '999.1.1.1' },
    { forwarded: 'for=[2001:db8::1]' }, // IPv6 must be quoted
    { forwarded: 'for=unknown' },
    { forwarded: 'for=_hidden' },
    { forwarded: 'for="192.0.2.1' },
    { forwarded: 'for=192.0.2.1;for=192.0.2.2' },
    { forwarded: 'for=192.0.2.1,' },
    { forwarded: '=x' },
    { forwarded: 'for=192.0.2.1 junk' },
    { forwarded: '\u0000\u00ff' },
  ];
  for (const headers of bad) assert.is(clientAddress('127.0.0.1', h(headers), local), '127.0.0.1', JSON.stringify(headers));
});

test.run();
