// permessage-deflate on and off, for the rooms server and for a `ws` relay
// (bench/peers/ws-server.ts), in interleaved rounds (for each round: every
// configuration once, a fresh server process per run). Scenario: 1 sender → N
// receivers in one room, ~4 KiB compressible JSON text messages (a generated
// location/event log), a bounded window of messages in flight (a message leaves the
// window when every receiver has it). Every client is a `ws` client offering
// permessage-deflate (threshold 0, client context takeover kept).
//
// Metrics (medians over rounds): messages delivered per second (deliveries, i.e.
// messages × receivers), server CPU µs per delivery (/proc/PID/stat utime+stime of
// the server process), and wire bytes read by the receivers per delivered message
// (raw socket bytes, so framing and compression both show). The clients' own CPU
// is reported too: all receivers inflate in this one process, which can bound
// deliveries/s before the server does. Every receiver must get
// every message, in order and byte-identical, or the run fails.
//
//   npx tsx bench/deflate.ts [--rounds N] [--messages N] [--receivers N] [--window N] [--no-write]
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { cpuMicros } from './lib/proc';
import { ROOT, hasTaskset } from './lib/servers';

interface Options {
  rounds: number;
  messages: number;
  warmup: number;
  receivers: number;
  window: number;
  messageBytes: number;
  write: boolean;
}

function parseArgs(argv: readonly string[]): Options {
  const o: Options = { rounds: 3, messages: 2000, warmup: 200, receivers: 20, window: 16, messageBytes: 4096, write: true };
  const int = (i: number, name: string): number => {
    const v = Number(argv[i + 1]);
    if (!Number.isInteger(v) || v < 1) throw new Error(`${name} needs a positive integer`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--rounds') o.rounds = int(i++, a);
    else if (a === '--messages') o.messages = int(i++, a);
    else if (a === '--receivers') o.receivers = int(i++, a);
    else if (a === '--window') o.window = int(i++, a);
    else if (a === '--no-write') o.write = false;
    else if (a === '--help' || a === '-h') {
      process.stdout.write('npx tsx bench/deflate.ts [--rounds N] [--messages N] [--receivers N] [--window N] [--no-write]\n');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

interface Config {
  id: string;
  server: 'rooms' | 'ws';
  deflate: boolean;
}

const CONFIGS: readonly Config[] = [
  { id: 'rooms deflate=on', server: 'rooms', deflate: true },
  { id: 'rooms deflate=off', server: 'rooms', deflate: false },
  { id: 'ws deflate=on', server: 'ws', deflate: true },
  { id: 'ws deflate=off', server: 'ws', deflate: false },
];

// ---------------------------------------------------------------- messages

/** Deterministic PRNG (mulberry32), so every configuration sends the same bytes. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const KINDS = ['position', 'position', 'position', 'checkpoint', 'speed_alert', 'door_open', 'door_close', 'fuel'];
const VEHICLES = Array.from({ length: 12 }, (_, i) => `truck-${String(100 + i * 7)}`);

/** One ~`bytes` JSON text message: a batch of fleet location/event records, `seq` first. */
function makeMessage(seq: number, bytes: number, rand: () => number): string {
  const events: string[] = [];
  let t = 1_764_200_000_000 + seq * 5000;
  let head = `{"seq":${seq},"type":"fleet.events","batch":"b-${seq.toString(36)}","events":[`;
  const tail = ']}';
  let size = head.length + tail.length;
  for (;;) {
    t += Math.floor(rand() * 900) + 100;
    const kind = KINDS[Math.floor(rand() * KINDS.length)];
    const vehicle = VEHICLES[Math.floor(rand() * VEHICLES.length)];
    const lat = (52.3 + rand() * 0.2).toFixed(6);
    const lon = (4.8 + rand() * 0.2).toFixed(6);
    const speed = (rand() * 90).toFixed(1);
    const heading = Math.floor(rand() * 360);
    const e = `{"ts":${t},"vehicle":"${vehicle}","kind":"${kind}","lat":${lat},"lon":${lon},"speed_kmh":${speed},"heading":${heading},"driver":"d-${vehicle.slice(6)}","status":"${rand() < 0.9 ? 'ok' : 'warn'}"}`;
    const add = e.length + (events.length > 0 ? 1 : 0);
    if (size + add > bytes) break;
    events.push(e);
    size += add;
  }
  head += events.join(',');
  const pad = bytes - head.length - tail.length;
  return head + (pad > 0 ? ' '.repeat(pad) : '') + tail;
}

// ---------------------------------------------------------------- servers

interface Running {
  child: ChildProcess;
  pid: number;
  port: number;
  dataDir: string | null;
}

const LISTENING = /listening on ws:\/\/[^\s:"]+:(\d+)/;
const PIN = hasTaskset() && cpus().length >= 2;

function startServer(config: Config): Promise<Running> {
  let argv: string[];
  let dataDir: string | null = null;
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (config.server === 'rooms') {
    dataDir = mkdtempSync(join(tmpdir(), 'rooms-deflate-bench-'));
    argv = [process.execPath, '--import', 'tsx', 'src/main.ts', '--port', '0', '--host', '127.0.0.1'];
    Object.assign(env, {
      LOG_LEVEL: 'warn',
      MESSAGES_PER_SECOND: '1000000',
      MESSAGE_BURST: '1000000',
      MAX_CONNECTIONS_PER_ADDRESS: '100000',
      JOINS_PER_MINUTE: '1000000',
      DATA_DIR: dataDir,
      DEFLATE: config.deflate ? 'on' : 'off',
    });
  } else {
    argv = [process.execPath, '--import', 'tsx', 'bench/peers/ws-server.ts', '--port', '0', '--host', '127.0.0.1', '--deflate', config.deflate ? 'on' : 'off'];
  }
  // taskset execs the command, so the child's pid is the server's.
  if (PIN) argv = ['taskset', '-c', '0', ...argv];
  const child = spawn(argv[0], argv.slice(1), { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => fail(new Error(`${config.id}: no listening line within 20 s: ${(out + err).slice(-500)}`)), 20_000);
    const fail = (e: Error): void => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      if (dataDir !== null) rmSync(dataDir, { recursive: true, force: true });
      reject(e);
    };
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = LISTENING.exec(out);
      if (m && child.pid !== undefined) {
        clearTimeout(timer);
        child.stdout?.removeAllListeners('data');
        child.stdout?.resume();
        resolve({ child, pid: child.pid, port: Number(m[1]), dataDir });
      }
    });
    child.on('exit', (code) => fail(new Error(`${config.id}: server exited ${code} before listening: ${(out + err).slice(-500)}`)));
    child.on('error', fail);
  });
}

async function stopServer(s: Running): Promise<void> {
  if (s.child.exitCode === null && s.child.signalCode === null) {
    const exited = new Promise<void>((resolve) => s.child.once('exit', () => resolve()));
    s.child.kill('SIGTERM');
    const timer = setTimeout(() => s.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
  if (s.dataDir !== null) rmSync(s.dataDir, { recursive: true, force: true });
}

// ---------------------------------------------------------------- one run

interface Sample {
  deliveriesPerSec: number;
  messagesPerSec: number;
  cpuUsPerDelivery: number;
  clientCpuUsPerDelivery: number;
  wireBytesPerDelivery: number;
  payloadBytesPerDelivery: number;
  compressionRatio: number;
  elapsedMs: number;
  serverCpuMs: number;
  negotiated: boolean;
}

interface Mark {
  t: bigint;
  /** server process CPU, µs */
  cpu: number;
  /** this (client) process CPU, µs */
  client: number;
  bytes: number;
}

function clientCpu(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

function rawSocket(ws: WebSocket): Socket {
  // ws keeps its net.Socket in an untyped field; its bytesRead counts wire bytes.
  const s = (ws as unknown as { _socket: Socket | null })._socket;
  if (s === null) throw new Error('websocket has no socket');
  return s;
}

function connect(port: number, room: string, name: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/?room=${room}&name=${name}`, {
      perMessageDeflate: { threshold: 0 },
      maxPayload: 1 << 24,
    });
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`${name}: no open within 10 s`));
    }, 10_000);
    ws.once('open', () => {
      clearTimeout(timer);
      resolve(ws);
    });
    ws.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

async function runOnce(config: Config, o: Options, messages: readonly Buffer[]): Promise<Sample> {
  const server = await startServer(config);
  const clients: WebSocket[] = [];
  try {
    const room = `deflate-${Math.random().toString(36).slice(2, 10)}`;
    const receivers: WebSocket[] = [];
    for (let i = 0; i < o.receivers; i++) receivers.push(await connect(server.port, room, `r${i}`));
    clients.push(...receivers);
    const sender = await connect(server.port, room, 'sender');
    clients.push(sender);
    const negotiated = [...clients].map((c) => c.extensions.includes('permessage-deflate'));
    if (negotiated.some((n) => n !== config.deflate)) {
      throw new Error(`${config.id}: permessage-deflate negotiated on ${negotiated.filter(Boolean).length}/${negotiated.length} connections, expected ${config.deflate ? 'all' : 'none'}`);
    }
    // Joining is announced only to JSON members, but give the server a moment to settle anyway.
    await new Promise((r) => setTimeout(r, 100));

    const total = o.warmup + o.messages;
    const got = new Array<number>(o.receivers).fill(0);
    const complete = new Array<number>(total).fill(0);
    let delivered = 0; // messages every receiver has
    let failure: Error | null = null;
    let measureStart: Mark | null = null;
    let onProgress: () => void = () => {};

    const wireBytes = (): number => receivers.reduce((sum, r) => sum + rawSocket(r).bytesRead, 0);

    receivers.forEach((r, i) => {
      r.on('message', (data, isBinary) => {
        if (failure !== null) return;
        const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
        const seq = got[i];
        if (isBinary || seq >= total || !buf.equals(messages[seq])) {
          failure = new Error(`${config.id}: receiver r${i} got a wrong message at position ${seq} (${buf.length} bytes, binary=${isBinary})`);
          onProgress();
          return;
        }
        got[i]++;
        if (++complete[seq] === o.receivers) {
          delivered++;
          onProgress();
        }
      });
      r.on('close', () => {
        if (got[i] < total && failure === null) {
          failure = new Error(`${config.id}: receiver r${i} closed after ${got[i]}/${total} messages`);
          onProgress();
        }
      });
    });
    sender.on('close', () => {
      if (delivered < total && failure === null) {
        failure = new Error(`${config.id}: sender closed after ${delivered}/${total} messages delivered`);
        onProgress();
      }
    });

    await new Promise<void>((resolve, reject) => {
      let sent = 0;
      const timer = setTimeout(() => {
        failure ??= new Error(`${config.id}: timed out with ${delivered}/${total} delivered (receivers at ${Math.min(...got)}..${Math.max(...got)})`);
        onProgress();
      }, 60_000);
      onProgress = () => {
        if (failure !== null) {
          clearTimeout(timer);
          reject(failure);
          return;
        }
        if (delivered === o.warmup && measureStart === null) {
          measureStart = { t: process.hrtime.bigint(), cpu: cpuMicros(server.pid), client: clientCpu(), bytes: wireBytes() };
        }
        if (delivered === total) {
          clearTimeout(timer);
          resolve();
          return;
        }
        // Keep the window full; during warmup, stop at the warmup boundary so the
        // measured part starts from an empty pipe.
        const limit = measureStart === null ? o.warmup : total;
        while (sent < limit && sent - delivered < o.window) sender.send(messages[sent++], { binary: false });
      };
      onProgress();
    });

    const end: Mark = { t: process.hrtime.bigint(), cpu: cpuMicros(server.pid), client: clientCpu(), bytes: wireBytes() };
    const start = measureStart as Mark | null;
    if (start === null) throw new Error(`${config.id}: measurement never started`);
    for (let i = 0; i < o.receivers; i++) {
      if (got[i] !== total) throw new Error(`${config.id}: receiver r${i} got ${got[i]}/${total} messages`);
    }
    const elapsedS = Number(end.t - start.t) / 1e9;
    const deliveries = o.messages * o.receivers;
    let payload = 0;
    for (let s = o.warmup; s < total; s++) payload += messages[s].length;
    const wire = end.bytes - start.bytes;
    return {
      deliveriesPerSec: deliveries / elapsedS,
      messagesPerSec: o.messages / elapsedS,
      cpuUsPerDelivery: (end.cpu - start.cpu) / deliveries,
      clientCpuUsPerDelivery: (end.client - start.client) / deliveries,
      wireBytesPerDelivery: wire / deliveries,
      payloadBytesPerDelivery: payload / o.messages,
      compressionRatio: (payload * o.receivers) / wire,
      elapsedMs: elapsedS * 1000,
      serverCpuMs: (end.cpu - start.cpu) / 1000,
      negotiated: config.deflate,
    };
  } finally {
    for (const c of clients) c.terminate();
    await stopServer(server);
  }
}

// ---------------------------------------------------------------- report

function median(xs: readonly number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

const METRICS: readonly { key: keyof Sample & string; label: string; digits: number }[] = [
  { key: 'deliveriesPerSec', label: 'deliveries/s', digits: 0 },
  { key: 'messagesPerSec', label: 'messages/s', digits: 0 },
  { key: 'cpuUsPerDelivery', label: 'server CPU µs/delivery', digits: 2 },
  { key: 'clientCpuUsPerDelivery', label: 'client CPU µs/delivery', digits: 2 },
  { key: 'wireBytesPerDelivery', label: 'wire B/delivery', digits: 0 },
  { key: 'compressionRatio', label: 'payload/wire', digits: 2 },
];

function table(rows: readonly { id: string; medians: Record<string, number> }[]): string {
  const header = ['configuration', ...METRICS.map((m) => m.label)];
  const body = rows.map((r) => [r.id, ...METRICS.map((m) => r.medians[m.key].toFixed(m.digits))]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (PIN) spawnSync('taskset', ['-cp', '1', String(process.pid)], { stdio: 'ignore' });
  const rand = prng(7692);
  const messages = Array.from({ length: o.warmup + o.messages }, (_, i) => Buffer.from(makeMessage(i, o.messageBytes, rand)));
  process.stdout.write(
    `deflate bench: 1 sender → ${o.receivers} receivers, ${o.messages} messages of ${o.messageBytes} B (+${o.warmup} warmup), window ${o.window}, ${o.rounds} rounds` +
      (PIN ? ', server on core 0, clients on core 1' : '') + '\n',
  );

  const samples = new Map<string, Sample[]>(CONFIGS.map((c) => [c.id, []]));
  const started = Date.now();
  for (let round = 1; round <= o.rounds; round++) {
    for (const config of CONFIGS) {
      const s = await runOnce(config, o, messages);
      samples.get(config.id)?.push(s);
      process.stdout.write(
        `round ${round} ${config.id.padEnd(18)} ${s.deliveriesPerSec.toFixed(0).padStart(8)} deliveries/s  ${s.cpuUsPerDelivery.toFixed(2).padStart(6)} µs server CPU/delivery  ${s.clientCpuUsPerDelivery.toFixed(2).padStart(6)} µs client CPU/delivery  ${s.wireBytesPerDelivery.toFixed(0).padStart(5)} wire B/delivery\n`,
      );
    }
  }

  const rows = CONFIGS.map((c) => {
    const list = samples.get(c.id) ?? [];
    const medians: Record<string, number> = {};
    for (const m of METRICS) medians[m.key] = median(list.map((s) => s[m.key] as number));
    return { id: c.id, server: c.server, deflate: c.deflate, medians, samples: list };
  });
  process.stdout.write(`\nmedians of ${o.rounds} rounds (${((Date.now() - started) / 1000).toFixed(0)} s):\n${table(rows)}\n`);

  if (o.write) {
    let cpu = cpus()[0]?.model ?? 'unknown';
    cpu = cpu.trim();
    const result = {
      generated: new Date().toISOString(),
      machine: { cpu, cores: cpus().length, node: process.version, os: `${process.platform} ${process.arch}`, pinned: PIN },
      scenario: {
        description: '1 sender → receivers in one room, ~4 KiB JSON fleet-event text messages, bounded window in flight; all clients are ws clients offering permessage-deflate (threshold 0, client context takeover)',
        receivers: o.receivers,
        messages: o.messages,
        warmup: o.warmup,
        messageBytes: o.messageBytes,
        window: o.window,
        rounds: o.rounds,
      },
      metrics: {
        deliveriesPerSec: 'messages × receivers delivered per second (measured part only)',
        messagesPerSec: 'messages delivered to every receiver per second',
        cpuUsPerDelivery: 'server process utime+stime (/proc/PID/stat) per delivery, µs',
        clientCpuUsPerDelivery: 'the benchmark process (every ws client: the sender deflating, the receivers inflating) CPU per delivery, µs',
        wireBytesPerDelivery: 'raw socket bytes read by the receivers per delivery (frame headers included)',
        compressionRatio: 'payload bytes / wire bytes at the receivers',
      },
      results: rows,
    };
    writeFileSync(join(ROOT, 'bench', 'deflate-results.json'), JSON.stringify(result, null, 2) + '\n');
    process.stdout.write('wrote bench/deflate-results.json\n');
  }
}

await main();
