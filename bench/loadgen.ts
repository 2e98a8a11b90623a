// The load generator as its own process (bench/run.ts starts it pinned to the
// core the server is not on). Usage:
//   node --import tsx bench/loadgen.ts '{"host":"127.0.0.1","port":8080,"serverPid":123,"params":{"kind":"flood",...}}'
// Prints progress to stderr and exactly one line `RESULT {json}` to stdout.
import { runScenario, type Params, type Target } from './lib/scenarios';

interface Job extends Target {
  params: Params;
}

async function main(): Promise<void> {
  const arg = process.argv[2];
  if (!arg) {
    process.stderr.write('usage: loadgen.ts <json job>\n');
    process.exit(2);
  }
  const job = JSON.parse(arg) as Job;
  const result = await runScenario({ host: job.host, port: job.port, serverPid: job.serverPid }, job.params);
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  // Sockets were reset; do not wait for stragglers.
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stdout.write(`RESULT ${JSON.stringify({ error: err instanceof Error ? err.message : String(err) })}\n`);
  process.exit(1);
});
