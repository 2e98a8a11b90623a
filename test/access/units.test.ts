// The pure parts of src/access: credential extraction and classification, the
// brute-force windows, the bounded scrypt hasher, owner tokens, owner-command
// parsing and the tracer's redaction rule.

import * as fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MAX_WRONG, WINDOW_MS, WrongAttempts } from '../../src/access/attempts';
import { decodeBase64Url, extractCredential, looksLikeJwt, queryCarriesCredential, rawQueryCarriesCredential } from '../../src/access/credentials';
import { parseOwnerCommand } from '../../src/access/owner-commands';
import { hashOwnerToken, newOwnerToken, ownerTokenMatches } from '../../src/access/owner-token';
import { SecretHasher, secretLengthOk } from '../../src/access/secret-hash';
import { traceMayShowPayload } from '../../src/access/trace-redaction';

test('credentials: Bearer header, rooms.auth. offer, both equal, neither', () => {
  assert.equal(extractCredential('Bearer abc', []), { ok: true, credential: 'abc' });
  assert.equal(extractCredential('bearer   abc ', []), { ok: true, credential: 'abc' });
  assert.equal(extractCredential(undefined, ['rooms.v1.json', `rooms.auth.${Buffer.from('s ✓').toString('base64url')}`]), { ok: true, credential: 's ✓' });
  assert.equal(extractCredential('Bearer abc', ['rooms.auth.YWJj']), { ok: true, credential: 'abc' });
  assert.equal(extractCredential(undefined, ['rooms.v1.json']), { ok: true, credential: null });
  assert.not.ok(extractCredential('Basic abc', []).ok);
  assert.not.ok(extractCredential('Bearer a b', []).ok);
  assert.not.ok(extractCredential('Bearer abc', ['rooms.auth.YWJk']).ok);
  assert.not.ok(extractCredential(undefined, ['rooms.auth.']).ok);
  assert.not.ok(extractCredential(`Bearer ${"x".repeat(20000)}`, []).ok);
});

test('base64url: no padding, valid UTF-8 only', () => {
  assert.is(decodeBase64Url('YWJj'), 'abc');
  assert.is(decodeBase64Url('YWJj='), null);
  assert.is(decodeBase64Url('YW+j'), null);
  assert.is(decodeBase64Url('_w'), null, '0xff is not UTF-8');
  assert.is(decodeBase64Url('a'), null);
});

test('URL credentials are found in parsed and raw queries, any case', () => {
  assert.ok(queryCarriesCredential(new Map([['Secret', ['x']]])));
  assert.not.ok(queryCarriesCredential(new Map([['room', ['x']]])));
  assert.ok(rawQueryCarriesCredential('room=a&password=b'));
  assert.ok(rawQueryCarriesCredential('to%6Ben=b'));
  assert.ok(rawQueryCarriesCredential('token'));
  assert.not.ok(rawQueryCarriesCredential('room=token&name=secret'));
  assert.not.ok(rawQueryCarriesCredential('%zz=1'));
});

test('JWT shape: three base64url parts', () => {
  assert.ok(looksLikeJwt('eyJh.eyJz.c2ln'));
  assert.ok(looksLikeJwt('eyJh.eyJz.'));
  assert.not.ok(looksLikeJwt('a.b'));
  assert.not.ok(looksLikeJwt('my.secret.has spaces'));
  assert.not.ok(looksLikeJwt(newOwnerToken().token));
});

test(`wrong attempts: the ${MAX_WRONG + 1}th in a window blocks the pair until the window passes`, () => {
  const attempts = new WrongAttempts(3);
  for (let i = 1; i <= MAX_WRONG; i++) assert.not.ok(attempts.recordWrong('r', 'a', 1000 + i));
  assert.is(attempts.blockedFor('r', 'a', 2000), 0);
  assert.ok(attempts.recordWrong('r', 'a', 2000));
  assert.is(attempts.blockedFor('r', 'a', 2000), Math.ceil((1001 + WINDOW_MS - 2000) / 1000));
  assert.is(attempts.blockedFor('r', 'b', 2000), 0);
  assert.is(attempts.blockedFor('s', 'a', 2000), 0);
  assert.is(attempts.blockedFor('r', 'a', 1001 + WINDOW_MS), 0);
  // bounded: a fourth pair pushes the oldest out
  attempts.recordWrong('x', 'a', 3000);
  attempts.recordWrong('y', 'a', 3000);
  attempts.recordWrong('z', 'a', 3000);
  assert.is(attempts.size, 3);
  attempts.sweep(3000 + WINDOW_MS);
  assert.is(attempts.size, 0);
});

test('secret hasher: a salted scrypt hash with its parameters; verify; refuses when its queue is full', async () => {
  const hasher = new SecretHasher(1, 1, { N: 1024, r: 8, p: 1 });
  const a = await hasher.hash('hunter2');
  const b = await hasher.hash('hunter2');
  assert.ok(a.ok && b.ok);
  if (!a.ok || !b.ok) return;
  assert.match(a.hash, /^scrypt\$1024\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
  assert.is.not(a.hash, b.hash, 'salted');
  assert.not.ok(a.hash.includes('hunter2'));
  assert.is(await hasher.verify('hunter2', a.hash), 'match');
  assert.is(await hasher.verify('hunter3', a.hash), 'mismatch');
  assert.is(await hasher.verify('hunter2', 'garbage'), 'mismatch');
  // one running, one waiting, the third refused
  const running = [hasher.verify('x', a.hash), hasher.verify('y', a.hash)];
  assert.is(await hasher.verify('z', a.hash), 'busy');
  assert.equal(await Promise.all(running), ['mismatch', 'mismatch']);
  assert.equal(hasher.load, { inFlight: 0, queued: 0 });
  assert.ok(secretLengthOk('x') && secretLengthOk('✓'.repeat(256)));
  assert.not.ok(secretLengthOk('') || secretLengthOk('x'.repeat(257)));
});

test('owner tokens: 256 random bits, only the SHA-256 kept, compared in constant time', () => {
  const { token, hash } = newOwnerToken();
  assert.is(Buffer.from(token, 'base64url').length, 32);
  assert.is(hash, hashOwnerToken(token));
  assert.ok(ownerTokenMatches(token, hash));
  assert.not.ok(ownerTokenMatches(`${token}x`, hash));
  assert.not.ok(ownerTokenMatches(token, null));
  assert.not.ok(ownerTokenMatches(token, 'short'));
});

test('owner commands: parsed, or null for other frames', () => {
  assert.equal(parseOwnerCommand('{"type":"kick","name":"bob"}'), { ok: true, command: { type: 'kick', name: 'bob' } });
  assert.equal(parseOwnerCommand('{"type":"lock"}'), { ok: true, command: { type: 'lock' } });
  assert.equal(parseOwnerCommand('{"type":"set_secret","secret":null}'), { ok: true, command: { type: 'set_secret', secret: null } });
  assert.is(parseOwnerCommand('{"type":"set_secret","secret":5}')?.ok, false);
  assert.is(parseOwnerCommand('{"type":"kick"}')?.ok, false);
  assert.is(parseOwnerCommand('{"type":"dance"}'), null);
  assert.is(parseOwnerCommand('not json'), null);
  assert.is(parseOwnerCommand('[1]'), null);
});

test('tracer: a JSON member frame other than a message, and every continuation, is not shown', () => {
  const bytes = (s: string) => Buffer.from(s);
  assert.ok(traceMayShowPayload('json', 1, bytes('{"type":"message","text":"hi"}')));
  assert.not.ok(traceMayShowPayload('json', 1, bytes('{"secret":"s","type":"set_secret"}')));
  assert.not.ok(traceMayShowPayload('json', 0, bytes('anything')));
  assert.ok(traceMayShowPayload('raw', 1, bytes('{"secret":"s"}')));
  assert.ok(traceMayShowPayload('echo', 0, bytes('x')));
});

test('any Authorization value and any offers: never a throw, and a credential only from Bearer or rooms.auth.', () => {
  fc.assert(
    fc.property(fc.option(fc.string({ unit: 'binary' }), { nil: undefined }), fc.array(fc.string()), (authorization, offers) => {
      const result = extractCredential(authorization, offers);
      if (result.ok && result.credential !== null) assert.ok(/bearer/i.test(authorization ?? '') || offers.some((o) => o.startsWith('rooms.auth.')));
    }),
    { numRuns: 2000 },
  );
});

test.run();
