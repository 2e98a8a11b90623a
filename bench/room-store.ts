// `npx tsx bench/room-store.ts`: what a new room costs the embedded store as the
// store grows. For each size (1,000 and 100,000 stored rooms by default) it seeds
// DATA_DIR/rooms.json, opens the store as the server does, then times batches of
// 200 concurrent new-room saves (what 200 joins creating rooms at once write).
// A write that costs what it writes shows the same batch time at every size.
// Reported, never asserted: the machine is shared and noisy.
//
//   npx tsx bench/room-store.ts [--sizes 1000,100000] [--batches 10] [--batch 200]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeSnapshot } from '../src/persistence/file';
import { createStore, type RoomRecord } from '../src/persistence/store';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i === -1 ? fallback : process.argv[i + 1] ?? fallback;
}

const sizes = arg('--sizes', '1000,100000').split(',').map(Number);
const batches = Number(arg('--batches', '10'));
const batch = Number(arg('--batch', '200'));

const record = (room: string): RoomRecord => ({ room, owner: 'owner', createdAt: Date.now(), status: 'live', lastActivity: Date.now() });

const rows: { storedRooms: number; medianBatchMs: number; p90BatchMs: number; fileBytes: number }[] = [];
for (const size of sizes) {
  const dir = mkdtempSync(join(tmpdir(), 'rooms-bench-store-'));
  try {
    const seed = encodeSnapshot(Array.from({ length: size }, (_, i) => record(`seed-${i}`)));
    writeFileSync(join(dir, 'rooms.json'), seed);
    const store = createStore({ dataDir: dir });
    await store.open();
    const times: number[] = [];
    for (let b = 0; b < batches; b++) {
      const started = process.hrtime.bigint();
      const outcomes = await Promise.all(Array.from({ length: batch }, (_, i) => store.save(record(`new-${b}-${i}`))));
      times.push(Number(process.hrtime.bigint() - started) / 1e6);
      if (outcomes.some((o) => o !== 'durable')) throw new Error(`a save was not durable: ${outcomes.join(',')}`);
    }
    await store.close();
    times.sort((a, b) => a - b);
    rows.push({ storedRooms: size, medianBatchMs: round(times[Math.floor(times.length / 2)]!), p90BatchMs: round(times[Math.floor(times.length * 0.9)]!), fileBytes: seed.length });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
console.table(rows);
console.log(JSON.stringify({ scenario: 'room-store', batch, batches, rows }));

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
