// The cluster benchmark: three server processes over one Redis, ours against
// Socket.IO 4 with @socket.io/redis-adapter (bench/peers/socketio-cluster.ts,
// clients forced to the websocket transport), same payloads (64-byte text), same
// Redis (a throwaway redis-server of this run), same cores. The two systems use
// different client libraries, so deliveries/s partly measures the clients; the
// figure that decides is server CPU per delivery (or per message), summed over
// the three processes and Redis (/proc/PID/stat), with latency at a fixed rate.
//
// Scenarios:
// - one-room: 300 members spread over the 3 processes, one sender, a window of
//   messages in flight (one leaves it when all 299 receivers have it).
// - many-rooms: 300 rooms x 4 members, each room spread over the processes,
//   members sending in turn at a fixed total rate; latency from send to receipt.
//
//   npx tsx bench/cluster.ts [--rounds N] [--quick] [--only one-room,many-rooms] [--systems rooms,socket.io] [--no-write]

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { io, type Socket as SioSocket } from 'socket.io-client';
import { WebSocket } from 'ws';
import { cpuMicros } from './lib/proc';
import { OURS_ENV, ROOT, hardNofile, startServer, type RunningServer, type ServerSpec } from './lib/servers';

interface Options {
  rounds: number;
  quick: boolean;
  write: boolean;
  only: string[] | null;
  systems: string[] | null;
}

function parseArgs(argv: readonly string[]): Options {
  const o: Options = { rounds: 3, quick: false, write: true, only: null, systems: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--rounds') o.rounds = Math.max(1, Number(argv[++i]) || 1);
    else if (a === '--quick') o.quick = true;
    else if (a === '--no-write') o.write = false;
    else if (a === '--only') o.only = (argv[++i] ?? '').split(',');
    else if (a === '--systems') o.systems = (argv[++i] ?? '').split(',');
    else if (a === '--help' || a === '-h') {
      process.stdout.write('npx tsx bench/cluster.ts [--rounds N] [--quick] [--only one-room,many-rooms] [--systems rooms,socket.io] [--no-write]\n');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (o.quick && !argv.includes('--rounds')) o.rounds = 1;
  return o;
}

const NODES = 3;
const PAYLOAD_BYTES = 64;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const log = (s: string): void => void process.stderr.write(`${s}\n`);

type System = 'rooms' | 'socket.io';

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

interface Cpu {
  pids: number[];
  read(): number;
  /** per process since the last read(): the three nodes, then Redis */
  split(): number[];
}

function cpuOf(pids: number[]): Cpu {
  let last = pids.map(() => 0);
  return {
    pids,
    read: () => {
      const now = pids.map((pid) => cpuMicros(pid));
      const total = now.reduce((a, b) => a + b, 0);
      const before = last;
      last = now;
      void before;
      return total;
    },
    split: () => {
      const now = pids.map((pid) => cpuMicros(pid));
      const delta = now.map((v, i) => v - last[i]!);
      return delta;
    },
  };
}

interface OneRoomResult {
  deliveriesPerSec: number;
  cpuUsPerDelivery: number;
}

async function oneRoom(system: System, ports: number[], cpu: Cpu, quick: boolean): Promise<OneRoomResult> {
  const members = 300;
  const window = 64;
  const warmup = quick ? 200 : 500;
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
  const cpu0 = cpu.read();
  const t0 = performance.now();
  await run(measured);
  const seconds = (performance.now() - t0) / 1000;
  const split = cpu.split();
  const cpuUs = cpu.read() - cpu0;
  log(`  CPU ms during the measurement, nodes then Redis: ${split.map((us) => Math.round(us / 1000)).join(', ')}`);
  for (const client of clients) client.close();
  const deliveries = measured * receivers;
  return { deliveriesPerSec: deliveries / seconds, cpuUsPerDelivery: cpuUs / deliveries };
}

interface ManyRoomsResult {
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
  const warmupMs = quick ? 500 : 1500;
  const measureMs = quick ? 1500 : 5000;
  const latencies: number[] = [];
  let measuring = false;
  let delivered = 0;
  void measuring;
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
  const cpu0 = cpu.read();
  await sleep(measureMs);
  lastMeasured = seq;
  const split = cpu.split();
  const cpuUs = cpu.read() - cpu0;
  log(`  CPU ms during the measurement, nodes then Redis: ${split.map((us) => Math.round(us / 1000)).join(', ')}`);
  clearInterval(tick);
  await sleep(1000); // the last ones drain
  measuring = false;
  for (const client of clients) client.close();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return { rate, achievedRate: sentMeasured / (measureMs / 1000), p50Us: at(0.5), p99Us: at(0.99), cpuUsPerMessage: cpuUs / sentMeasured, delivered, expected: sentMeasured * (perRoom - 1) };
}

async function startRedis(port: number, dir: string): Promise<ChildProcess> {
  const proc = spawn('/usr/bin/redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    probe.on('error', () => undefined);
    const ok = await probe.connect().then(() => probe.ping(), () => '');
    probe.disconnect();
    if (ok === 'PONG') return proc;
    await sleep(50);
  }
  proc.kill('SIGKILL');
  throw new Error('the throwaway redis-server did not answer');
}

function specFor(system: System, redisUrl: string, cluster: string): ServerSpec {
  const node = (script: string) => [process.execPath, '--import', 'tsx', script, '--port', '0'];
  return system === 'rooms'
    ? { name: 'rooms', command: [...(process.env.BENCH_PROFILE ? [process.execPath, '--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`, '--import', 'tsx', 'src/main.ts', '--port', '0'] : node('src/main.ts')), '--host', '127.0.0.1'], env: { ...OURS_ENV, REDIS_URL: redisUrl, CLUSTER: cluster }, dataDir: true }
    : { name: 'socket.io', command: node('bench/peers/socketio-cluster.ts'), env: { REDIS_URL: redisUrl, CLUSTER: cluster }, dataDir: false };
}

const median = (xs: number[]): number => {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return v.length === 0 ? NaN : v.length % 2 ? v[v.length >> 1]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
};

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const dir = mkdtempSync(join(tmpdir(), 'rooms-bench-redis-'));
  const redisPort = 20000 + Math.floor(Math.random() * 20000);
  const redis = await startRedis(redisPort, dir);
  const redisUrl = `redis://127.0.0.1:${redisPort}/0`;
  const nofile = Math.min(hardNofile(), 8192);
  const systems = (['rooms', 'socket.io'] as System[]).filter((s) => o.systems === null || o.systems.includes(s));
  const results: Record<System, { oneRoom: OneRoomResult[]; manyRooms: ManyRoomsResult[] }> = { rooms: { oneRoom: [], manyRooms: [] }, 'socket.io': { oneRoom: [], manyRooms: [] } };
  try {
    for (let round = 1; round <= o.rounds; round++) {
      for (const system of systems) {
        for (const scenario of (['one-room', 'many-rooms'] as const).filter((id) => o.only === null || o.only.includes(id))) {
          const servers: RunningServer[] = [];
          try {
            for (let i = 0; i < NODES; i++) servers.push(await startServer(specFor(system, redisUrl, `bench-${round}`), { nofile, core: null }));
            const cpu = cpuOf([...servers.map((s) => s.pid), redis.pid ?? 0]);
            const ports = servers.map((s) => s.port);
            if (scenario === 'one-room') {
              const r = await oneRoom(system, ports, cpu, o.quick);
              results[system].oneRoom.push(r);
              log(`[round ${round}] one-room   ${system.padEnd(10)} ${Math.round(r.deliveriesPerSec)} deliveries/s, ${r.cpuUsPerDelivery.toFixed(2)} µs CPU/delivery (3 nodes + Redis)`);
            } else {
              const r = await manyRooms(system, ports, cpu, o.quick);
              results[system].manyRooms.push(r);
              const limited = r.achievedRate < 0.9 * r.rate ? ' (LOAD GENERATOR WAS THE LIMIT: latency is the client\'s)' : '';
              log(`[round ${round}] many-rooms ${system.padEnd(10)} ${Math.round(r.achievedRate)}/${r.rate} sends/s${limited}: p50 ${Math.round(r.p50Us)} µs, p99 ${Math.round(r.p99Us)} µs, ${r.cpuUsPerMessage.toFixed(1)} µs CPU/message, delivered ${r.delivered}/${r.expected}`);
            }
          } finally {
            for (const s of servers) await s.stop();
          }
        }
      }
    }
  } finally {
    redis.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
  const row = (system: System) => ({
    oneRoomDeliveriesPerSec: median(results[system].oneRoom.map((r) => r.deliveriesPerSec)),
    oneRoomCpuUsPerDelivery: median(results[system].oneRoom.map((r) => r.cpuUsPerDelivery)),
    manyRoomsP99Us: median(results[system].manyRooms.map((r) => r.p99Us)),
    manyRoomsP50Us: median(results[system].manyRooms.map((r) => r.p50Us)),
    manyRoomsCpuUsPerMessage: median(results[system].manyRooms.map((r) => r.cpuUsPerMessage)),
    manyRoomsAchievedSendsPerSec: median(results[system].manyRooms.map((r) => r.achievedRate)),
  });
  const ours = row('rooms');
  const peer = row('socket.io');
  const lines = [
    `cluster benchmark: 3 processes + Redis, ${cpus().length} cores, Node ${process.version}, medians of ${o.rounds} round(s)${o.quick ? ' (quick)' : ''}`,
    `metric                                   rooms      socket.io  rooms/socket.io`,
    ...(Object.keys(ours) as Array<keyof typeof ours>).map((k) => `${k.padEnd(40)} ${ours[k].toFixed(2).padStart(10)} ${peer[k].toFixed(2).padStart(10)} ${(ours[k] / peer[k]).toFixed(2).padStart(8)}x`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (o.write) writeFileSync(join(ROOT, 'bench/cluster-results.json'), `${JSON.stringify({ date: new Date().toISOString(), rounds: o.rounds, quick: o.quick, rooms: ours, socketio: peer, samples: results, table: lines.join('\n') }, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/cluster: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
