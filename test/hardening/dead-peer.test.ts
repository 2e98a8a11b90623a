// Dead peers (issue 6): a peer that vanished without a FIN (half-open TCP) says
// nothing and answers no ping. Simulated by a raw client that completes the
// handshake, then never reads and never writes again. The heartbeat pings a peer
// silent for one PING_INTERVAL and drops it when still silent one interval later,
// so it is gone within 3 intervals of the last byte heard (the ticks are not in
// phase with the join), counted in metrics.deadPeersDropped, and the room's JSON
// members hear {"type":"left"}. Members that are idle but alive (they answer
// pings) stay, however long they are quiet.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OP, RawPeer, sleep, until } from '../helpers/misbehaving-clients';
import { Bystanders, memberNames, startHardened, whileBystandersTalk, type Hardened } from './harness';

let h: Hardened | null = null;
test.after.each(async () => {
  await h?.stop();
  h = null;
});

const PING_INTERVAL = 300;
/** Timers on a busy 2-core machine run late; this is slack for scheduling, not part of the window. */
const SCHEDULING_SLACK = 700;

test('a half-open peer is removed within the heartbeat window and JSON members hear it left', async () => {
  h = await startHardened({ pingIntervalMs: PING_INTERVAL });
  const { port, server } = h;
  const bystanders = await Bystanders.start(h.url);
  const [ann, bob] = bystanders.a;

  const seen = new Set<string>();
  const gone = new Map<string, number>();
  const watch = setInterval(() => {
    const present = memberNames(server, 'team-a');
    for (const name of ['ghost', 'phantom']) {
      if (present.includes(name)) seen.add(name);
      else if (seen.has(name) && !gone.has(name)) gone.set(name, Date.now());
    }
  }, 5);

  const joinedAt = new Map<string, number>();
  const ghosts = await whileBystandersTalk(bystanders, async () => {
    // A raw member and a JSON member, both vanishing right after the handshake.
    const ghost = await RawPeer.join(port, 'team-a', 'ghost');
    ghost.stopReading();
    joinedAt.set('ghost', Date.now());
    const phantom = await RawPeer.join(port, 'team-a', 'phantom', { protocol: 'rooms.v1.json' });
    phantom.stopReading();
    joinedAt.set('phantom', Date.now());
    await until(() => gone.size === 2, 'both half-open peers to be dropped', 3 * PING_INTERVAL + 5000);
    return [ghost, phantom] as const;
  });
  clearInterval(watch);

  for (const name of ['ghost', 'phantom']) {
    const after = gone.get(name)! - joinedAt.get(name)!;
    assert.ok(after >= PING_INTERVAL, `${name} was not dropped before a ping went unanswered (${after} ms)`);
    assert.ok(after <= 3 * PING_INTERVAL + SCHEDULING_SLACK, `${name} was dropped within 3 x PING_INTERVAL (${after} ms)`);
    for (const member of [ann, bob]) {
      await until(() => member.presence.some((p) => p.type === 'left' && p.name === name), `${member.name} to hear ${name} left`);
    }
  }
  assert.is(server.metrics.deadPeersDropped, 2);

  // The server pinged them before giving up, and closed their sockets (no FIN ever came from them).
  for (const peer of ghosts) {
    peer.socket.resume();
    const opcodes: number[] = [];
    for (let frame = await peer.nextFrame(); frame !== null; frame = await peer.nextFrame()) opcodes.push(frame.opcode);
    assert.ok(opcodes.includes(OP.ping), `a ping was sent (frames: ${opcodes.join(',')})`);
    assert.ok(peer.ended, 'the server closed the socket');
  }
  assert.equal(memberNames(server, 'team-a').sort(), ['ann', 'bob']);
  await bystanders.close();
});

test('members that are quiet but alive answer the pings and are never dropped', async () => {
  h = await startHardened({ pingIntervalMs: PING_INTERVAL });
  const { server } = h;
  const bystanders = await Bystanders.start(h.url);
  await bystanders.exchange(1);
  // Six intervals of silence from everyone: each is pinged, each answers.
  await sleep(6 * PING_INTERVAL);
  assert.is(server.metrics.deadPeersDropped, 0);
  for (const member of bystanders.all) assert.ok(member.open, `${member.name} is still connected`);
  await bystanders.exchange(3);
  assert.equal(memberNames(server, 'team-a').sort(), ['ann', 'bob']);
  await bystanders.close();
});

test.run();
