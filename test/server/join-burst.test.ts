// The per-address join limit with default settings: 1,000 people behind one NAT rejoining
// after a restart all get in, and a sustained flood past the rate is still refused with
// 429 and a Retry-After of the seconds until the next join.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RawPeer, roomPath } from '../helpers/misbehaving-clients';
import { startHardened, type Hardened } from '../hardening/harness';
import { defaultSettings } from '../../src/settings';

let h: Hardened | null = null;
test.after(async () => {
  await h?.stop();
});

test('defaults: 1,000 joins from one address at once are admitted; the flood after them gets 429', async () => {
  const defaults = defaultSettings();
  assert.ok(defaults.joinBurst >= 1000, 'the default burst covers a 1,000-person NAT');
  assert.is(defaults.joinsPerMinutePerAddress, 600, 'the sustained rate is unchanged');
  h = await startHardened({ joinsPerMinutePerAddress: defaults.joinsPerMinutePerAddress, joinBurst: defaults.joinBurst });
  const port = h.port;
  const statuses = new Map<number, number>();
  const join = async (i: number) => {
    const { peer, response } = await RawPeer.handshake(port, { path: roomPath('classroom', `pupil${i}`) }, { localAddress: '127.0.0.5' });
    statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
    return { peer, response };
  };
  // The classroom reconnects, 50 at a time, and stays connected.
  const pupils: RawPeer[] = [];
  for (let i = 0; i < 1000; i += 50) {
    const batch = await Promise.all(Array.from({ length: 50 }, (_, k) => join(i + k)));
    for (const { peer } of batch) pupils.push(peer);
  }
  assert.equal([...statuses], [[101, 1000]], `all 1,000 admitted: ${JSON.stringify([...statuses])}`);
  // A flood from the same address now: the bucket is empty and refills at 10 a second.
  let refused: Awaited<ReturnType<typeof join>> | null = null;
  for (let i = 1000; i < 1400 && refused === null; i++) {
    const attempt = await join(i);
    attempt.peer.destroy();
    if (attempt.response.status === 429) refused = attempt;
  }
  assert.ok(refused !== null, `the flood is refused: ${JSON.stringify([...statuses])}`);
  assert.is(refused!.response.headers.get('retry-after'), '1');
  assert.is(refused!.response.body.trim(), 'too many joins from your address; try again in 1 s');
  // Another address is not affected.
  const neighbour = await RawPeer.join(port, 'classroom', 'neighbour', { localAddress: '127.0.0.6' });
  neighbour.destroy();
  for (const pupil of pupils) pupil.destroy();
});

test.run();
