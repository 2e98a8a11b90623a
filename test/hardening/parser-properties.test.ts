// Property-based fuzzing (issue 6) at the level the server actually runs: whole
// conversations through the sans-I/O WebSocketConnection (frame parser, message
// assembler, close and ping rules together) and request heads through the HTTP
// parser and the upgrade decision. The frame- and head-level properties live in
// test/frames and test/handshake; these add:
// - any chunking of a generated conversation (fragmented messages, interleaved
//   pings, a close, or garbage somewhere) gives the same messages, the same bytes
//   written and the same ending;
// - encoder -> connection round-trips every message, however fragmented;
// - arbitrary bytes never throw, always stop, and never leave more buffered than
//   MAX_MESSAGE_BYTES plus one frame header;
// - a request head: any chunking gives the same decision, and arbitrary bytes cost
//   no more than MAX_HEADER_BYTES plus the chunk being read.

import * as fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WebSocketConnection } from '../../src/connection/websocket-connection';
import { buildCloseBody } from '../../src/frames/close-codes';
import { encodeFrame } from '../../src/frames/frame-encoder';
import { HttpRequestParser } from '../../src/handshake/http-request-parser';
import { decideRequest } from '../../src/handshake/upgrade-request';

const MAX_MESSAGE = 2048;
const MAX_HEADER = 14; // 2 + 8 (64-bit length) + 4 (mask)

interface Outcome {
  messages: Array<{ opcode: number; payload: string }>;
  written: string;
  shutdowns: number;
  state: string;
  closeCode: number | null;
  endedBy: string | null;
  /** the largest bufferedBytes seen after a chunk */
  maxBuffered: number;
}

function converse(chunks: readonly Buffer[]): Outcome {
  const messages: Outcome['messages'] = [];
  const written: Buffer[] = [];
  let shutdowns = 0;
  const conn = new WebSocketConnection(
    {
      write: (bytes) => void written.push(bytes),
      message: (m) => void messages.push({ opcode: m.opcode, payload: m.payload.toString('hex') }),
      shutdown: () => void shutdowns++,
    },
    { maxMessageBytes: MAX_MESSAGE },
  );
  let maxBuffered = 0;
  for (const chunk of chunks) {
    conn.receive(chunk);
    maxBuffered = Math.max(maxBuffered, conn.bufferedBytes);
  }
  return { messages, written: Buffer.concat(written).toString('hex'), shutdowns, state: conn.state, closeCode: conn.closeCode, endedBy: conn.endedBy, maxBuffered };
}

function chunked(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let last = 0;
  for (const p of points) {
    out.push(bytes.subarray(last, p));
    last = p;
  }
  out.push(bytes.subarray(last));
  return out;
}

/** Copies, because the parser unmasks received bytes in place. */
const fresh = (chunks: readonly Buffer[]): Buffer[] => chunks.map((c) => Buffer.from(c));

// A conversation: messages, each split in fragments with control frames between them, then maybe a close.
const controlFrame = fc.oneof(
  fc.uint8Array({ maxLength: 125 }).map((p) => ({ opcode: 0x9, payload: Buffer.from(p) })),
  fc.uint8Array({ maxLength: 125 }).map((p) => ({ opcode: 0xa, payload: Buffer.from(p) })),
);
const message = fc.record({
  opcode: fc.constantFrom(0x1, 0x2),
  text: fc.string({ unit: 'grapheme', maxLength: 300 }),
  bytes: fc.uint8Array({ maxLength: 600 }),
  cuts: fc.array(fc.nat(), { maxLength: 5 }),
  controls: fc.array(fc.option(controlFrame, { nil: null }), { maxLength: 5 }),
});
const ending = fc.oneof(
  fc.constant(null),
  fc.record({ code: fc.constantFrom(1000, 1001, 1003, 3000, 4999), reason: fc.string({ maxLength: 40 }) }),
);

interface Script {
  bytes: Buffer;
  expected: Array<{ opcode: number; payload: string }>;
  closes: boolean;
}

interface MessageSpec {
  opcode: number;
  text: string;
  bytes: Uint8Array;
  cuts: number[];
  controls: Array<{ opcode: number; payload: Buffer } | null>;
}

function encodeScript(messages: readonly MessageSpec[], end: { code: number; reason: string } | null): Script {
  const frames: Buffer[] = [];
  const expected: Script['expected'] = [];
  for (const m of messages) {
    const payload = m.opcode === 0x1 ? Buffer.from(m.text, 'utf8') : Buffer.from(m.bytes);
    expected.push({ opcode: m.opcode, payload: payload.toString('hex') });
    const parts = chunked(payload, m.cuts);
    parts.forEach((part, i) => {
      frames.push(encodeFrame(i === 0 ? m.opcode : 0x0, part, { fin: i === parts.length - 1, mask: true }));
      const control = m.controls[i];
      if (control && i < parts.length - 1) frames.push(encodeFrame(control.opcode, control.payload, { mask: true }));
    });
  }
  if (end) frames.push(encodeFrame(0x8, buildCloseBody(end.code, end.reason.slice(0, 40)), { mask: true }));
  return { bytes: Buffer.concat(frames), expected, closes: end !== null };
}

test('property: encoder -> connection round-trips fragmented messages with pings between the fragments', () => {
  fc.assert(
    fc.property(fc.array(message, { maxLength: 6 }), ending, fc.array(fc.nat(), { maxLength: 20 }), (messages, end, cuts) => {
      const script = encodeScript(messages, end);
      const r = converse(chunked(script.bytes, cuts));
      // Messages over the limit are refused (1009); otherwise every one arrives, whole, in order.
      const fits = script.expected.every((m) => m.payload.length / 2 <= MAX_MESSAGE);
      if (!fits) {
        assert.is(r.closeCode, 1009);
        return;
      }
      assert.equal(r.messages, script.expected);
      if (script.closes) {
        assert.is(r.state, 'closed');
        assert.is(r.endedBy, 'peer');
        assert.is(r.shutdowns, 1);
      } else {
        assert.is(r.state, 'open');
        assert.is(r.shutdowns, 0);
      }
    }),
    { numRuns: 300 },
  );
});

test('property: any chunking of a conversation, garbage included, gives the same outcome', () => {
  fc.assert(
    fc.property(
      fc.array(message, { maxLength: 4 }),
      ending,
      fc.option(fc.record({ at: fc.nat(), junk: fc.uint8Array({ minLength: 1, maxLength: 40 }) }), { nil: null }),
      fc.array(fc.nat(), { maxLength: 30 }),
      (messages, end, garbage, cuts) => {
        let bytes = encodeScript(messages, end).bytes;
        if (garbage) {
          const at = garbage.at % (bytes.length + 1);
          bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(garbage.junk), bytes.subarray(at)]);
        }
        const whole = converse(fresh([bytes]));
        const pieces = converse(fresh(chunked(bytes, cuts)));
        const byteByByte = converse(fresh(Array.from(bytes, (b) => Buffer.from([b]))));
        const comparable = (o: Outcome) => ({ ...o, maxBuffered: 0 });
        assert.equal(comparable(pieces), comparable(whole));
        assert.equal(comparable(byteByByte), comparable(whole));
        if (whole.closeCode !== null && whole.endedBy !== 'peer') assert.ok([1002, 1007, 1009].includes(whole.closeCode), `close ${whole.closeCode}`);
      },
    ),
    { numRuns: 300 },
  );
});

test('property: arbitrary bytes never throw and never leave more than MAX_MESSAGE_BYTES + a header buffered', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 6000 }), fc.array(fc.nat(), { maxLength: 40 }), (raw, cuts) => {
      const r = converse(chunked(Buffer.from(raw), cuts));
      assert.ok(r.maxBuffered <= MAX_MESSAGE + MAX_HEADER, `buffered ${r.maxBuffered}`);
      assert.ok(r.shutdowns <= 1);
      if (r.endedBy === 'protocol-error') assert.ok([1002, 1007, 1009].includes(r.closeCode!));
    }),
    { numRuns: 500 },
  );
});

test('property: a frame header with any declared length is answered from the header alone (nothing buffered past the limit)', () => {
  fc.assert(
    fc.property(fc.constantFrom(0x1, 0x2), fc.bigInt({ min: BigInt(MAX_MESSAGE + 1), max: 2n ** 63n - 1n }), fc.uint8Array({ maxLength: 3000 }), (opcode, length, tail) => {
      const header = Buffer.alloc(14);
      header[0] = 0x80 | opcode;
      header[1] = 0x80 | 127;
      header.writeBigUInt64BE(length, 2);
      header.set([1, 2, 3, 4], 10);
      const r = converse([header, Buffer.from(tail)]);
      assert.is(r.closeCode, 1009);
      assert.is(r.endedBy, 'protocol-error');
      assert.is(r.maxBuffered, 0);
    }),
    { numRuns: 200 },
  );
});

// --- request heads

const headerName = fc.constantFrom('Host', 'host', 'HOST', 'Upgrade', 'Connection', 'Sec-WebSocket-Key', 'Sec-WebSocket-Version', 'Origin', 'X-Anything', 'Sec-WebSocket-Protocol', 'User-Agent');
const headerValue = fc.oneof(fc.constantFrom('websocket', 'Upgrade', 'keep-alive, Upgrade', '13', '8', 'dGhlIHNhbXBsZSBub25jZQ==', 'rooms.v1.json', 'http://127.0.0.1:8080', '127.0.0.1:8080'), fc.string({ maxLength: 30 }));
const requestHead = fc.record({
  target: fc.oneof(fc.constantFrom('/?room=ops&name=ann', '/echo', '/', '/healthz', '/?room=&name=x', '/?room=a%zz'), fc.string({ maxLength: 40 }).map((s) => `/?${s}`)),
  headers: fc.array(fc.tuple(headerName, headerValue), { maxLength: 10 }),
});

test('property: any chunking of a request head gives the same decision', () => {
  fc.assert(
    fc.property(requestHead, fc.array(fc.nat(), { maxLength: 20 }), ({ target, headers }, cuts) => {
      const text = `GET ${target} HTTP/1.1\r\n${headers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`;
      const bytes = Buffer.from(text, 'utf8');
      const decide = (chunks: readonly Buffer[]) => {
        const parser = new HttpRequestParser(8192);
        for (const chunk of chunks) {
          const r = parser.push(chunk);
          if (r.kind === 'error') return { kind: 'error', status: r.status, reason: r.reason };
          if (r.kind === 'head') {
            const d = decideRequest(r.head, { echoEnabled: true, allowedOrigins: [] });
            return d.kind === 'refuse' ? { kind: 'refuse', status: d.response.status, why: d.why } : d.kind === 'http' ? { kind: 'http', path: d.path } : { kind: 'upgrade', room: d.room, name: d.name, protocol: d.protocol };
          }
        }
        return { kind: 'need-more' };
      };
      assert.equal(decide(chunked(bytes, cuts)), decide([bytes]));
    }),
    { numRuns: 400 },
  );
});

test('property: arbitrary bytes cost the head parser at most MAX_HEADER_BYTES plus the chunk being read', () => {
  const limit = 512;
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 3000 }), fc.array(fc.nat(), { maxLength: 30 }), (raw, cuts) => {
      const parser = new HttpRequestParser(limit);
      let seen = 0;
      for (const chunk of chunked(Buffer.from(raw), cuts)) {
        const r = parser.push(chunk);
        seen += chunk.length;
        if (r.kind !== 'need-more') {
          if (r.kind === 'error') assert.ok([400, 431, 505].includes(r.status));
          return;
        }
        // Still waiting: then everything held fits the limit (plus this chunk, which tipped nothing).
        assert.ok(seen <= limit, `still waiting after ${seen} bytes with a ${limit}-byte limit`);
      }
    }),
    { numRuns: 500 },
  );
});

test.run();
