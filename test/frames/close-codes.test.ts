import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildCloseBody, isValidWireCloseCode, parseCloseBody } from '../../src/frames/close-codes';
import { ProtocolError } from '../../src/frames/protocol-error';

test('7.4: the codes a peer may send', () => {
  const valid = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];
  const invalid = [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535];
  for (const code of valid) assert.ok(isValidWireCloseCode(code), `${code} is valid`);
  for (const code of invalid) assert.not.ok(isValidWireCloseCode(code), `${code} is invalid`);
});

test('5.5.1: an empty body means "no status" (1005)', () => {
  assert.equal(parseCloseBody(Buffer.alloc(0)), { code: 1005, reason: '' });
});

test('5.5.1: a 1-byte body is a protocol error', () => {
  const out = parseCloseBody(Buffer.from([0x03]));
  assert.instance(out, ProtocolError);
  assert.is((out as ProtocolError).closeCode, 1002);
});

test('code and reason are read; an invalid code is 1002; an invalid reason is 1007', () => {
  assert.equal(parseCloseBody(Buffer.from([0x03, 0xe8, 0x62, 0x79, 0x65])), { code: 1000, reason: 'bye' });
  assert.is((parseCloseBody(Buffer.from([0x03, 0xec])) as ProtocolError).closeCode, 1002); // 1004
  assert.is((parseCloseBody(Buffer.from([0x03, 0xe8, 0xff])) as ProtocolError).closeCode, 1007);
});

test('a built body holds the code and a reason cut to 123 bytes on a character boundary', () => {
  assert.equal(buildCloseBody(1000, 'ok'), Buffer.from([0x03, 0xe8, 0x6f, 0x6b]));
  const long = buildCloseBody(1001, '€'.repeat(60)); // 180 bytes of reason
  assert.ok(long.length <= 125);
  assert.is(long.length, 2 + 123);
  assert.equal(parseCloseBody(long), { code: 1001, reason: '€'.repeat(41) });
  assert.is(buildCloseBody(1005).length, 0);
});

test.run();
