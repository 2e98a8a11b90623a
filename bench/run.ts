// `npm run bench`: every scenario against every server in interleaved rounds
// (for each round, for each scenario: A B C), a fresh server process per run on
// core 0 and the load generator (bench/loadgen.ts) on core 1. Prints a table of
// medians and ratios, writes bench/results.json and docs/bench.svg. Then, as its
// last section, the cluster scenarios (bench/lib/cluster-scenarios.ts: three
// processes over Redis against Socket.IO), written to bench/cluster-results.json.
//
//   npm run bench -- [--rounds N] [--quick] [--only id,id] [--servers name,name] [--measure-ms MS] [--warmup-ms MS]
//                    [--max-steal PCT] [--retakes N] [--no-write]
//       a sample during which a hypervisor stole more than PCT% (default 5) of the machine's CPU is
//       taken again, up to N times (default 2)
//   npm run bench -- --only cluster   (or one-room,many-rooms: the cluster section only, as npm run bench:cluster)
//   npm run bench -- --replot     (tables and chart again from bench/results.json and bench/cluster-results.json)
//   BENCH_VARIANTS='name:VAR=value:VAR=value,…' npm run bench -- --servers rooms,name,…
//       more of our servers in the same interleaved run, each with extra environment; MAIN=path
//       runs another build (e.g. a copy of dist/ from before a change, kept inside the checkout);
//       NODE_ARGS='--flag …' gives that variant Node/V8 flags
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { renderChart, type ChartGroup } from './lib/chart';
import { CLUSTER_SCENARIOS, CLUSTER_SYSTEMS, type ClusterResults, type ClusterScenario, runCluster } from './lib/cluster-scenarios';
import { machineTicks, stolenNote, stolenShare } from './lib/proc';
import type { Params, ScenarioResult } from './lib/scenarios';
import { BEFORE_CLUSTER, CEILING, ROOT, hardNofile, hasTaskset, oursBeforeClusterSpec, oursExists, oursHistoryOffSpec, oursSpec, peerSpecs, startServer, wrap, type ServerSpec } from './lib/servers';

interface MetricDef {
  key: string;
  label: string;
  unit: string;
  better: 'higher' | 'lower';
  /** The issue's targets as candidate/peer ratios: at least (higher) or at most (lower). */
  targets?: Record<string, number>;
}

interface ScenarioDef {
  id: string;
  title: string;
  params: Params;
  quick: Params;
  metrics: MetricDef[];
  /** Most connections it opens (for the open-file limit). */
  connections: number;
  /** Servers this scenario does not run against (the ceiling has no rooms to store, so no idle figure). */
  skip?: string[];
  /** Servers that run in this scenario only (rooms before the cluster: fan-out 1 -> 100). */
  only?: string[];
}

const FANOUT_METRICS = (targets: boolean, ceiling?: number, beforeCluster?: number): MetricDef[] => [
  {
    key: 'deliveriesPerSec',
    label: 'deliveries/s',
    unit: '/s',
    better: 'higher',
    targets: targets
      ? { ws: 5, 'ws-frame-once': 4, ...(ceiling !== undefined ? { [CEILING]: ceiling } : {}), ...(beforeCluster !== undefined ? { [BEFORE_CLUSTER]: beforeCluster } : {}) }
      : undefined,
  },
  { key: 'cpuUsPerDelivery', label: 'server CPU µs/delivery', unit: 'µs', better: 'lower', targets: targets ? { ws: 0.2 } : undefined },
  { key: 'p50Us', label: 'p50 latency', unit: 'µs', better: 'lower' },
  { key: 'p99Us', label: 'p99 latency', unit: 'µs', better: 'lower' },
];

/** Many rooms' load: 500 rooms of 4, every member sending, 10,000 sends/s in all, 64 B. */
const MANY_ROOMS = { kind: 'rooms', rooms: 500, members: 4, size: 64, rate: 10_000 } as const;
const P50: MetricDef = { key: 'p50Us', label: 'p50 latency', unit: 'µs', better: 'lower' };

const SCENARIOS: ScenarioDef[] = [
  {
    id: 'fanout-100',
    title: 'fan-out, 1 sender -> 100 receivers, 64 B',
    params: { kind: 'flood', receivers: 100, size: 64, opcode: 2, window: 64, warmupMs: 1000, measureMs: 4000, maxMessages: 0 },
    quick: { kind: 'flood', receivers: 100, size: 64, opcode: 2, window: 64, warmupMs: 300, measureMs: 1000, maxMessages: 0 },
    // Issue 11: a single process (no REDIS_URL) at least 0.95x of the fan-out before the cluster.
    metrics: FANOUT_METRICS(true, undefined, 0.95),
    connections: 101,
    only: [BEFORE_CLUSTER],
  },
  {
    id: 'fanout-1000',
    title: 'fan-out, 1 sender -> 1000 receivers, 64 B',
    params: { kind: 'flood', receivers: 1000, size: 64, opcode: 2, window: 32, warmupMs: 1000, measureMs: 4000, maxMessages: 0 },
    quick: { kind: 'flood', receivers: 1000, size: 64, opcode: 2, window: 32, warmupMs: 300, measureMs: 1000, maxMessages: 0 },
    metrics: FANOUT_METRICS(true, 0.85),
    connections: 1001,
  },
  {
    // The steady state: with history on, every room's ring is full (500 rooms x HISTORY_SIZE 100 at
    // 10,000 sends/s takes 5 s) before the window opens, so each message also lets the oldest go, as it
    // will for the rest of the server's life. The first seconds are rooms-10k-fill, below.
    id: 'rooms-10k',
    title: 'many rooms, 500 x 4 all sending, 10k sends/s total, 64 B (rings full)',
    params: { ...MANY_ROOMS, warmupMs: 6000, measureMs: 5000 },
    quick: { ...MANY_ROOMS, warmupMs: 300, measureMs: 1000 },
    metrics: [
      P50,
      { key: 'p99Us', label: 'p99 latency', unit: 'µs', better: 'lower', targets: { ws: 0.5 } },
      { key: 'maxUs', label: 'max latency', unit: 'µs', better: 'lower' },
      { key: 'cpuUsPerMessage', label: 'server CPU µs/message', unit: 'µs', better: 'lower', targets: { ws: 0.75 } },
    ],
    connections: 2000,
  },
  {
    // The same load on a fresh server, while history's rings fill (5,000 to 45,000 kept messages):
    // reported beside the steady state, no target.
    id: 'rooms-10k-fill',
    title: 'many rooms as above, the first 4.5 s of a fresh server (history filling)',
    params: { ...MANY_ROOMS, warmupMs: 500, measureMs: 4000 },
    quick: { ...MANY_ROOMS, warmupMs: 300, measureMs: 1000 },
    metrics: [P50, { key: 'p99Us', label: 'p99 latency', unit: 'µs', better: 'lower' }, { key: 'cpuUsPerMessage', label: 'server CPU µs/message', unit: 'µs', better: 'lower' }],
    connections: 2000,
  },
  {
    id: 'rooms-max',
    title: 'many rooms, 500 x 4: highest total send rate held (p50 latency under 10 ms, backlog drained within 1 s)',
    params: { kind: 'rooms-max', rooms: 500, members: 4, size: 64, startRate: 2000, maxRate: 512_000, stepMs: 1500, refine: 2, p50LimitUs: 10_000, settleMs: 1000 },
    quick: { kind: 'rooms-max', rooms: 500, members: 4, size: 64, startRate: 2000, maxRate: 32_000, stepMs: 500, refine: 0, p50LimitUs: 10_000, settleMs: 300 },
    metrics: [{ key: 'maxRateHeld', label: 'sends/s held', unit: '/s', better: 'higher' }],
    connections: 2000,
  },
  {
    id: 'large',
    title: 'large messages, 1 sender -> 10 receivers, 256 KiB binary',
    params: { kind: 'flood', receivers: 10, size: 256 * 1024, opcode: 2, window: 8, warmupMs: 1000, measureMs: 4000, maxMessages: 0 },
    quick: { kind: 'flood', receivers: 10, size: 256 * 1024, opcode: 2, window: 8, warmupMs: 300, measureMs: 1000, maxMessages: 0 },
    metrics: [
      { key: 'mbPerSec', label: 'MB/s delivered', unit: 'MB/s', better: 'higher', targets: { ws: 1.4, [CEILING]: 0.9 } },
      { key: 'cpuUsPerDelivery', label: 'server CPU µs/delivery', unit: 'µs', better: 'lower' },
      { key: 'p50Us', label: 'p50 latency', unit: 'µs', better: 'lower' },
      { key: 'p99Us', label: 'p99 latency', unit: 'µs', better: 'lower', targets: { ws: 1 } },
    ],
    connections: 11,
  },
  {
    id: 'idle',
    title: 'idle connections, 10,000 in rooms of 10',
    params: { kind: 'idle', connections: 10_000, roomSize: 10, concurrency: 200, settleMs: 1000 },
    quick: { kind: 'idle', connections: 2000, roomSize: 10, concurrency: 200, settleMs: 300 },
    metrics: [
      { key: 'bytesPerConnection', label: 'server RSS bytes/connection', unit: 'B', better: 'lower', targets: { ws: 0.8 } },
      // The whole process, code and runtime included: rooms runs compiled (dist/, as `npm start`), the peers under tsx.
      { key: 'rssAfterMB', label: 'server process RSS, all open (rooms compiled)', unit: 'MB', better: 'lower' },
      { key: 'openMs', label: 'time to open all', unit: 'ms', better: 'lower' },
    ],
    connections: 10_000,
    skip: [CEILING],
  },
  {
    id: 'handshake-join',
    title: 'handshakes into existing rooms: 5,000 joins into 100 rooms whose first member is already in, 50 at a time',
    params: { kind: 'handshake', connections: 5100, roomSize: 51, concurrency: 50, existing: true },
    quick: { kind: 'handshake', connections: 1020, roomSize: 51, concurrency: 50, existing: true },
    metrics: [
      { key: 'handshakesPerSec', label: 'handshakes/s', unit: '/s', better: 'higher' },
      { key: 'cpuUsPerHandshake', label: 'server CPU µs/handshake', unit: 'µs', better: 'lower', targets: { ws: 0.7 } },
    ],
    connections: 5100,
  },
  {
    id: 'handshake-create',
    title: 'handshakes that create their room: 2,000 joins, each into a new room (a durable room write here, none in the peers), 50 at a time',
    params: { kind: 'handshake', connections: 2000, roomSize: 1, concurrency: 50 },
    quick: { kind: 'handshake', connections: 500, roomSize: 1, concurrency: 50 },
    metrics: [
      { key: 'handshakesPerSec', label: 'handshakes/s', unit: '/s', better: 'higher' },
      { key: 'cpuUsPerHandshake', label: 'server CPU µs/handshake', unit: 'µs', better: 'lower' },
    ],
    connections: 2000,
  },
];

/**
 * On a VM, CPU time the hypervisor gives other guests ("steal") slows everything
 * that runs meanwhile: on this project's 2-core VM, samples of one server taken
 * minutes apart differed by 1.5x, and the slow ones were those with 10-30% stolen
 * (README, "Sixth pass"). Such a sample measures the host, not the server.
 */
const DEFAULT_MAX_STEAL = 0.05;
const DEFAULT_RETAKES = 2;

interface Options {
  rounds: number;
  quick: boolean;
  only: string[] | null;
  servers: string[] | null;
  write: boolean;
  replot: boolean;
  /** Overrides each timed scenario's measuring window (ms), for short runs. */
  measureMs: number | null;
  /** Overrides each timed scenario's warm-up before the window (ms), for experiments. */
  warmupMs: number | null;
  /** A sample during which the hypervisor stole more than this share of the machine's CPU is taken again... */
  maxSteal: number;
  /** ...up to this many times (then kept, and counted in the results). */
  retakes: number;
}

function parseArgs(argv: readonly string[]): Options {
  const o: Options = { rounds: 3, quick: false, only: null, servers: null, write: true, replot: false, measureMs: null, warmupMs: null, maxSteal: DEFAULT_MAX_STEAL, retakes: DEFAULT_RETAKES };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--rounds') o.rounds = Math.max(1, Number(value()) || 1);
    else if (a === '--quick') o.quick = true;
    else if (a === '--only') o.only = value().split(',');
    else if (a === '--servers') o.servers = value().split(',');
    else if (a === '--no-write') o.write = false;
    else if (a === '--measure-ms') o.measureMs = Math.max(100, Number(value()) || 1000);
    else if (a === '--warmup-ms') o.warmupMs = Math.max(0, Number(value()) || 0);
    else if (a === '--max-steal') o.maxSteal = Math.max(0, Number(value()) || 0) / 100;
    else if (a === '--retakes') o.retakes = Math.max(0, Math.floor(Number(value()) || 0));
    else if (a === '--replot') o.replot = true;
    else if (a === '--help' || a === '-h') {
      process.stdout.write(
        'npm run bench -- [--rounds N] [--quick] [--only ' + [...SCENARIOS.map((s) => s.id), ...CLUSTER_SCENARIOS].join(',') + '] [--servers rooms,rooms-history-off,ws,ws-frame-once,ceiling,' + BEFORE_CLUSTER + '] [--measure-ms MS] [--warmup-ms MS] [--max-steal PCT] [--retakes N] [--no-write]\n' +
          `  --max-steal PCT (default ${100 * DEFAULT_MAX_STEAL}): a sample during which a hypervisor stole more of the machine's CPU is taken again, up to --retakes times (default ${DEFAULT_RETAKES})\n` +
          '  --only cluster (or one-room,many-rooms): the cluster section alone (also npm run bench:cluster); --servers applies to the single-process section\n' +
          'npm run bench -- --replot   (tables and docs/bench.svg again from bench/results.json and bench/cluster-results.json)\n',
      );
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (o.quick && !argv.includes('--rounds')) o.rounds = 1;
  return o;
}

interface Sample {
  result: ScenarioResult | null;
  error: string | null;
}

function runLoadgen(params: Params, port: number, serverPid: number, nofile: number): Promise<Sample> {
  const job = JSON.stringify({ host: '127.0.0.1', port, serverPid, params });
  const argv = wrap([process.execPath, '--import', 'tsx', 'bench/loadgen.ts', job], nofile, 1);
  return new Promise((resolve) => {
    const child = spawn(argv[0], argv.slice(1), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      if (!line) {
        resolve({ result: null, error: `load generator exited ${code} without a result: ${err.trim().slice(-500)}` });
        return;
      }
      const parsed = JSON.parse(line.slice(7)) as ScenarioResult | { error: string };
      if ('error' in parsed) resolve({ result: null, error: parsed.error });
      else resolve({ result: parsed, error: null });
    });
  });
}

function median(xs: readonly number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

function fmt(v: number, unit: string): string {
  if (!Number.isFinite(v)) return 'n/a';
  const a = Math.abs(v);
  let s: string;
  if (a >= 1e6) s = (v / 1e6).toFixed(a >= 1e7 ? 1 : 2) + 'M';
  else if (a >= 1e4) s = (v / 1e3).toFixed(a >= 1e5 ? 0 : 1) + 'k';
  else if (a >= 100) s = v.toFixed(0);
  else if (a >= 10) s = v.toFixed(1);
  else s = v.toFixed(2);
  return unit === '/s' ? s : `${s} ${unit}`;
}

function machine(): { cpu: string; cores: number; node: string; os: string; date: string } {
  let cpu = cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpu = m[1].trim();
  } catch {
    /* not Linux */
  }
  let os = `${process.platform} ${process.arch}`;
  try {
    os = `Linux ${readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()} ${process.arch}`;
  } catch {
    /* not Linux */
  }
  return { cpu, cores: cpus().length, node: process.version, os, date: new Date().toISOString() };
}

const log = (s: string): void => {
  process.stderr.write(s + '\n');
};

const CLUSTER_RESULTS = join(ROOT, 'bench/cluster-results.json');

/** `--only` ids of the cluster section: its scenarios, or `cluster` for both. */
function clusterScenarios(only: string[] | null): ClusterScenario[] {
  if (only === null || only.includes('cluster')) return [...CLUSTER_SCENARIOS];
  return CLUSTER_SCENARIOS.filter((id) => only.includes(id));
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (o.replot) {
    report(JSON.parse(readFileSync(join(ROOT, 'bench/results.json'), 'utf8')) as Results, o.write);
    if (existsSync(CLUSTER_RESULTS)) process.stdout.write(`
${(JSON.parse(readFileSync(CLUSTER_RESULTS, 'utf8')) as ClusterResults).table}
`);
    return;
  }
  const known = [...SCENARIOS.map((s) => s.id), ...CLUSTER_SCENARIOS, 'cluster'];
  const unknown = (o.only ?? []).filter((id) => !known.includes(id));
  if (unknown.length > 0) throw new Error(`--only: unknown ${unknown.join(', ')}; known: ${known.join(', ')}`);
  const scenarios = SCENARIOS.filter((s) => o.only === null || o.only.includes(s.id));
  const cluster = clusterScenarios(o.only);
  if (scenarios.length === 0 && cluster.length === 0) throw new Error(`no scenario matches --only; known: ${known.join(', ')}`);
  if (cluster.length > 0 && !oursExists()) throw new Error('the cluster section needs src/main.ts');

  const started = Date.now();
  let failures: string[] = [];
  if (scenarios.length > 0) failures = await singleProcess(o, scenarios);
  if (cluster.length > 0) {
    // Both systems always: the section is a comparison. `npm run bench:cluster -- --systems` runs one.
    log(`\ncluster section: ${cluster.join(', ')} (3 processes + Redis, rooms against socket.io)`);
    const results = await runCluster({ rounds: o.rounds, quick: o.quick, scenarios: cluster, systems: CLUSTER_SYSTEMS }, oursSpec());
    process.stdout.write(`\n${results.table}\n`);
    if (o.write) {
      writeFileSync(CLUSTER_RESULTS, `${JSON.stringify(results, null, 2)}\n`);
      process.stdout.write('wrote bench/cluster-results.json\n');
    }
  }
  process.stdout.write(`\nwhole run: ${((Date.now() - started) / 60000).toFixed(1)} min\n`);
  if (failures.length > 0) {
    process.stdout.write(`\n${failures.length} run(s) FAILED — their numbers are left out of the medians:\n${failures.map((f) => `  - ${f}`).join('\n')}\n`);
    process.exit(1);
  }
}

/** The header's note on samples taken again for stolen CPU (nothing for results written before retakes). */
function retakeNote(st: Results['settings']): string {
  if (st.maxSteal === undefined) return '';
  const kept = st.stealKept ? `, ${st.stealKept} kept over it after ${st.retakes ?? DEFAULT_RETAKES} retakes` : '';
  return `; samples with over ${(100 * st.maxSteal).toFixed(0)}% stolen taken again: ${st.retaken ?? 0}${kept}`;
}

/** One sample: the server started on core 0, the load generator's run, the server stopped. */
async function takeSample(spec: ServerSpec, params: ScenarioDef['params'], nofile: number): Promise<Sample> {
  try {
    const server = await startServer(spec, { nofile, core: 0 });
    try {
      const sample = await runLoadgen(params, server.port, server.pid, nofile);
      return server.exited() ? { result: sample.result, error: `${spec.name} exited during the run:\n${server.tail()}` } : sample;
    } finally {
      await server.stop();
    }
  } catch (err) {
    return { result: null, error: (err as Error).message };
  }
}

/** The single-process section: prints its table, writes bench/results.json and docs/bench.svg; returns the failed runs. */
async function singleProcess(o: Options, scenarios: ScenarioDef[]): Promise<string[]> {
  const all: ServerSpec[] = [];
  // History on (the default) first, as the candidate; history off is one of the peers it is compared with.
  if (oursExists()) all.push(oursSpec(), oursHistoryOffSpec());
  else log('note: src/main.ts does not exist yet: running the ws peers only (ratios: ws-frame-once against ws)');
  all.push(...variantSpecs(process.env.BENCH_VARIANTS ?? ''));
  all.push(...peerSpecs());
  if (oursExists() && (o.servers === null || o.servers.includes(BEFORE_CLUSTER)) && scenarios.some((sc) => sc.only?.includes(BEFORE_CLUSTER))) {
    const before = oursBeforeClusterSpec();
    if (typeof before === 'string') log(`note: ${before}`);
    else all.push(before);
  }
  const servers = o.servers === null ? all : all.filter((s) => o.servers?.includes(s.name));
  if (servers.length === 0) throw new Error('no servers selected');
  const candidate = servers[0].name;
  const peers = servers.slice(1).map((s) => s.name);
  // A server named in some scenario's `only` runs in those scenarios alone.
  const exclusive = new Set(SCENARIOS.flatMap((sc) => sc.only ?? []));

  const hard = hardNofile();
  const need = Math.max(...scenarios.map((s) => s.connections)) + 1024;
  const nofile = Math.min(hard, Math.max(need, 4096));
  if (hard < need) log(`warning: the hard open-file limit is ${hard}, below the ${need} the scenarios need: some will fail`);
  if (!hasTaskset()) log('warning: taskset not found: server and load generator are not pinned to separate cores');
  const cores = cpus().length;
  if (cores < 2) log('warning: one core: server and load generator share it, numbers will not mean much');

  const started = Date.now();
  // On a VM, time the hypervisor gives other guests ("steal") makes every figure worse and noisier: reported, so a run taken while it was high is seen as such.
  const ticksAtStart = machineTicks();
  // samples[scenario][server] = results of each round
  const samples = new Map<string, Map<string, Sample[]>>();
  for (const s of scenarios) samples.set(s.id, new Map(servers.map((v) => [v.name, []])));
  const failures: string[] = [];
  /** Samples taken again because too much CPU was stolen, and samples kept although it was (out of retakes). */
  let retaken = 0;
  let stealKept = 0;

  for (let round = 1; round <= o.rounds; round++) {
    for (const sc of scenarios) {
      for (const spec of servers) {
        if (sc.skip?.includes(spec.name) || (exclusive.has(spec.name) && !sc.only?.includes(spec.name))) continue;
        const base = o.quick ? sc.quick : sc.params;
        const measured = o.measureMs !== null && 'measureMs' in base ? { ...base, measureMs: o.measureMs } : base;
        const params = o.warmupMs !== null && 'warmupMs' in measured ? { ...measured, warmupMs: o.warmupMs } : measured;
        const label = `[round ${round}/${o.rounds}] ${sc.id.padEnd(12)} ${spec.name.padEnd(21)}`;
        let sample: Sample;
        let stolen: number;
        for (let take = 0; ; take++) {
          const ticksBefore = machineTicks();
          sample = await takeSample(spec, params, nofile);
          stolen = stolenShare(ticksBefore, machineTicks());
          if (sample.result === null || stolen <= o.maxSteal) break;
          if (take === o.retakes) {
            stealKept++;
            break;
          }
          retaken++;
          log(`${label}CPU stolen ${(100 * stolen).toFixed(0)}% (over ${(100 * o.maxSteal).toFixed(0)}%): taken again`);
        }
        samples.get(sc.id)?.get(spec.name)?.push(sample);
        const r = sample.result;
        let line = label;
        if (r !== null) {
          line += sc.metrics.map((m) => `${m.label} ${fmt(r.metrics[m.key], m.unit)}`).join(', ');
          line += `  (client cpu ${r.clientCpu.toFixed(2)}, CPU stolen ${(100 * stolen).toFixed(0)}%)`;
          if (!r.verification.ok) {
            const msg = `${sc.id} on ${spec.name}, round ${round}: DELIVERY CHECK FAILED: ${r.verification.problems.join('; ')}`;
            failures.push(msg);
            line += `\n  !!! ${msg}`;
          }
          for (const n of r.notes) line += `\n    ${n}`;
        } else {
          const msg = `${sc.id} on ${spec.name}, round ${round}: ${sample.error}`;
          failures.push(msg);
          line += `ERROR ${sample.error}`;
        }
        log(line);
      }
    }
  }

  const minutes = Number(((Date.now() - started) / 60000).toFixed(1));
  const results: Results = {
    machine: machine(),
    settings: { rounds: o.rounds, quick: o.quick, serverCore: 0, loadgenCore: 1, pinned: hasTaskset(), minutes, stolenShare: stolenShare(ticksAtStart, machineTicks()), maxSteal: o.maxSteal, retakes: o.retakes, retaken, stealKept },
    servers: servers.map((s) => ({ name: s.name, command: s.command.map((c) => (c === process.execPath ? 'node' : c)).join(' '), env: s.env })),
    candidate,
    peers,
    scenarios: scenarios.map((sc) => summarize(sc, samples.get(sc.id) ?? new Map<string, Sample[]>(), servers, candidate, peers, o.quick)),
    failures,
  };
  report(results, o.write);
  return failures;
}

interface MetricOut {
  key: string;
  label: string;
  unit: string;
  better: 'higher' | 'lower';
  samples: Record<string, (number | null)[]>;
  medians: Record<string, number | null>;
  /** Largest round over smallest, per server: how much this figure moved between rounds. */
  spread: Record<string, number | null>;
  ratios: Record<string, number | null>;
  targets: Record<string, { atLeast?: number; atMost?: number; met: boolean }>;
}

interface ScenarioOut {
  id: string;
  title: string;
  params: Params;
  metrics: MetricOut[];
  /** Median share of a core the load generator used, per server (near 1: client-bound). */
  clientCpu: Record<string, number | null>;
  /** Delivery verification of each round, per server. */
  verified: Record<string, boolean[]>;
  notes: Record<string, string[]>;
}

interface Results {
  machine: ReturnType<typeof machine>;
  /** stolenShare: the share of the machine's CPU time a hypervisor gave to other guests during the run (absent in older results). */
  settings: { rounds: number; quick: boolean; serverCore: number; loadgenCore: number; pinned: boolean; minutes: number; stolenShare?: number; maxSteal?: number; retakes?: number; retaken?: number; stealKept?: number };
  servers: { name: string; command: string; env: Record<string, string> }[];
  candidate: string;
  peers: string[];
  scenarios: ScenarioOut[];
  failures: string[];
}

const num = (v: number | null | undefined): number => (v === null || v === undefined ? NaN : v);
const orNull = (v: number): number | null => (Number.isFinite(v) ? v : null);

function summarize(sc: ScenarioDef, byServer: Map<string, Sample[]>, servers: ServerSpec[], candidate: string, peers: string[], quick: boolean): ScenarioOut {
  const metrics: MetricOut[] = [];
  for (const m of sc.metrics) {
    const mo: MetricOut = { key: m.key, label: m.label, unit: m.unit, better: m.better, samples: {}, medians: {}, spread: {}, ratios: {}, targets: {} };
    for (const s of servers) {
      // A run whose deliveries did not check out does not count.
      const xs = (byServer.get(s.name) ?? []).map((x) => (x.result !== null && x.result.verification.ok ? x.result.metrics[m.key] : NaN));
      mo.samples[s.name] = xs.map(orNull);
      mo.medians[s.name] = orNull(median(xs));
      const ok = xs.filter((x) => Number.isFinite(x) && x > 0);
      mo.spread[s.name] = ok.length >= 2 ? Math.max(...ok) / Math.min(...ok) : null;
    }
    for (const p of peers) {
      const ratio = num(mo.medians[candidate]) / num(mo.medians[p]);
      mo.ratios[p] = orNull(ratio);
      // The issue's targets are for our server against the ws peers.
      const t = candidate === 'rooms' ? m.targets?.[p] : undefined;
      if (t !== undefined) {
        const met = m.better === 'higher' ? ratio >= t : ratio <= t;
        mo.targets[p] = m.better === 'higher' ? { atLeast: t, met } : { atMost: t, met };
      }
    }
    metrics.push(mo);
  }
  const clientCpu: Record<string, number | null> = {};
  const verified: Record<string, boolean[]> = {};
  const notes: Record<string, string[]> = {};
  for (const s of servers) {
    const list = byServer.get(s.name) ?? [];
    clientCpu[s.name] = orNull(median(list.map((x) => x.result?.clientCpu ?? NaN)));
    verified[s.name] = list.map((x) => x.result?.verification.ok ?? false);
    notes[s.name] = list.flatMap((x, i) => (x.result?.notes ?? []).map((n) => `round ${i + 1}: ${n}`));
  }
  return { id: sc.id, title: sc.title, params: quick ? sc.quick : sc.params, metrics, clientCpu, verified, notes };
}

function tableOf(r: Results): string {
  const names = r.servers.map((s) => s.name);
  // Against the ceiling the column is a share (1 = as good as the bare relay), the same way up for every metric.
  const header = ['scenario', 'metric', ...names, ...r.peers.map((p) => (p === CEILING ? 'share of ceiling' : `${r.candidate}/${p}`))];
  const rows: string[][] = [];
  for (const sc of r.scenarios)
    for (const m of sc.metrics)
      rows.push([
        sc.id,
        m.label,
        ...names.map((n) => fmt(num(m.medians[n]), m.unit)),
        ...r.peers.map((p) => {
          const ratio = p === CEILING && m.better === 'lower' ? 1 / num(m.ratios[p]) : num(m.ratios[p]);
          if (!Number.isFinite(ratio)) return 'n/a';
          const t = m.targets[p];
          const goal = t === undefined ? '' : t.atLeast !== undefined ? ` (≥${t.atLeast} ${t.met ? 'ok' : 'MISSED'})` : ` (≤${t.atMost} ${t.met ? 'ok' : 'MISSED'})`;
          return `${ratio >= 10 ? ratio.toFixed(1) : ratio.toFixed(2)}x${goal}`;
        }),
      ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  const mach = r.machine;
  const st = r.settings;
  return [
    `${mach.cpu}, ${mach.cores} cores, Node ${mach.node}, ${mach.date.slice(0, 10)}; medians of ${st.rounds} round(s)${st.quick ? ' (quick)' : ''}, ${st.minutes} min${stolenNote(st.stolenShare)}${retakeNote(st)}`,
    line(header),
    line(header.map((_, i) => '-'.repeat(widths[i]))),
    ...rows.map(line),
  ].join('\n');
}

function chartOf(r: Results): string | null {
  const groups: ChartGroup[] = [];
  for (const sc of r.scenarios)
    for (const m of sc.metrics) {
      if (r.peers.length === 0) continue;
      const g: ChartGroup = { label: `${sc.id} · ${m.label}`, bars: [] };
      for (const p of r.peers) {
        const ratio = num(m.ratios[p]);
        // Rooms before the cluster runs in fan-out 1 -> 100 only: no empty bar elsewhere.
        if (p === BEFORE_CLUSTER && !Number.isFinite(ratio)) continue;
        const t = m.targets[p];
        const target = t === undefined ? null : t.atLeast !== undefined ? t.atLeast : 1 / num(t.atMost);
        g.bars.push({ peer: p, better: m.better === 'higher' ? ratio : 1 / ratio, target, yardstick: p === CEILING });
      }
      groups.push(g);
    }
  if (groups.length === 0) return null;
  const mach = r.machine;
  const st = r.settings;
  return renderChart({
    title: `${r.candidate} against ${r.peers.join(' and ')}: times better (medians of ${st.rounds} round${st.rounds > 1 ? 's' : ''}${st.quick ? ', quick' : ''})`,
    subtitle: `${mach.cpu}, ${mach.cores} cores · Node ${mach.node} · ${mach.os} · ${mach.date.slice(0, 10)} · server on core ${st.serverCore}, load generator on core ${st.loadgenCore}`,
    groups,
  });
}

function report(r: Results, write: boolean): void {
  const table = tableOf(r);
  process.stdout.write(`\n${table}\n`);
  const busy = r.scenarios.flatMap((s) =>
    Object.entries(s.clientCpu)
      .filter(([, v]) => num(v) > 0.9)
      .map(([n, v]) => `${s.id}/${n} (${num(v).toFixed(2)})`),
  );
  if (r.settings.rounds >= 2) {
    // Run-to-run variance of each scenario's first figure: a server whose figure swings is itself a finding.
    const lines = r.scenarios.map((sc) => {
      const m = sc.metrics[0]!;
      const cells = Object.entries(m.spread ?? {}).map(([n, v]) => `${n} ${v === null ? 'n/a' : `${v.toFixed(2)}x`}`);
      return `  ${sc.id} · ${m.label}: ${cells.join(', ')}`;
    });
    process.stdout.write(`\nspread between rounds (largest / smallest):\n${lines.join('\n')}\n`);
  }
  if (busy.length > 0) process.stdout.write(`\nload generator near one full core in: ${busy.join(', ')} — there the client may be the limit; CPU per message stays honest.\n`);
  if (!write) return;
  writeFileSync(join(ROOT, 'bench/results.json'), JSON.stringify({ ...r, table }, null, 2) + '\n');
  const svg = chartOf(r);
  if (svg !== null) writeFileSync(join(ROOT, 'docs/bench.svg'), svg);
  process.stdout.write(`\nwrote bench/results.json${svg !== null ? ' and docs/bench.svg' : ''}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

/** Experiments: our server again under other names, with settings or another build (BENCH_VARIANTS, above). */
function variantSpecs(list: string): ServerSpec[] {
  const variants = list.split(',').filter(Boolean);
  if (variants.length === 0) return [];
  const ours = oursSpec(); // builds dist/ if stale: once, not per variant
  return variants.map((variant) => {
    const [name, ...settings] = variant.split(':');
    // VAR=value, the value being everything after the first '=' (NODE_OPTIONS=--flag=value).
    const env = Object.fromEntries(settings.map((pair) => /^([^=]*)=(.*)$/s.exec(pair)?.slice(1, 3) ?? [pair, '']));
    // MAIN=path: another build; NODE_ARGS='--flag ...': Node/V8 flags for this variant alone.
    const { MAIN: main, NODE_ARGS: nodeArgs, ...rest } = env;
    const script = main || 'dist/main.js';
    const command = ours.command.flatMap((arg) => (arg === 'dist/main.js' ? [...(nodeArgs ?? '').split(' ').filter(Boolean), script] : [arg]));
    return { ...ours, name: name!, command, env: { ...ours.env, ...rest } };
  });
}
