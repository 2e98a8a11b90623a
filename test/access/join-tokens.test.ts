// Join tokens (JWT) on the wire: valid HS256 and ES256 tokens join; expired,
// not yet valid, tampered, alg none, algorithm confusion, wrong room, wrong name,
// missing exp, garbage and oversized tokens get the contract's 401/403 and never
// crash the server; REQUIRE_TOKEN=on; an owner-role token passes a lock and runs
// owner commands. Each case uses its own room: wrong tokens count as wrong
// credentials for the brute-force brake, per room and address.

import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { destroyAllClients, RawClient } from '../helpers/raw-client';
import { startTestServer, type TestServer } from '../helpers/test-server';
import { attempt, jsonMember, refusal } from './support';

const SECRET = 'join-token-secret-for-tests-0123456789-abcdef';
const HS_KEY = new TextEncoder().encode(SECRET);
const es = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const keyDir = mkdtempSync(join(tmpdir(), 'rooms-jwt-'));
const ES_PEM = join(keyDir, 'es256.pem');
writeFileSync(ES_PEM, es.publicKey.export({ type: 'spki', format: 'pem' }));

let hs: TestServer;
let esServer: TestServer;
let required: TestServer;
test.before(async () => {
  hs = await startTestServer({ joinTokenSecret: SECRET });
  esServer = await startTestServer({ joinTokenPublicKey: ES_PEM });
  required = await startTestServer({ joinTokenSecret: SECRET, requireToken: true });
});
test.after.each(() => destroyAllClients());
test.after(async () => {
  await Promise.all([hs.stop(), esServer.stop(), required.stop()]);
  rmSync(keyDir, { recursive: true, force: true });
});

const now = () => Math.floor(Date.now() / 1000);

async function hsToken(claims: Record<string, unknown>, options: { exp?: number | null; nbf?: number } = {}): Promise<string> {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuedAt();
  if (options.exp !== null) jwt.setExpirationTime(options.exp ?? now() + 300);
  if (options.nbf !== undefined) jwt.setNotBefore(options.nbf);
  return jwt.sign(HS_KEY);
}

function esToken(claims: Record<string, unknown>, key: KeyObject = es.privateKey): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'ES256' }).setExpirationTime(now() + 300).sign(key);
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

test('a valid HS256 token joins, by header and by subprotocol; the role claim decides member or owner', async () => {
  const creator = await jsonMember(hs.port, 'jwt-hs', 'ada', { bearer: await hsToken({ room: 'jwt-hs', name: 'ada' }) });
  assert.equal([creator.welcome.role, creator.welcome.protected], ['owner', false], 'the creator is the owner; a token protects nothing');
  const bob = await jsonMember(hs.port, 'jwt-hs', 'bob', { subprotocolCredential: await hsToken({ room: 'jwt-hs' }) });
  assert.is(bob.welcome.role, 'member');
  const owner = await jsonMember(hs.port, 'jwt-hs', 'boss', { bearer: await hsToken({ room: 'jwt-hs', role: 'owner' }) });
  assert.is(owner.welcome.role, 'owner');
});

test('a valid token admits to a protected room, not to a locked one unless its role is owner', async () => {
  const creator = await jsonMember(hs.port, 'jwt-vault', 'ada', { bearer: 'plain-room-secret' });
  assert.is(creator.welcome.protected, true);
  assert.is((await attempt(hs.port, 'jwt-vault', 'bob', { bearer: await hsToken({ room: 'jwt-vault' }) })).response.status, 101);
  creator.send({ type: 'lock' });
  await creator.nextOf('room');
  const member = await refusal(hs.port, 'jwt-vault', 'cy', { bearer: await hsToken({ room: 'jwt-vault', role: 'member' }) });
  assert.equal([member.status, member.reason], [423, 'the room is locked by its owner']);
  // The owner-role token passes the lock and can run owner commands.
  const boss = await jsonMember(hs.port, 'jwt-vault', 'boss', { bearer: await hsToken({ room: 'jwt-vault', role: 'owner' }) });
  assert.is(boss.welcome.role, 'owner');
  boss.send({ type: 'unlock' });
  assert.equal(await creator.nextOf('room'), { type: 'room', locked: false, protected: true });
  boss.send({ type: 'kick', name: 'ada' });
  assert.is((await creator.client.expectClose(4001)).reason, "removed by the room's owner");
});

test('bad tokens: 401 (malformed, forged, expired, not yet valid, alg none, missing exp, bad role), 403 (another room or name)', async () => {
  const good = await hsToken({ room: 'jwt-bad-1' });
  const [head, body, sig] = good.split('.') as [string, string, string];
  const flipped = `${sig.slice(0, -2)}${sig.at(-2) === 'A' ? 'B' : 'A'}${sig.at(-1)}`;
  const cases: Array<[string, string, string, number, string]> = [
    ['expired', 'jwt-bad-1', await hsToken({ room: 'jwt-bad-1' }, { exp: now() - 3600 }), 401, 'join token expired'],
    ['not yet valid', 'jwt-bad-2', await hsToken({ room: 'jwt-bad-2' }, { nbf: now() + 3600 }), 401, 'join token claims invalid (exp and room are required; nbf not reached?)'],
    ['tampered signature', 'jwt-bad-1', `${head}.${body}.${flipped}`, 401, 'join token not valid (malformed, bad signature or wrong algorithm)'],
    ['tampered payload', 'jwt-bad-3', `${head}.${b64({ room: 'jwt-bad-3', role: 'owner', exp: now() + 300 })}.${sig}`, 401, 'join token not valid (malformed, bad signature or wrong algorithm)'],
    ['alg none', 'jwt-bad-4', `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ room: 'jwt-bad-4', exp: now() + 300 })}.`, 401, 'join token not valid (malformed, bad signature or wrong algorithm)'],
    ['missing exp', 'jwt-bad-5', await hsToken({ room: 'jwt-bad-5' }, { exp: null }), 401, 'join token claims invalid (exp and room are required; nbf not reached?)'],
    ['missing room', 'jwt-bad-6', await hsToken({ name: 'eve' }), 401, 'join token claims invalid (exp and room are required; nbf not reached?)'],
    ['bad role', 'jwt-bad-7', await hsToken({ room: 'jwt-bad-7', role: 'admin' }), 401, 'join token role must be "member" or "owner"'],
    ['garbage', 'jwt-bad-8', 'eyJub3Q.aGluZw.anVzdA', 401, 'join token not valid (malformed, bad signature or wrong algorithm)'],
    ['oversized', 'jwt-bad-9', `${head}.${'A'.repeat(5000)}.${sig}`, 401, 'join token too long'],
    ['ES256 when HS256 is configured', 'jwt-bad-10', await esToken({ room: 'jwt-bad-10' }), 401, 'join token not valid (malformed, bad signature or wrong algorithm)'],
    ['another room', 'jwt-bad-11', await hsToken({ room: 'jwt-other' }), 403, 'join token is for another room'],
    ['another name', 'jwt-bad-12', await hsToken({ room: 'jwt-bad-12', name: 'ada' }), 403, 'join token is for another name'],
  ];
  for (const [what, room, token, status, reason] of cases) {
    const answer = await refusal(hs.port, room, 'eve', { bearer: token });
    assert.equal([answer.status, answer.reason], [status, reason], what);
    if (status === 401) assert.ok(answer.headers.get('www-authenticate')?.startsWith('Bearer'), `${what}: WWW-Authenticate`);
    assert.is(hs.server.registry.get(room), undefined, `${what}: no room created`);
  }
  // The same through the subprotocol, and the server is still serving.
  assert.is((await refusal(hs.port, 'jwt-bad-13', 'eve', { json: true, subprotocolCredential: cases[0]![2] })).status, 401);
  assert.is((await attempt(hs.port, 'jwt-bad-1', 'eve', { bearer: good })).response.status, 101);
});

test('ES256: a valid token joins; HS256 signed with the public key (algorithm confusion) and a foreign key are 401', async () => {
  const ok = await jsonMember(esServer.port, 'jwt-es', 'ada', { bearer: await esToken({ room: 'jwt-es', name: 'ada' }) });
  assert.is(ok.welcome.role, 'owner');
  const pem = es.publicKey.export({ type: 'spki', format: 'pem' });
  const confused = await new SignJWT({ room: 'jwt-es' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(now() + 300).sign(new TextEncoder().encode(String(pem)));
  const a = await refusal(esServer.port, 'jwt-es', 'eve', { bearer: confused });
  assert.equal([a.status, a.reason], [401, 'join token not valid (malformed, bad signature or wrong algorithm)']);
  const foreign = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  assert.is((await refusal(esServer.port, 'jwt-es', 'eve', { bearer: await esToken({ room: 'jwt-es' }, foreign.privateKey) })).status, 401);
  assert.is((await refusal(esServer.port, 'jwt-es', 'eve', { bearer: await hsToken({ room: 'jwt-es' }) })).status, 401);
});

test('RS256: a valid token joins with an RSA public key configured; an ES256 token does not', async () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pemPath = join(keyDir, 'rs256.pem');
  writeFileSync(pemPath, rsa.publicKey.export({ type: 'spki', format: 'pem' }));
  const rs = await startTestServer({ joinTokenPublicKey: pemPath });
  try {
    const token = await new SignJWT({ room: 'jwt-rs', role: 'owner' }).setProtectedHeader({ alg: 'RS256' }).setExpirationTime(now() + 300).sign(rsa.privateKey);
    const ok = await jsonMember(rs.port, 'jwt-rs', 'ada', { subprotocolCredential: token });
    assert.is(ok.welcome.role, 'owner');
    assert.is((await refusal(rs.port, 'jwt-rs', 'eve', { bearer: await esToken({ room: 'jwt-rs' }) })).status, 401);
  } finally {
    destroyAllClients();
    await rs.stop();
  }
});

test('REQUIRE_TOKEN=on: no credential and a secret alone are 401; a valid token joins; /echo is unaffected', async () => {
  const none = await refusal(required.port, 'req', 'ada');
  assert.equal([none.status, none.reason], [401, 'this server admits only with a valid join token (Authorization: Bearer JWT)']);
  assert.is(none.headers.get('www-authenticate'), 'Bearer realm="rooms"');
  const secret = await refusal(required.port, 'req', 'ada', { bearer: 'a-room-secret' });
  assert.equal([secret.status, secret.reason], [401, 'this server admits only with a valid join token']);
  const creator = await jsonMember(required.port, 'req', 'ada', { bearer: await hsToken({ room: 'req' }) });
  assert.is(creator.welcome.role, 'owner');
  // Even the owner token is not a join token here.
  assert.is((await refusal(required.port, 'req', 'ada', { bearer: creator.welcome.ownerToken as string })).status, 401);
  const echo = await RawClient.echo(required.port);
  echo.destroy();
});

test.run();
