// Every access refusal of CONTRACT.md "Access control", with the bytes on the
// wire: the URL refusal, malformed credentials, 401/403/423/429 and their
// headers, and what a join with a credential answers (never the auth subprotocol).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MAX_WRONG } from '../../src/access/attempts';
import { destroyAllClients, RawClient } from '../helpers/raw-client';
import { startTestServer, type TestServer } from '../helpers/test-server';
import { attempt, jsonMember, rawMember, refusal, roomPathOf } from './support';

let ts: TestServer;
test.before(async () => {
  ts = await startTestServer();
});
test.after.each(() => destroyAllClients());
test.after(async () => {
  await ts.stop();
});

test('a query carrying secret, password or token is refused with 400, on rooms and on /echo', async () => {
  for (const param of ['secret', 'password', 'token', 'Token']) {
    const { client, response } = await RawClient.open(ts.port, { path: `${roomPathOf('url', 'ada')}&${param}=hunter2` });
    client.destroy();
    assert.is(response.status, 400, param);
    assert.is(response.body.toString('utf8'), 'credentials never go in the URL: send Authorization: Bearer CREDENTIAL or the rooms.auth. subprotocol\n');
  }
  const { client, response } = await RawClient.open(ts.port, { path: '/echo?token=x' });
  client.destroy();
  assert.is(response.status, 400);
  assert.is(ts.server.registry.get('url'), undefined, 'no room was created');
});

test('malformed credentials are refused with 400 and a reason that does not quote them', async () => {
  const basic = await refusal(ts.port, 'mal', 'ada', { headers: { Authorization: 'Basic aHVudGVyMg==' } });
  assert.equal([basic.status, basic.reason], [400, 'Authorization must be "Bearer CREDENTIAL" (one credential, no other scheme)']);
  const badB64 = await refusal(ts.port, 'mal', 'ada', { headers: { 'Sec-WebSocket-Protocol': 'rooms.v1.json, rooms.auth.a' } });
  assert.equal([badB64.status, badB64.reason], [400, 'the rooms.auth. subprotocol must carry base64url (no padding) of a UTF-8 credential']);
  const two = await refusal(ts.port, 'mal', 'ada', { bearer: 'one-secret', subprotocolCredential: 'another-secret' });
  assert.equal([two.status, two.reason], [400, 'two different credentials (Authorization header and rooms.auth. subprotocol)']);
  const twoOffers = await refusal(ts.port, 'mal', 'ada', { headers: { 'Sec-WebSocket-Protocol': 'rooms.auth.YQ, rooms.auth.Yg' } });
  assert.equal([twoOffers.status, twoOffers.reason], [400, 'offer at most one rooms.auth. subprotocol']);
  const long = await refusal(ts.port, 'mal', 'ada', { bearer: 'x'.repeat(257) });
  assert.equal([long.status, long.reason], [400, 'a room secret is 1-256 characters']);
  assert.is(ts.server.registry.get('mal'), undefined);
});

test('creating with a secret protects the room; the answer never names the auth subprotocol', async () => {
  const owner = await jsonMember(ts.port, 'vault', 'ada', { subprotocolCredential: 's3cret-vault' });
  assert.is(owner.welcome.protected, true);
  assert.is(owner.welcome.role, 'owner');
  assert.type(owner.welcome.ownerToken, 'string');
  assert.ok((owner.welcome.ownerToken as string).length >= 22 && (owner.welcome.ownerToken as string).length <= 256);

  // JSON with the secret in the subprotocol: the answer is rooms.v1.json, nothing else.
  const { client, response } = await attempt(ts.port, 'vault', 'bob', { json: true, subprotocolCredential: 's3cret-vault' });
  assert.is(response.status, 101);
  assert.is(response.headers.get('sec-websocket-protocol'), 'rooms.v1.json');
  for (const [name, value] of response.headers) assert.not.ok(value.includes('rooms.auth') || value.includes('s3cret'), name);
  const welcome = JSON.parse((await client.message()).payload.toString('utf8')) as Record<string, unknown>;
  assert.equal([welcome.protected, welcome.role, welcome.ownerToken], [true, 'member', undefined]);

  // Raw mode with the auth subprotocol alone: no protocol at all in the answer.
  const raw = await attempt(ts.port, 'vault', 'cy', { subprotocolCredential: 's3cret-vault' });
  assert.is(raw.response.status, 101);
  assert.is(raw.response.headers.get('sec-websocket-protocol'), undefined);

  // And with the header, as wscat -H does.
  const header = await attempt(ts.port, 'vault', 'dee', { bearer: 's3cret-vault' });
  assert.is(header.response.status, 101);
});

test('a protected room: 401 with WWW-Authenticate without a credential, 403 for a wrong one', async () => {
  await rawMember(ts.port, 'locked-box', 'ada', { bearer: 'right-one' });
  const none = await refusal(ts.port, 'locked-box', 'bob');
  assert.is(none.status, 401);
  assert.is(none.reason, 'this room is protected: give its secret as Authorization: Bearer SECRET or the rooms.auth. subprotocol');
  assert.is(none.headers.get('www-authenticate'), 'Bearer realm="rooms"');
  const wrong = await refusal(ts.port, 'locked-box', 'bob', { bearer: 'wrong-one' });
  assert.equal([wrong.status, wrong.reason], [403, 'wrong credential for this room']);
  const wrongJson = await refusal(ts.port, 'locked-box', 'bob', { json: true, subprotocolCredential: 'wrong-one' });
  assert.is(wrongJson.status, 403);
});

test('joining an unprotected room with a secret joins it; welcome.protected is false', async () => {
  await rawMember(ts.port, 'open-room', 'ada');
  const bob = await jsonMember(ts.port, 'open-room', 'bob', { bearer: 'protects-nothing' });
  assert.equal([bob.welcome.protected, bob.welcome.role, bob.welcome.members], [false, 'member', ['ada', 'bob']]);
  assert.is(ts.server.registry.get('open-room')!.access.secretHash, null, 'the secret did not protect the room after the fact');
});

test(`brute force: the ${MAX_WRONG + 1}th wrong credential is 429 for that room and address only`, async () => {
  const owner = await jsonMember(ts.port, 'bf', 'ada', { bearer: 'the-real-secret' });
  await rawMember(ts.port, 'bf-other', 'ada', { bearer: 'the-real-secret' });
  for (let i = 1; i <= MAX_WRONG; i++) assert.is((await refusal(ts.port, 'bf', 'eve', { bearer: `guess-${i}` })).status, 403, `guess ${i}`);
  const blocked = await refusal(ts.port, 'bf', 'eve', { bearer: 'guess-11' });
  assert.is(blocked.status, 429);
  assert.is(blocked.reason, 'too many wrong credentials for this room from your address; try again later');
  const retry = Number(blocked.headers.get('retry-after'));
  assert.ok(retry > 500 && retry <= 600, `Retry-After ${retry}`);
  // Blocked even with the right secret, from this address, for this room...
  assert.is((await refusal(ts.port, 'bf', 'eve', { bearer: 'the-real-secret' })).status, 429);
  assert.is((await refusal(ts.port, 'bf', 'eve')).status, 429);
  // The owner token cannot be guessed: it still passes from the blocked address.
  assert.is((await attempt(ts.port, 'bf', 'ada', { bearer: owner.welcome.ownerToken as string })).response.status, 101);
  // ...but another room from the same address is unaffected,
  assert.is((await refusal(ts.port, 'bf-other', 'eve', { bearer: 'guess' })).status, 403);
  assert.is((await attempt(ts.port, 'bf-other', 'eve', { bearer: 'the-real-secret' })).response.status, 101);
  // and so is another address for the same room (127.0.0.2 is loopback too).
  assert.is((await refusal(ts.port, 'bf', 'bob', { bearer: 'guess', localAddress: '127.0.0.2' })).status, 403);
  assert.is((await attempt(ts.port, 'bf', 'bob', { bearer: 'the-real-secret', localAddress: '127.0.0.2' })).response.status, 101);
});

test('a locked room refuses new joins with 423; the owner token passes the lock and the secret', async () => {
  const owner = await jsonMember(ts.port, 'lockme', 'ada', { bearer: 'lock-secret' });
  const ownerToken = owner.welcome.ownerToken as string;
  owner.send({ type: 'lock' });
  assert.equal(await owner.next(), { type: 'room', locked: true, protected: true });
  const raw = await refusal(ts.port, 'lockme', 'bob', { bearer: 'lock-secret' });
  assert.equal([raw.status, raw.reason], [423, 'the room is locked by its owner']);
  assert.is((await refusal(ts.port, 'lockme', 'bob')).status, 423);
  const again = await jsonMember(ts.port, 'lockme', 'ada', { subprotocolCredential: ownerToken });
  assert.equal([again.welcome.role, again.welcome.protected, again.welcome.ownerToken], ['owner', true, undefined]);
});

test('the owner token makes a reconnecting member the owner; it is not a secret', async () => {
  const owner = await jsonMember(ts.port, 'crown', 'ada');
  const ownerToken = owner.welcome.ownerToken as string;
  assert.is(owner.welcome.protected, false);
  const back = await jsonMember(ts.port, 'crown', 'ada2', { bearer: ownerToken });
  assert.is(back.welcome.role, 'owner');
  const member = await jsonMember(ts.port, 'crown', 'bob', { bearer: 'not-the-token' });
  assert.is(member.welcome.role, 'member');
});

test.run();
