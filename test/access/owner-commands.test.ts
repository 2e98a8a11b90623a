// The owner's commands (kick, lock, unlock, set_secret, close_room) by the owner
// and by anyone else, against JSON and raw members; the admin's DELETE; and
// /admin/rooms listing protected and locked.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { storedText } from '../helpers/file-store-contents';
import { destroyAllClients } from '../helpers/raw-client';
import { startTestServer, waitUntil, type TestServer } from '../helpers/test-server';
import { attempt, jsonMember, rawMember, refusal } from './support';

const ADMIN = 'admin-token-for-tests-0123456789';
let ts: TestServer;
test.before(async () => {
  ts = await startTestServer({ adminToken: ADMIN });
});
test.after.each(() => destroyAllClients());
test.after(async () => {
  await ts.stop();
});

const storedFile = (): string => storedText(ts.dataDir);
const http = (path: string, init: RequestInit = {}) => fetch(`http://127.0.0.1:${ts.port}${path}`, init);

test('every owner command from a member is forbidden, and the member stays connected', async () => {
  const owner = await jsonMember(ts.port, 'cmds', 'ada');
  const bob = await jsonMember(ts.port, 'cmds', 'bob');
  assert.equal(await owner.next(), { type: 'joined', name: 'bob' });
  for (const command of [{ type: 'kick', name: 'ada' }, { type: 'lock' }, { type: 'unlock' }, { type: 'set_secret', secret: 'mine-now' }, { type: 'close_room' }]) {
    bob.send(command);
    assert.equal(await bob.next(), { type: 'error', code: 'forbidden', message: "only the room's owner may do that" }, command.type);
  }
  bob.send({ type: 'message', text: 'still here' });
  assert.equal((await owner.next()).text, 'still here');
  const room = ts.server.registry.get('cmds')!;
  assert.equal(room.access.locked, false);
  assert.is(room.access.secretHash, null);
});

test('kick closes every member with that name, JSON and raw, with 4001', async () => {
  const owner = await jsonMember(ts.port, 'kicks', 'ada');
  const json = await jsonMember(ts.port, 'kicks', 'mallory');
  const raw = await rawMember(ts.port, 'kicks', 'mallory');
  const other = await rawMember(ts.port, 'kicks', 'bob');
  owner.send({ type: 'kick', name: 'mallory' });
  const a = await json.client.expectClose(4001);
  const b = await raw.expectClose(4001);
  assert.is(a.reason, "removed by the room's owner");
  assert.is(b.reason, "removed by the room's owner");
  await waitUntil(() => ts.server.registry.get('kicks')!.members.size === 2, 'the kicked to leave');
  assert.not.ok(other.ended);
  owner.send({ type: 'kick' });
  assert.equal(await owner.nextOf('error'), { type: 'error', code: 'bad_command', message: 'kick needs "name" as a string' });
});

test('lock and unlock: new raw and JSON joins get 423 while locked; members present stay; room frames', async () => {
  const owner = await jsonMember(ts.port, 'gate', 'ada');
  const raw = await rawMember(ts.port, 'gate', 'rae');
  const json = await jsonMember(ts.port, 'gate', 'jay');
  owner.send({ type: 'lock' });
  assert.equal(await json.nextOf('room'), { type: 'room', locked: true, protected: false });
  assert.is((await refusal(ts.port, 'gate', 'late')).status, 423);
  assert.is((await refusal(ts.port, 'gate', 'late', { json: true })).status, 423);
  assert.not.ok(raw.ended);
  owner.send({ type: 'unlock' });
  assert.equal(await json.nextOf('room'), { type: 'room', locked: false, protected: false });
  assert.is((await attempt(ts.port, 'gate', 'late')).response.status, 101);
});

test('set_secret sets, rotates and removes the secret; members present stay', async () => {
  const owner = await jsonMember(ts.port, 'rotate', 'ada');
  const json = await jsonMember(ts.port, 'rotate', 'jay');
  owner.send({ type: 'set_secret', secret: 'first-secret' });
  assert.equal(await json.nextOf('room'), { type: 'room', locked: false, protected: true });
  assert.is((await refusal(ts.port, 'rotate', 'x')).status, 401);
  assert.is((await attempt(ts.port, 'rotate', 'x', { bearer: 'first-secret' })).response.status, 101);
  owner.send({ type: 'set_secret', secret: 'second-secret' });
  assert.equal(await json.nextOf('room'), { type: 'room', locked: false, protected: true });
  assert.is((await refusal(ts.port, 'rotate', 'y', { bearer: 'first-secret' })).status, 403);
  assert.is((await attempt(ts.port, 'rotate', 'y', { bearer: 'second-secret' })).response.status, 101);
  owner.send({ type: 'set_secret', secret: null });
  assert.equal(await json.nextOf('room'), { type: 'room', locked: false, protected: false });
  assert.is((await attempt(ts.port, 'rotate', 'z')).response.status, 101);
  owner.send({ type: 'set_secret', secret: '' });
  assert.is((await owner.nextOf('error')).code, 'bad_command');
  assert.not.ok(json.client.ended);
});

test('close_room closes everyone with 4002 and leaves nothing in the store; the owner token stops working', async () => {
  const owner = await jsonMember(ts.port, 'doomed', 'ada', { bearer: 'doomed-secret' });
  const ownerToken = owner.welcome.ownerToken as string;
  const raw = await rawMember(ts.port, 'doomed', 'rae', { bearer: 'doomed-secret' });
  await waitUntil(() => storedFile().includes('"doomed"'), 'the room to be stored');
  owner.send({ type: 'close_room' });
  for (const client of [owner.client, raw]) {
    const closed = await client.expectClose(4002);
    assert.is(closed.reason, 'room closed by its owner');
  }
  assert.is(ts.server.registry.get('doomed'), undefined);
  await waitUntil(() => !storedFile().includes('"doomed"'), 'the room to leave the store');
  // The key is free again: the old owner token is just a secret for a new room now, not a key to the old one.
  const next = await jsonMember(ts.port, 'doomed', 'bob');
  assert.equal([next.welcome.role, next.welcome.protected], ['owner', false]);
  const old = await jsonMember(ts.port, 'doomed', 'ada', { bearer: ownerToken });
  assert.is(old.welcome.role, 'member');
});

test('/admin/rooms lists protected and locked; DELETE /admin/rooms/KEY closes a room as close_room does', async () => {
  const owner = await jsonMember(ts.port, 'adm', 'ada', { bearer: 'adm-secret' });
  owner.send({ type: 'lock' });
  await owner.next();
  await rawMember(ts.port, 'adm-open', 'bob');
  const list = (await (await http('/admin/rooms', { headers: { Authorization: `Bearer ${ADMIN}` } })).json()) as Array<Record<string, unknown>>;
  const adm = list.find((r) => r.room === 'adm')!;
  const open = list.find((r) => r.room === 'adm-open')!;
  assert.equal([adm.protected, adm.locked, open.protected, open.locked], [true, true, false, false]);

  const noToken = await http('/admin/rooms/adm', { method: 'DELETE' });
  assert.is(noToken.status, 401);
  assert.is(await noToken.text(), 'a valid Authorization: Bearer token is required\n');
  const wrong = await http('/admin/rooms/adm', { method: 'DELETE', headers: { Authorization: 'Bearer nope' } });
  assert.is(wrong.status, 401);
  const missing = await http('/admin/rooms/no-such-room', { method: 'DELETE', headers: { Authorization: `Bearer ${ADMIN}` } });
  assert.is(missing.status, 404);
  assert.is(await missing.text(), 'no such room\n');
  const ok = await http('/admin/rooms/adm', { method: 'DELETE', headers: { Authorization: `Bearer ${ADMIN}` } });
  assert.is(ok.status, 200);
  assert.equal(await ok.json(), { room: 'adm', closed: true });
  const closed = await owner.client.expectClose(4002);
  assert.is(closed.reason, 'room closed by its owner');
  await waitUntil(() => !storedFile().includes('"adm"'), 'the room to leave the store');
});

test.run();
