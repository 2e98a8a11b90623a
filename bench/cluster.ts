// `npm run bench:cluster`: only the cluster section of `npm run bench` (bench/run.ts
// runs it last): three server processes over one throwaway Redis, ours against
// Socket.IO 4 with @socket.io/redis-adapter (bench/peers/socketio-cluster.ts,
// clients forced to the websocket transport), same 64-byte text payloads, same
// Redis, same cores. Each system uses its own client library, so deliveries/s
// partly measures the clients; the figure that decides is server CPU per delivery
// (or per message), summed over the three processes and Redis, with latency at a
// fixed rate. The scenarios are in bench/lib/cluster-scenarios.ts:
// - one-room: 300 members spread over the 3 processes, one sender, a window of
//   messages in flight (one leaves it when all 299 receivers have it).
// - many-rooms: 300 rooms x 4 members, each room spread over the processes,
//   members sending in turn at a fixed total rate; latency from send to receipt.
//
//   npx tsx bench/cluster.ts [--rounds N] [--quick] [--only one-room,many-rooms] [--systems rooms,socket.io] [--no-write]

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLUSTER_SCENARIOS, CLUSTER_SYSTEMS, runCluster } from './lib/cluster-scenarios';
import { ROOT, oursSpec } from './lib/servers';

const USAGE = 'npx tsx bench/cluster.ts [--rounds N] [--quick] [--only one-room,many-rooms] [--systems rooms,socket.io] [--no-write]\n';

function pick<T extends string>(list: readonly T[], wanted: string[] | null, what: string): T[] {
  if (wanted === null) return [...list];
  const unknown = wanted.filter((w) => !(list as readonly string[]).includes(w));
  if (unknown.length > 0) throw new Error(`unknown ${what} ${unknown.join(', ')}; known: ${list.join(', ')}`);
  return list.filter((id) => wanted.includes(id));
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  let rounds = 3;
  let quick = false;
  let write = true;
  let only: string[] | null = null;
  let systems: string[] | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--rounds') rounds = Math.max(1, Number(argv[++i]) || 1);
    else if (a === '--quick') quick = true;
    else if (a === '--no-write') write = false;
    else if (a === '--only') only = (argv[++i] ?? '').split(',');
    else if (a === '--systems') systems = (argv[++i] ?? '').split(',');
    else if (a === '--help' || a === '-h') {
      process.stdout.write(USAGE);
      return;
    } else throw new Error(`unknown argument ${a}\n${USAGE}`);
  }
  if (quick && !argv.includes('--rounds')) rounds = 1;
  const results = await runCluster({ rounds, quick, scenarios: pick(CLUSTER_SCENARIOS, only, 'scenario'), systems: pick(CLUSTER_SYSTEMS, systems, 'system') }, oursSpec());
  process.stdout.write(`\n${results.table}\n`);
  if (write) writeFileSync(join(ROOT, 'bench/cluster-results.json'), `${JSON.stringify(results, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/cluster: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
