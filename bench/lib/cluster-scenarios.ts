// The cluster scenarios, shared by `npm run bench` (its last section) and
// `npm run bench:cluster`: three server processes over one throwaway Redis, ours
// against Socket.IO 4 with @socket.io/redis-adapter, server CPU summed over the
// processes and Redis (/proc/PID/stat), latency at a fixed rate.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { io, type Socket as SioSocket } from 'socket.io-client';
import { WebSocket } from 'ws';
import { cpuMicros, machineTicks, stolenNote, stolenShare } from './proc';
import { OURS_ENV, hardNofile, startServer, type RunningServer, type ServerSpec } from './servers';

export const CLUSTER_SCENARIOS = ['one-room', 'many-rooms'] as const;
export type ClusterScenario = (typeof CLUSTER_SCENARIOS)[number];
export const CLUSTER_SYSTEMS = ['rooms', 'socket.io'] as const;

export interface ClusterOptions {
  rounds: number;
  quick: boolean;
  scenarios: readonly ClusterScenario[];
  systems: readonly System[];
}

const NODES = 3;
const PAYLOAD_BYTES = 64;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const log = (s: string): void => void process.stderr.write(`${s}\n`);

export type System = (typeof CLUSTER_SYSTEMS)[number];

interface Member {
  send(text: string): void;
  close(): void;
}

function payload(seq: number, sentAt: number): string {
  const head = `${seq}|${sentAt.toFixed(3)}|`;
  return head + 'x'.repeat(Math.max(0, PAYLOAD_BYTES - head.length));
}

function parse(text: string): { seq: number; sentAt: number } {
  const a = text.indexOf('|');
  const b = text.indexOf('|', a + 1);
  return { seq: Number(text.slice(0, a)), sentAt: Number(text.slice(a + 1, b)) };
}

function connect(system: System, port: number, room: string, name: string, onMessage: (text: string) => void): Promise<Member> {
  return new Promise((resolve, reject) => {
    if (system === 'rooms') {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/?room=${room}&name=${name}`, { perMessageDeflate: false });
      ws.on('message', (data) => onMessage(data.toString()));
      ws.once('open', () => resolve({ send: (t) => ws.send(t), close: () => ws.terminate() }));
      ws.once('error', reject);
      return;
    }
    const socket: SioSocket = io(`http://127.0.0.1:${port}`, { transports: ['websocket'], query: { room }, forceNew: true, reconnection: false });
    socket.on('m', (data: string) => onMessage(data));
    socket.once('connect', () => resolve({ send: (t) => socket.emit('m', t), close: () => socket.disconnect() }));
    socket.once('connect_error', reject);
  });
}

/** Connects in batches, so neither system sees a thundering herd of handshakes. */
async function connectAll<T>(items: readonly T[], open: (item: T) => Promise<Member>): Promise<Member[]> {
  const out: Member[] = [];
  for (let i = 0; i < items.length; i += 50) out.push(...(await Promise.all(items.slice(i, i + 50).map(open))));
  return out;
}

/** Server CPU of the three nodes and Redis, and this process's own (the load generator's). */
class Cpu {
  private at: number[] = [];
  private client = process.cpuUsage();
  private wall = performance.now();

  constructor(private readonly pids: readonly number[]) {}

  start(): void {
    this.at = this.pids.map((pid) => cpuMicros(pid));
    this.client = process.cpuUsage();
    this.wall = performance.now();
  }

  /** Since start(): µs per process (the nodes, then Redis), and the share of one core this client used. */
  stop(): { perProcess: number[]; total: number; clientShare: number } {
    const perProcess = this.pids.map((pid, i) => cpuMicros(pid) - this.at[i]!);
    const used = process.cpuUsage(this.client);
    const clientShare = (used.user + used.system) / 1000 / (performance.now() - this.wall);
    log(`  CPU ms during the measurement, nodes then Redis: ${perProcess.map((us) => Math.round(us / 1000)).join(', ')}; load generator ${Math.round(clientShare * 100)}% of a core`);
    return { perProcess, total: perProcess.reduce((a, b) => a + b, 0), clientShare };
  }
}

/** Above this share of a core the load generator (one Node process) was the limit, not the servers. */
export const CLIENT_BOUND = 0.9;

export interface OneRoomResult {
  deliveriesPerSec: number;
  cpuUsPerDelivery: number;
  /** share of one core the load generator used while measuring */
  clientShare: number;
}

async function oneRoom(system: System, ports: number[], cpu: Cpu, quick: boolean): Promise<OneRoomResult> {
  const members = 300;
  const window = 64;
  // Warm-up long enough for V8 to have optimised both servers' hot paths (see manyRooms).
  const warmup = quick ? 200 : 2000;
  const measured = quick ? 1000 : 5000;
  const receivers = members - 1;
  const counts = new Map<number, number>();
  let completed = 0;
  let release: (() => void) | null = null;
  const onMessage = (text: string) => {
    const { seq } = parse(text);
    const n = (counts.get(seq) ?? 0) + 1;
    if (n === receivers) {
      counts.delete(seq);
      completed++;
      release?.();
    } else counts.set(seq, n);
  };
  const room = `one-${Date.now().toString(36)}`;
  const clients = await connectAll([...Array(members).keys()], (i) => connect(system, ports[i % NODES]!, room, `m${i}`, onMessage));
  await sleep(500);
  const sender = clients[0]!;
  let sent = 0;
  const run = async (total: number) => {
    const goal = completed + total;
    const last = sent + total;
    while (completed < goal) {
      while (sent < last && sent - completed < window) sender.send(payload(sent++, performance.now()));
      await new Promise<void>((resolve) => {
        release = resolve;
        setTimeout(resolve, 5000);
      });
      release = null;
    }
  };
  await run(warmup);
  cpu.start();
  const t0 = performance.now();
  await run(measured);
  const seconds = (performance.now() - t0) / 1000;
  const used = cpu.stop();
  for (const client of clients) client.close();
  const deliveries = measured * receivers;
  return { deliveriesPerSec: deliveries / seconds, cpuUsPerDelivery: used.total / deliveries, clientShare: used.clientShare };
}

export interface ManyRoomsResult {
  rate: number;
  /** sends/s actually made: well under `rate` means the load generator was the limit */
  achievedRate: number;
  p50Us: number;
  p99Us: number;
  cpuUsPerMessage: number;
  delivered: number;
  expected: number;
}

async function manyRooms(system: System, ports: number[], cpu: Cpu, quick: boolean): Promise<ManyRoomsResult> {
  const rooms = 300;
  const perRoom = 4;
  const rate = quick ? 1500 : 3000;
  // Profiles (perf, cpu-clock) of our nodes showed V8's optimising compiler at about a third of
  // their CPU in the first seconds of sending, and under 5% from about 5 s on: a shorter warm-up
  // measures the JIT warming up, not the cost of a message. Both systems get the same.
  const warmupMs = quick ? 500 : 6000;
  const measureMs = quick ? 1500 : 5000;
  const latencies: number[] = [];
  let measuring = false;
  let delivered = 0;
  let firstMeasured = Number.POSITIVE_INFINITY;
  let lastMeasured = Number.POSITIVE_INFINITY;
  const onMessage = (text: string) => {
    const { seq, sentAt } = parse(text);
    if (seq < firstMeasured || seq >= lastMeasured) return;
    delivered++;
    latencies.push((performance.now() - sentAt) * 1000);
  };
  const tag = Date.now().toString(36);
  const slots = [...Array(rooms * perRoom).keys()];
  const clients = await connectAll(slots, (i) => {
    const r = Math.floor(i / perRoom);
    // Member j of room r on node (r + j) % 3: every room spans the nodes.
    return connect(system, ports[(r + (i % perRoom)) % NODES]!, `many-${tag}-${r}`, `m${i % perRoom}`, onMessage);
  });
  await sleep(500);
  let next = 0;
  let seq = 0;
  let sentMeasured = 0;
  const perTick = rate / 100;
  let owed = 0;
  const tick = setInterval(() => {
    owed += perTick;
    while (owed >= 1) {
      owed--;
      clients[next]!.send(payload(seq++, performance.now()));
      if (measuring) sentMeasured++;
      next = (next + 1) % clients.length;
    }
  }, 10);
  await sleep(warmupMs);
  measuring = true;
  firstMeasured = seq;
  cpu.start();
  await sleep(measureMs);
  lastMeasured = seq;
  const cpuUs = cpu.stop().total;
  clearInterval(tick);
  await sleep(1000); // the last ones drain
  measuring = false;
  for (const client of clients) client.close();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return { rate, achievedRate: sentMeasured / (measureMs / 1000), p50Us: at(0.5), p99Us: at(0.99), cpuUsPerMessage: cpuUs / sentMeasured, delivered, expected: sentMeasured * (perRoom - 1) };
}

/** A throwaway redis-server on a random port (another one if that port was taken). */
async function startRedis(dir: string): Promise<{ proc: ChildProcess; port: number }> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const proc = spawn('/usr/bin/redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
    let exited = false;
    proc.once('exit', () => (exited = true));
    for (let i = 0; i < 200 && !exited; i++) {
      const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
      probe.on('error', () => undefined);
      const ok = await probe.connect().then(() => probe.ping(), () => '');
      probe.disconnect();
      if (ok === 'PONG') return { proc, port };
      await sleep(50);
    }
    proc.kill('SIGKILL');
  }
  throw new Error('no throwaway redis-server answered (3 ports tried)');
}

/**
 * Ours as `npm start` runs it (dist/, the same as the single-process benchmark);
 * BENCH_PROFILE=DIR adds --cpu-prof into DIR, for profiling the three nodes.
 */
function specFor(system: System, ours: ServerSpec, redisUrl: string, cluster: string): ServerSpec {
  if (system === 'socket.io') return { name: 'socket.io', command: [process.execPath, '--import', 'tsx', 'bench/peers/socketio-cluster.ts', '--port', '0'], env: { REDIS_URL: redisUrl, CLUSTER: cluster }, dataDir: false };
  const profile = process.env.BENCH_PROFILE;
  const [node, ...args] = ours.command;
  return { ...ours, command: profile ? [node!, '--cpu-prof', `--cpu-prof-dir=${profile}`, ...args] : ours.command, env: { ...OURS_ENV, REDIS_URL: redisUrl, CLUSTER: cluster } };
}

export const median = (xs: number[]): number => {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return v.length === 0 ? NaN : v.length % 2 ? v[v.length >> 1]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
};


export interface ClusterRow {
  oneRoomDeliveriesPerSec: number;
  oneRoomCpuUsPerDelivery: number;
  manyRoomsP99Us: number;
  manyRoomsP50Us: number;
  manyRoomsCpuUsPerMessage: number;
  manyRoomsAchievedSendsPerSec: number;
}

export interface ClusterResults {
  date: string;
  rounds: number;
  quick: boolean;
  minutes: number;
  /** The share of the machine's CPU time a hypervisor gave to other guests during the run (absent in older results). */
  stolenShare?: number;
  rooms: ClusterRow;
  socketio: ClusterRow;
  samples: Record<System, { oneRoom: OneRoomResult[]; manyRooms: ManyRoomsResult[] }>;
  table: string;
}

/** Every selected scenario against every selected system, in interleaved rounds, over one throwaway Redis. */
export async function runCluster(o: ClusterOptions, ours: ServerSpec): Promise<ClusterResults> {
  const started = Date.now();
  const ticksAtStart = machineTicks();
  const dir = mkdtempSync(join(tmpdir(), 'rooms-bench-redis-'));
  const redis = await startRedis(dir).catch((err: unknown) => {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  const redisUrl = `redis://127.0.0.1:${redis.port}/0`;
  const nofile = Math.min(hardNofile(), 8192);
  const samples: ClusterResults['samples'] = { rooms: { oneRoom: [], manyRooms: [] }, 'socket.io': { oneRoom: [], manyRooms: [] } };
  try {
    for (let round = 1; round <= o.rounds; round++) {
      for (const system of o.systems) {
        for (const scenario of o.scenarios) {
          const servers: RunningServer[] = [];
          try {
            for (let i = 0; i < NODES; i++) servers.push(await startServer(specFor(system, ours, redisUrl, `bench-${round}`), { nofile, core: null }));
            const cpu = new Cpu([...servers.map((s) => s.pid), redis.proc.pid ?? 0]);
            const ports = servers.map((s) => s.port);
            if (scenario === 'one-room') {
              const r = await oneRoom(system, ports, cpu, o.quick);
              samples[system].oneRoom.push(r);
              const limited = r.clientShare > CLIENT_BOUND ? ' (LOAD GENERATOR WAS THE LIMIT)' : '';
              log(`[cluster ${round}/${o.rounds}] one-room   ${system.padEnd(10)} ${Math.round(r.deliveriesPerSec)} deliveries/s${limited}, ${r.cpuUsPerDelivery.toFixed(2)} µs CPU/delivery (3 nodes + Redis)`);
            } else {
              const r = await manyRooms(system, ports, cpu, o.quick);
              samples[system].manyRooms.push(r);
              const limited = r.achievedRate < 0.9 * r.rate ? " (LOAD GENERATOR WAS THE LIMIT: latency is the client's)" : '';
              log(`[cluster ${round}/${o.rounds}] many-rooms ${system.padEnd(10)} ${Math.round(r.achievedRate)}/${r.rate} sends/s${limited}: p50 ${Math.round(r.p50Us)} µs, p99 ${Math.round(r.p99Us)} µs, ${r.cpuUsPerMessage.toFixed(1)} µs CPU/message, delivered ${r.delivered}/${r.expected}`);
            }
          } finally {
            for (const s of servers) await s.stop();
          }
        }
      }
    }
  } finally {
    redis.proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
  const row = (system: System): ClusterRow => ({
    oneRoomDeliveriesPerSec: median(samples[system].oneRoom.map((r) => r.deliveriesPerSec)),
    oneRoomCpuUsPerDelivery: median(samples[system].oneRoom.map((r) => r.cpuUsPerDelivery)),
    manyRoomsP99Us: median(samples[system].manyRooms.map((r) => r.p99Us)),
    manyRoomsP50Us: median(samples[system].manyRooms.map((r) => r.p50Us)),
    manyRoomsCpuUsPerMessage: median(samples[system].manyRooms.map((r) => r.cpuUsPerMessage)),
    manyRoomsAchievedSendsPerSec: median(samples[system].manyRooms.map((r) => r.achievedRate)),
  });
  const results: Omit<ClusterResults, 'table'> = { date: new Date().toISOString(), rounds: o.rounds, quick: o.quick, minutes: Number(((Date.now() - started) / 60000).toFixed(1)), stolenShare: stolenShare(ticksAtStart, machineTicks()), rooms: row('rooms'), socketio: row('socket.io'), samples };
  return { ...results, table: clusterTable(results) };
}

interface ClusterLine {
  key: keyof ClusterRow;
  label: string;
  /** the issue's target, as rooms/socket.io at most */
  atMost?: number;
}

const LINES: ClusterLine[] = [
  { key: 'oneRoomCpuUsPerDelivery', label: 'one-room: server CPU µs/delivery (3 nodes + Redis)', atMost: 0.2 },
  { key: 'oneRoomDeliveriesPerSec', label: 'one-room: deliveries/s' },
  { key: 'manyRoomsCpuUsPerMessage', label: 'many-rooms: server CPU µs/message (3 nodes + Redis)', atMost: 0.5 },
  { key: 'manyRoomsP99Us', label: 'many-rooms: p99 latency µs', atMost: 0.5 },
  { key: 'manyRoomsP50Us', label: 'many-rooms: p50 latency µs' },
  { key: 'manyRoomsAchievedSendsPerSec', label: 'many-rooms: sends/s held' },
];

/** Where a system's load generator was the limit (median of its rounds), per scenario. */
function clientBound(samples: ClusterResults['samples'], system: System): { oneRoom: boolean; manyRooms: boolean } {
  const s = samples[system];
  return {
    oneRoom: median(s.oneRoom.map((r) => r.clientShare)) > CLIENT_BOUND,
    manyRooms: median(s.manyRooms.map((r) => r.achievedRate / r.rate)) < 0.9,
  };
}

export function clusterTable(r: Omit<ClusterResults, 'table'>): string {
  const cell = (v: number) => (!Number.isFinite(v) ? 'n/a' : v >= 1000 ? Math.round(v).toString() : v.toFixed(2));
  const bound = { rooms: clientBound(r.samples, 'rooms'), 'socket.io': clientBound(r.samples, 'socket.io') };
  // A scenario left out by --only leaves no rows.
  const rows = LINES.filter(({ key }) => Number.isFinite(r.rooms[key]) || Number.isFinite(r.socketio[key])).map(({ key, label, atMost }) => {
    const ours = r.rooms[key];
    const peer = r.socketio[key];
    const ratio = ours / peer;
    const goal = atMost === undefined || !Number.isFinite(ratio) ? '' : ` (≤${atMost} ${ratio <= atMost ? 'ok' : 'MISSED'})`;
    const scenario = key.startsWith('oneRoom') ? 'oneRoom' : 'manyRooms';
    const limits = (['rooms', 'socket.io'] as const).filter((s) => bound[s][scenario]);
    const note = limits.length > 0 && (key === 'oneRoomDeliveriesPerSec' || key === 'manyRoomsAchievedSendsPerSec' || key === 'manyRoomsP99Us') ? `  load generator was the limit: ${limits.join(', ')}` : '';
    return `${label.padEnd(52)} ${cell(ours).padStart(10)} ${cell(peer).padStart(10)} ${(Number.isFinite(ratio) ? `${ratio.toFixed(2)}x${goal}` : 'n/a').padStart(16)}${note}`;
  });
  return [
    `cluster: 3 processes + Redis, ${cpus().length} cores, Node ${process.version}, ${r.date.slice(0, 10)}; medians of ${r.rounds} round(s)${r.quick ? ' (quick)' : ''}, ${r.minutes} min${stolenNote(r.stolenShare)}`,
    `${'metric'.padEnd(52)} ${'rooms'.padStart(10)} ${'socket.io'.padStart(10)} ${'rooms/socket.io'.padStart(16)}`,
    ...rows,
  ].join('\n');
}
