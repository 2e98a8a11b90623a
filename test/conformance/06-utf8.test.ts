// Autobahn category 6, UTF-8 handling (RFC 6455 sections 5.6 and 8.1, RFC 3629):
// valid text is echoed however it is cut into frames; invalid text fails with
// 1007, and fails fast: as soon as the bytes received so far cannot be the start
// of valid UTF-8, even mid-frame or mid-message, before the rest is sent.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OP, RawClient, binary, cont, ping, text } from '../helpers/raw-client';
import { assertFrame, assertStillServing, expectFailure, expectMessage, useServer } from './support';

const server = useServer(test);

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const KOSME = hex('cebae1bdb9cf83cebcceb5'); // "κόσμε"

const VALID: Array<[string, Buffer]> = [
  ['empty', Buffer.alloc(0)],
  ['Hello-µ@ßöäüàá-UTF-8!!', Buffer.from('Hello-µ@ßöäüàá-UTF-8!!', 'utf8')],
  ['κόσμε', KOSME],
  ['U+0000', hex('00')],
  ['U+007F', hex('7f')],
  ['U+0080', hex('c280')],
  ['U+07FF', hex('dfbf')],
  ['U+0800', hex('e0a080')],
  ['U+D7FF (just below the surrogates)', hex('ed9fbf')],
  ['U+E000 (just above the surrogates)', hex('ee8080')],
  ['U+FFFD', hex('efbfbd')],
  ['U+FFFE (noncharacter, valid UTF-8)', hex('efbfbe')],
  ['U+FFFF', hex('efbfbf')],
  ['U+10000', hex('f0908080')],
  ['U+1F600 😀', hex('f09f9880')],
  ['U+10FFFF', hex('f48fbfbf')],
];

const INVALID: Array<[string, Buffer]> = [
  ['lone continuation 80', hex('80')],
  ['lone continuation BF', hex('bf')],
  ['continuations 80 BF 80', hex('80bf80')],
  ['C0 (always overlong) then space', hex('c020')],
  ['start of 2-byte sequence then space', hex('c220')],
  ['start of 3-byte sequence then space', hex('e020')],
  ['start of 4-byte sequence then space', hex('f020')],
  ['2-byte sequence missing its last byte', hex('df')],
  ['3-byte sequence missing its last byte', hex('efbf')],
  ['4-byte sequence missing its last byte', hex('f48fbf')],
  ['impossible byte FE', hex('fe')],
  ['impossible byte FF', hex('ff')],
  ['impossible bytes FE FE FF FF', hex('fefeffff')],
  ['overlong "/" in 2 bytes', hex('c0af')],
  ['overlong "/" in 3 bytes', hex('e080af')],
  ['overlong "/" in 4 bytes', hex('f08080af')],
  ['maximum overlong 2 bytes (U+007F)', hex('c1bf')],
  ['maximum overlong 3 bytes (U+07FF)', hex('e09fbf')],
  ['maximum overlong 4 bytes (U+FFFF)', hex('f08fbfbf')],
  ['overlong NUL in 2 bytes', hex('c080')],
  ['overlong NUL in 3 bytes', hex('e08080')],
  ['5-byte sequence', hex('f888808080')],
  ['6-byte sequence', hex('fc8480808080')],
  ['surrogate U+D800', hex('eda080')],
  ['surrogate U+DB7F', hex('edadbf')],
  ['surrogate U+DC00', hex('edb080')],
  ['surrogate U+DFFF', hex('edbfbf')],
  ['surrogate pair U+D800 U+DC00', hex('eda080edb080')],
  ['U+110000 (past U+10FFFF)', hex('f4908080')],
  ['F5 lead byte (past U+10FFFF)', hex('f5808080')],
  ['U+1FFFFF as F7 BF BF BF', hex('f7bfbfbf')],
  ['κόσμε then surrogate then "edited"', Buffer.concat([KOSME, hex('eda080'), Buffer.from('edited')])],
];

/** One frame per byte: the first a text frame, the rest continuations, the last with FIN. */
function bytePerFragment(payload: Buffer): Buffer {
  if (payload.length === 0) return text('');
  return Buffer.concat([...payload].map((byte, i) => (i === 0 ? text(Buffer.from([byte]), { fin: payload.length === 1 }) : cont(Buffer.from([byte]), { fin: i === payload.length - 1 }))));
}

for (const [name, bytes] of VALID) {
  const payload = Buffer.concat([Buffer.from('a'), bytes, Buffer.from('z')]);
  test(`6.x valid ${name}: echoed whole, in 1-byte chops, and one byte per fragment`, async () => {
    const client = await RawClient.echo(server.port);
    client.send(text(payload));
    assertFrame(await client.frame(), OP.text, payload, 'whole');
    await client.sendAll(text(payload), { chunkSize: 1, delayMs: 0 });
    assertFrame(await client.frame(), OP.text, payload, 'chopped');
    client.send(bytePerFragment(payload));
    await expectMessage(client, OP.text, payload, 'one byte per fragment');
    await client.closeCleanly();
  });
}

for (const [name, bytes] of INVALID) {
  const payload = Buffer.concat([Buffer.from('a'), bytes, Buffer.from('z')]);
  test(`6.x invalid ${name}: 1007 in one frame`, async () => {
    await expectFailure(server.port, text(payload), 1007);
  });
  test(`6.x invalid ${name}: 1007 one byte per fragment`, async () => {
    await expectFailure(server.port, bytePerFragment(payload), 1007);
  });
}

test('6.x a text message missing its last continuation byte at the very end fails with 1007', async () => {
  await expectFailure(server.port, text(hex('68656c6c6fe282')), 1007);
});

test('6.x invalid UTF-8 in a binary message is fine: it is echoed', async () => {
  const client = await RawClient.echo(server.port);
  client.send(binary(hex('fffeeda080c0af')));
  assertFrame(await client.frame(), OP.binary, hex('fffeeda080c0af'));
  await client.closeCleanly();
});

// --- Valid code points split across fragments (and across frames' TCP chops).

const SPLITS: Array<[string, Buffer[]]> = [
  ['€ as E2 | 82 AC', [hex('e2'), hex('82ac')]],
  ['€ as E2 82 | AC', [hex('e282'), hex('ac')]],
  ['😀 as F0 9F | 98 80', [hex('f09f'), hex('9880')]],
  ['😀 as F0 | 9F | 98 | 80', [hex('f0'), hex('9f'), hex('98'), hex('80')]],
  ['κόσμε cut in the middle of ό', [hex('cebae1'), hex('bdb9cf83cebcceb5')]],
  ['U+10FFFF as F4 8F | BF BF', [hex('f48f'), hex('bfbf')]],
];

for (const [name, parts] of SPLITS) {
  test(`6.x a valid code point split across fragments is accepted: ${name}`, async () => {
    const client = await RawClient.echo(server.port);
    client.send(Buffer.concat(parts.map((part, i) => (i === 0 ? text(part, { fin: parts.length === 1 }) : cont(part, { fin: i === parts.length - 1 })))));
    await expectMessage(client, OP.text, Buffer.concat(parts));
    await client.closeCleanly();
  });
}

test('6.x a code point left incomplete by the last fragment fails with 1007', async () => {
  await expectFailure(server.port, [text(hex('e282'), { fin: false }), cont('')], 1007);
});

// --- Fail fast (Autobahn 6.4): the close must come before the rest is sent.

test('6.4.1 fragment 1 valid, fragment 2 has U+110000: 1007 before fragment 3 is sent', async () => {
  const client = await RawClient.echo(server.port);
  client.send(text(KOSME, { fin: false }));
  client.send(ping('still open?'));
  assertFrame(await client.frame(), OP.pong, 'still open?', 'the valid first fragment did not fail the connection');
  client.send(cont(hex('f4908080'), { fin: false }));
  const result = await client.expectClose(1007);
  assert.is(result.before.length, 0);
  client.send(cont('edited'));
  await client.waitForEnd();
});

test('6.4.2 fragment 1 ends with F4, fragment 2 is 90: 1007 before fragment 3 is sent', async () => {
  const client = await RawClient.echo(server.port);
  client.send(text(Buffer.concat([KOSME, hex('f4')]), { fin: false }));
  client.send(ping('still open?'));
  assertFrame(await client.frame(), OP.pong, 'still open?', 'F4 alone may still become valid');
  client.send(cont(hex('90'), { fin: false }));
  await client.expectClose(1007);
  client.send(cont(Buffer.concat([hex('8080'), Buffer.from('edited')])));
  await client.waitForEnd();
});

test('6.x an invalid byte in the first fragment closes with 1007 before the rest is sent', async () => {
  const client = await RawClient.echo(server.port);
  client.send(text(Buffer.concat([Buffer.from('abc'), hex('ff')]), { fin: false }));
  await client.expectClose(1007);
  client.send(cont('the rest'));
  await client.waitForEnd();
});

/** A text frame of `payload`, to be sent in the pieces given by `cuts` (offsets into the payload). */
function frameInChops(payload: Buffer, cuts: number[]): Buffer[] {
  const bytes = text(payload);
  const headerLength = bytes.length - payload.length;
  const points = [0, ...cuts.map((c) => headerLength + c), bytes.length];
  return points.slice(1).map((end, i) => bytes.subarray(points[i], end));
}

test('6.4.3 one frame in chops: "κόσμε" | F4 90 80 80 | "edited": 1007 after the 2nd chop, before the 3rd', async () => {
  const payload = Buffer.concat([KOSME, hex('f4908080'), Buffer.from('edited')]);
  const [first, second, third] = frameInChops(payload, [KOSME.length, KOSME.length + 4]);
  const client = await RawClient.echo(server.port);
  client.send(first!);
  client.send(second!);
  await client.expectClose(1007);
  client.send(third!);
  await client.waitForEnd();
});

test('6.4.4 one frame in chops: "κόσμε" F4 | 90 | rest: 1007 after the 90, before the rest', async () => {
  const payload = Buffer.concat([KOSME, hex('f4908080'), Buffer.from('edited')]);
  const [first, second, third] = frameInChops(payload, [KOSME.length + 1, KOSME.length + 2]);
  const client = await RawClient.echo(server.port);
  client.send(first!);
  client.send(second!);
  await client.expectClose(1007);
  client.send(third!);
  await client.waitForEnd();
});

test('6.x a 100000-byte text frame with an invalid byte at offset 10 closes with 1007 before the rest is sent', async () => {
  const payload = Buffer.alloc(100_000, 0x61);
  payload[10] = 0xff;
  const [first, rest] = frameInChops(payload, [11]);
  const client = await RawClient.echo(server.port);
  client.send(first!);
  await client.expectClose(1007);
  client.send(rest!);
  await client.waitForEnd();
});

test('6.x the same frame sent one byte at a time: the close comes right after the invalid byte', async () => {
  const payload = Buffer.concat([Buffer.from('valid prefix '), hex('c0'), Buffer.from('never sent')]);
  const bytes = text(payload);
  const headerLength = bytes.length - payload.length;
  const invalidAt = headerLength + 'valid prefix '.length;
  const client = await RawClient.echo(server.port);
  await client.sendAll(bytes.subarray(0, invalidAt), { chunkSize: 1, delayMs: 1 });
  assert.is(client.pending, 0, 'no answer to the valid prefix');
  assert.not.ok(client.ended, 'still open after the valid prefix');
  client.send(bytes.subarray(invalidAt, invalidAt + 1));
  await client.expectClose(1007);
  await client.sendAll(bytes.subarray(invalidAt + 1), { chunkSize: 1, delayMs: 0 });
  await client.waitForEnd();
});

test('6.x fail fast inside a continuation frame sent in chops: 1007 after the invalid chop, before the rest', async () => {
  const client = await RawClient.echo(server.port);
  client.send(text(KOSME, { fin: false }));
  const payload = Buffer.concat([Buffer.from('valid '), hex('ed'), hex('a0'), Buffer.from(' never sent')]);
  const continuation = cont(payload);
  const headerLength = continuation.length - payload.length;
  client.send(continuation.subarray(0, headerLength + 7)); // up to and including ED: still possibly valid
  client.send(continuation.subarray(headerLength + 7, headerLength + 8)); // A0 after ED: a surrogate
  await client.expectClose(1007);
  client.send(continuation.subarray(headerLength + 8));
  await client.waitForEnd();
});

test('6.x a ping between fragments does not disturb a code point split across them', async () => {
  const client = await RawClient.echo(server.port);
  client.send(Buffer.concat([text(hex('41e2'), { fin: false }), ping('mid code point'), cont(hex('82ac42'))]));
  assertFrame(await client.frame(), OP.pong, 'mid code point');
  await expectMessage(client, OP.text, hex('41e282ac42'));
  await client.closeCleanly();
});

test('the server keeps serving after category 6', async () => {
  await assertStillServing(server);
});

test.run();
