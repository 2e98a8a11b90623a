// Slow consumers (issue 6): a member that never reads, in a room flooded with
// 16 KiB messages. The server must not buffer for it without bound: once what it
// holds for that receiver passes MAX_BUFFERED_BYTES it drops it (1008, socket
// closed, metrics.slowConsumersDropped), while the room's readers get every
// message in order and another room keeps talking.
//
// Bounds asserted (the server runs in this process):
// - bytes the server holds for the slow socket (Node's writableLength) never pass
//   the hard bound 2 x MAX_BUFFERED_BYTES + MAX_MESSAGE_BYTES (+ 1 KiB for the
//   close frame): 2 MiB + 64 KiB here;
// - this process's RSS stays under 100 MiB above its level before the flood,
//   while ~6 MiB+ were sent towards the slow member and 4 receivers read ~10-30 MiB each.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { floodFrames, RawPeer, until, WsMember } from '../helpers/misbehaving-clients';
import { Bystanders, heldBound, memberNames, serverPeers, startHardened, type Hardened } from './harness';

let h: Hardened | null = null;
test.after.each(async () => {
  await h?.stop();
  h = null;
});

const MESSAGE_BYTES = 16 * 1024;
const MAX_BUFFERED = 1024 * 1024;
const WINDOW = 24; // flood messages in flight ahead of the slowest good reader
const AFTER_DROP = 300; // messages still sent once the slow member is dropped
const MAX_MESSAGES = 6000; // 94 MiB: the bound of the test, far above what the drop needs
const MiB = 1024 * 1024;

/** Counts a member's `flood N` messages from `from`, throwing if one is missing or out of order. */
function floodCounter(member: WsMember, from: string | null): () => number {
  let scanned = 0;
  let next = 0;
  return () => {
    for (; scanned < member.heard.length; scanned++) {
      const heard = member.heard[scanned]!;
      if (heard.from !== from || !heard.text.startsWith('flood ')) continue;
      const n = Number(heard.text.split(' ')[1]);
      if (n !== next) throw new Error(`${member.name} heard flood ${n} where ${next} was due`);
      if (heard.length !== MESSAGE_BYTES) throw new Error(`${member.name} heard flood ${n} with ${heard.length} characters`);
      next++;
    }
    return next;
  };
}

const floodMessage = floodFrames('flood', MESSAGE_BYTES);

test('a member that never reads is dropped at MAX_BUFFERED_BYTES; memory stays bounded; readers get every message', async () => {
  h = await startHardened({ maxBufferedBytes: MAX_BUFFERED, maxMessageBytes: 64 * 1024, messagesPerSecond: 1_000_000, messageBurst: 1_000_000 });
  const { port, url, server } = h;
  const bystanders = await Bystanders.start(url); // ann, bob in team-a (the flooded room); cat, dan in team-b
  const [ann, bob] = bystanders.a;
  const reader = await WsMember.join(url, 'team-a', 'reader', { mode: 'raw' });
  const flooder = await RawPeer.join(port, 'team-a', 'flooder');
  const slow = await RawPeer.join(port, 'team-a', 'slow');
  slow.stopReading();
  await until(() => memberNames(server, 'team-a').length === 5, 'five members in team-a');
  const slowOnServer = serverPeers(server, 'team-a').find((p) => p.name === 'slow');
  assert.ok(slowOnServer, 'the slow member is in the room');

  const counters = [floodCounter(ann, 'flooder'), floodCounter(bob, 'flooder'), floodCounter(reader, null)];
  const slowestGood = () => Math.min(...counters.map((count) => count()));

  global.gc?.();
  const rssStart = process.memoryUsage().rss;
  let rssPeak = rssStart;
  let slowHeldPeak = 0;
  const sampler = setInterval(() => {
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    if (!slowOnServer!.socket.destroyed) slowHeldPeak = Math.max(slowHeldPeak, slowOnServer!.socket.writableLength);
  }, 5);

  // The other room chats all along.
  let flooding = true;
  let talkError: unknown = null;
  const talk = (async () => {
    while (flooding) await bystanders.exchange(2, 30_000);
  })().catch((error: unknown) => {
    talkError = error;
  });

  let sent = 0;
  let sentAtDrop = -1;
  try {
    while (sent < MAX_MESSAGES && (sentAtDrop < 0 || sent < sentAtDrop + AFTER_DROP)) {
      // Flow control against the good readers only: the flood is as fast as they read, no faster.
      if (sent - slowestGood() >= WINDOW) await until(() => sent - slowestGood() < WINDOW, `the good readers to keep up (sent ${sent})`, 30_000, 2);
      await flooder.writeAndDrain(floodMessage(sent++));
      if (sentAtDrop < 0 && server.metrics.slowConsumersDropped > 0) sentAtDrop = sent;
    }
    await until(() => slowestGood() === sent, `every good reader to get all ${sent} messages`, 30_000);
  } finally {
    flooding = false;
    clearInterval(sampler);
    await talk;
  }
  if (talkError !== null) throw talkError;

  process.stdout.write(`  slow consumer: dropped after ${sentAtDrop} of ${sent} messages; held for it at most ${slowHeldPeak} bytes; RSS +${((rssPeak - rssStart) / MiB).toFixed(1)} MiB\n`);
  assert.ok(sentAtDrop > 0, `the slow member was dropped (after ${sent} messages, ${((sent * MESSAGE_BYTES) / MiB).toFixed(0)} MiB)`);
  assert.is(server.metrics.slowConsumersDropped, 1, 'only the slow member was dropped');
  assert.ok(slowHeldPeak <= heldBound(h.settings), `bytes held for the slow socket stayed under the hard bound ${heldBound(h.settings)} (peak ${slowHeldPeak})`);
  const grew = rssPeak - rssStart;
  assert.ok(grew < 100 * MiB, `RSS grew by ${(grew / MiB).toFixed(1)} MiB (< 100 MiB) while ${((sent * MESSAGE_BYTES) / MiB).toFixed(0)} MiB were flooded`);

  // The slow member is out of the room, and the server closed its socket (seen once we read again).
  await until(() => !memberNames(server, 'team-a').includes('slow'), 'the slow member to leave team-a');
  await until(() => ann.presence.some((p) => p.type === 'left' && p.name === 'slow'), 'ann to hear the slow member leave');
  slow.readAndDiscard();
  await slow.waitForEnd(10_000);
  assert.ok(slow.discarded < sent * (MESSAGE_BYTES + 16), 'the slow member got only part of the flood');

  // Everyone else is still here and still talking.
  assert.ok(reader.open && ann.open && bob.open, 'the readers were not dropped');
  await bystanders.exchange(3);
  assert.equal(memberNames(server, 'team-a').sort(), ['ann', 'bob', 'flooder', 'reader']);
  await reader.close();
  await bystanders.close();
});

test.run();
