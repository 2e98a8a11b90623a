import { deflateRawSync, constants } from 'node:zlib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseExtensionOffers } from '../../src/extensions/extension-header';
import { COMPRESS_THRESHOLD, InflateWindow, deflateMessage, negotiateDeflate } from '../../src/extensions/permessage-deflate';

// RFC 7692 section 7: every parameter combination, and each malformed offer.
const negotiation: Array<[string, string | null, { clientContextTakeover: boolean; serverMaxWindowBits: number } | null]> = [
  ['permessage-deflate', 'permessage-deflate; server_no_context_takeover', { clientContextTakeover: true, serverMaxWindowBits: 15 }],
  ['permessage-deflate; client_max_window_bits', 'permessage-deflate; server_no_context_takeover', { clientContextTakeover: true, serverMaxWindowBits: 15 }],
  ['permessage-deflate; client_max_window_bits=10', 'permessage-deflate; server_no_context_takeover', { clientContextTakeover: true, serverMaxWindowBits: 15 }],
  ['permessage-deflate; server_no_context_takeover', 'permessage-deflate; server_no_context_takeover', { clientContextTakeover: true, serverMaxWindowBits: 15 }],
  ['permessage-deflate; client_no_context_takeover', 'permessage-deflate; server_no_context_takeover; client_no_context_takeover', { clientContextTakeover: false, serverMaxWindowBits: 15 }],
  ['permessage-deflate; server_max_window_bits=10', 'permessage-deflate; server_no_context_takeover; server_max_window_bits=10', { clientContextTakeover: true, serverMaxWindowBits: 10 }],
  ['permessage-deflate; server_max_window_bits="12"', 'permessage-deflate; server_no_context_takeover; server_max_window_bits=12', { clientContextTakeover: true, serverMaxWindowBits: 12 }],
  ['permessage-deflate; server_max_window_bits=8', 'permessage-deflate; server_no_context_takeover; server_max_window_bits=8', { clientContextTakeover: true, serverMaxWindowBits: 8 }],
  [
    'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=9',
    'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9',
    { clientContextTakeover: false, serverMaxWindowBits: 9 },
  ],
  ['PerMessage-Deflate; Client_Max_Window_Bits', 'permessage-deflate; server_no_context_takeover', { clientContextTakeover: true, serverMaxWindowBits: 15 }],
  // malformed offers are declined
  ['permessage-deflate; server_max_window_bits', null, null],
  ['permessage-deflate; server_max_window_bits=7', null, null],
  ['permessage-deflate; server_max_window_bits=16', null, null],
  ['permessage-deflate; server_max_window_bits=010', null, null],
  ['permessage-deflate; client_max_window_bits=16', null, null],
  ['permessage-deflate; server_no_context_takeover=1', null, null],
  ['permessage-deflate; client_no_context_takeover=yes', null, null],
  ['permessage-deflate; unknown_param', null, null],
  ['permessage-deflate; server_no_context_takeover; server_no_context_takeover', null, null],
  ['permessage-deflate; server_max_window_bits=10; server_max_window_bits=11', null, null],
  ['permessage-deflate; server_max_window_bits="1 0"', null, null],
  ['x-webkit-deflate-frame', null, null],
  ['', null, null],
];
for (const [offer, response, params] of negotiation) {
  test(`offer ${JSON.stringify(offer)} -> ${response ?? 'declined'}`, () => {
    const result = negotiateDeflate(offer);
    assert.is(result?.response ?? null, response);
    assert.equal(result?.params ?? null, params);
  });
}

test('several offers: the first acceptable one wins; a bad one is skipped', () => {
  const result = negotiateDeflate('permessage-deflate; bogus, permessage-deflate; server_max_window_bits=11, permessage-deflate');
  assert.is(result?.params.serverMaxWindowBits, 11);
  const twoHeaders = negotiateDeflate('foo, bar; baz=1, permessage-deflate; client_no_context_takeover');
  assert.is(twoHeaders?.params.clientContextTakeover, false);
});

test('extension header grammar: quoted values and commas inside quotes', () => {
  assert.equal(parseExtensionOffers('a; b="x,y"; c, d'), [
    { name: 'a', params: [['b', 'x,y'], ['c', true]], malformed: true },
    { name: 'd', params: [], malformed: false },
  ]);
});

function clientCompress(text: string): Buffer {
  const out = deflateRawSync(Buffer.from(text), { finishFlush: constants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
}

test('7.2.2: inflate appends 00 00 ff ff and restores the message', () => {
  const w = new InflateWindow(false);
  const r = w.inflate(clientCompress('Hello'), 100);
  assert.ok(r.ok && r.payload.toString() === 'Hello');
  // The RFC's own example of "Hello" compressed: f2 48 cd c9 c9 07 00
  const rfc = w.inflate(Buffer.from([0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]), 100);
  assert.ok(rfc.ok && rfc.payload.toString() === 'Hello');
});

test('7.2.3.2: a message referring back to the previous one (context takeover) is inflated with the kept window', () => {
  const w = new InflateWindow(true);
  // The RFC's example: "Hello" twice with a shared sliding window.
  const first = w.inflate(Buffer.from([0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]), 100);
  const second = w.inflate(Buffer.from([0xf2, 0x00, 0x11, 0x00, 0x00]), 100);
  assert.ok(first.ok && second.ok && second.payload.toString() === 'Hello');
  assert.is(w.heldBytes, 10);
});

test('without context takeover no window is kept', () => {
  const w = new InflateWindow(false);
  w.inflate(clientCompress('x'.repeat(5000)), 10000);
  assert.is(w.heldBytes, 0);
});

test('a zip bomb stops at the message limit with 1009, before memory grows', () => {
  const bomb = clientCompress('\0'.repeat(50 << 20)); // 50 MiB of zeros, ~50 KB compressed
  assert.ok(bomb.length < 100_000);
  const before = process.memoryUsage().arrayBuffers;
  const r = new InflateWindow(true).inflate(bomb, 1 << 20);
  assert.equal(r, { ok: false, closeCode: 1009, reason: 'message over 1048576 bytes' });
  assert.ok(process.memoryUsage().arrayBuffers - before < 16 << 20, 'never near 50 MiB');
});

test('garbage deflate data is 1007', () => {
  const r = new InflateWindow(false).inflate(Buffer.from([0xff, 0xff, 0xff, 0xff]), 100);
  assert.is(r.ok ? 0 : r.closeCode, 1007);
});

test('deflateMessage output round-trips and ends without the 4-byte tail', () => {
  const text = 'a relayed message '.repeat(100);
  const out = deflateMessage(Buffer.from(text), 15)!;
  assert.ok(out.length < text.length);
  const r = new InflateWindow(false).inflate(out, 1 << 20);
  assert.ok(r.ok && r.payload.toString() === text);
  assert.is(deflateMessage(Buffer.from(text), 8), null, 'zlib cannot honour an 8-bit window: send plain');
  assert.ok(COMPRESS_THRESHOLD > 100);
});

test.run();
