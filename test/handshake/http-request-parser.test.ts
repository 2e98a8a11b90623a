import * as fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HttpRequestParser, type HeadParse } from '../../src/handshake/http-request-parser';

const request = 'GET /?room=demo&name=ada HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';

function feed(chunks: Buffer[], max = 8192): HeadParse {
  const parser = new HttpRequestParser(max);
  let last: HeadParse = { kind: 'need-more' };
  for (const chunk of chunks) {
    last = parser.push(chunk);
    if (last.kind !== 'need-more') return last;
  }
  return last;
}

test('a whole request head is parsed, names lower-cased', () => {
  const r = feed([Buffer.from(request)]);
  assert.is(r.kind, 'head');
  if (r.kind !== 'head') return;
  assert.is(r.head.method, 'GET');
  assert.is(r.head.target, '/?room=demo&name=ada');
  assert.is(r.head.version, '1.1');
  assert.is(r.head.headers.get('sec-websocket-key'), 'dGhlIHNhbXBsZSBub25jZQ==');
  assert.is(r.rest.length, 0);
});

test('one byte at a time gives the same head', () => {
  const r = feed([...Buffer.from(request)].map((b) => Buffer.from([b])));
  assert.is(r.kind, 'head');
  if (r.kind === 'head') assert.is(r.head.headers.get('upgrade'), 'websocket');
});

test('bytes after the head (a first frame in the same packet) are kept', () => {
  const frame = Buffer.from([0x81, 0x80, 1, 2, 3, 4]);
  const r = feed([Buffer.concat([Buffer.from(request), frame])]);
  assert.ok(r.kind === 'head' && r.rest.equals(frame));
});

test('property: any chunking gives the same head and rest', () => {
  const bytes = Buffer.concat([Buffer.from(request), Buffer.from('trailing')]);
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 40 }), (size) => {
      const chunks: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
      // What the parser did not consume arrives later as ordinary chunks.
      const parser = new HttpRequestParser(8192);
      let rest: Buffer | null = null;
      const later: Buffer[] = [];
      for (const chunk of chunks) {
        if (rest !== null) later.push(chunk);
        else {
          const r = parser.push(chunk);
          if (r.kind === 'head') rest = r.rest;
          else assert.is(r.kind, 'need-more');
        }
      }
      assert.is(Buffer.concat([rest ?? Buffer.alloc(0), ...later]).toString(), 'trailing');
    }),
  );
});

test('property: arbitrary bytes never throw', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
      const r = feed([Buffer.from(bytes)], 256);
      assert.ok(['need-more', 'head', 'error'].includes(r.kind));
    }),
    { numRuns: 500 },
  );
});

test('bare LF line endings are accepted (RFC 9112 section 2.2)', () => {
  const r = feed([Buffer.from('GET /healthz HTTP/1.1\nHost: x\n\n')]);
  assert.ok(r.kind === 'head' && r.head.headers.get('host') === 'x');
});

test('repeated fields are joined with a comma', () => {
  const r = feed([Buffer.from('GET / HTTP/1.1\r\nSec-WebSocket-Protocol: a\r\nSec-WebSocket-Protocol: b\r\n\r\n')]);
  assert.ok(r.kind === 'head' && r.head.headers.get('sec-websocket-protocol') === 'a, b');
});

test('a head over the limit is 431, even before it ends', () => {
  const big = `GET / HTTP/1.1\r\nX-Filler: ${'a'.repeat(300)}`;
  assert.equal(feed([Buffer.from(big)], 256), { kind: 'error', status: 431, reason: 'request head over 256 bytes' });
});

const malformed: Array<[string, string, number]> = [
  ['garbage request line', 'HELLO\r\n\r\n', 400],
  ['missing version', 'GET /\r\n\r\n', 400],
  ['HTTP/2 preface-ish', 'GET / HTTP/2.0\r\n\r\n', 505],
  ['header without colon', 'GET / HTTP/1.1\r\nHost\r\n\r\n', 400],
  ['space before colon', 'GET / HTTP/1.1\r\nHost : x\r\n\r\n', 400],
  ['obsolete line folding', 'GET / HTTP/1.1\r\nX-A: 1\r\n  2\r\n\r\n', 400],
  ['control character in a value', 'GET / HTTP/1.1\r\nX-A: a\x01b\r\n\r\n', 400],
];
for (const [name, text, status] of malformed) {
  test(`${name} -> ${status}`, () => {
    const r = feed([Buffer.from(text, 'latin1')]);
    assert.is(r.kind, 'error');
    if (r.kind === 'error') assert.is(r.status, status);
  });
}

test.run();
