// `npx tsx bench/history-writer.ts`: what keeping history costs per message away
// from the sockets: appends to many rooms' rings, and the grouped writes that send
// them to the embedded log (a real file in a temporary directory), timed together
// as process CPU per message. `--per-write` is how many messages a grouped write
// carries (10,000 messages/s over 500 rooms: 500 every 50 ms, 2,000 every 200 ms).
// Reported, never asserted: the machine is shared and noisy.
//
//   npx tsx bench/history-writer.ts [--rooms 500] [--per-write 500,2000] [--messages 300000]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Opcode } from '../src/frames/opcodes';
import { FileHistoryStore } from '../src/history/file-history-store';
import { HistoryWriter } from '../src/history/history-writer';
import { RoomHistory } from '../src/history/room-history';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i === -1 ? fallback : (process.argv[i + 1] ?? fallback);
}

const roomCount = Number(arg('--rooms', '500'));
const perWrite = arg('--per-write', '500,2000').split(',').map(Number);
const messages = Number(arg('--messages', '300000'));
const limits = { size: 100, ttlMs: 3_600_000 };
const rooms = Array.from({ length: roomCount }, (_, i) => `bench-room-${i}`);
const senders = ['ada', 'grace', 'edsger', 'barbara'];
// Payloads are views into one larger buffer, as they are into a socket's read chunk.
const chunk = Buffer.alloc(64 * 1024, 0x61);

async function measure(per: number): Promise<number[]> {
  const dir = mkdtempSync(join(tmpdir(), 'rooms-bench-history-'));
  try {
    const history = new RoomHistory({ ...limits, maxBytes: 256 * 1024 * 1024 });
    // No timer: the loop below decides when a grouped write happens.
    const writer = new HistoryWriter(new FileHistoryStore(dir, limits), history, { flushDelayMs: 1e9 });
    await writer.open(() => true);
    let n = 0;
    const run = async (count: number): Promise<number> => {
      const before = process.cpuUsage();
      for (let done = 0; done < count; done += per) {
        for (let i = 0; i < per; i++, n++) {
          const at = (n * 64) % (chunk.length - 64);
          history.append(rooms[(n * 7919) % roomCount]!, Opcode.Binary, senders[n & 3]!, chunk.subarray(at, at + 64), Date.now());
        }
        if (!(await writer.flush())) throw new Error('a grouped write failed');
      }
      const used = process.cpuUsage(before);
      return ((used.user + used.system) * 1000) / count;
    };
    await run(messages / 3); // warm-up: the rings fill, the code is optimised
    const out = [await run(messages), await run(messages), await run(messages)];
    await writer.close();
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const per of perWrite) {
  const ns = await measure(per);
  const sorted = [...ns].sort((a, b) => a - b);
  process.stdout.write(`${roomCount} rooms, ${per} messages per grouped write: ${(sorted[1]! / 1000).toFixed(2)} µs CPU per message (median of 3; ${ns.map((x) => (x / 1000).toFixed(2)).join(', ')})\n`);
}
