// The soak test (issue 6), outside `npm test`: `npm run soak [-- --connections N --seconds S]`.
//
// Starts the server as a child process (file store in a temp DATA_DIR,
// ROOM_RETENTION=0 so an emptied room goes away, per-address and rate limits
// raised: every client here comes from 127.0.0.1), then keeps N connection slots
// busy for S seconds: each slot joins a random room, chats (raw or JSON mode),
// leaves (a clean close, or an abrupt reset now and then) and joins again. Every
// receiver checks that each sender's lines arrive in order with no gap.
//
// Then it checks, through GET /metrics, that no connection and no room is left,
// and that the server's memory came back near where it started. A Node process
// keeps heap pages it no longer needs until a full GC, so both ends are measured
// after one: the child runs with --expose-gc and a one-line preload (a data: URL,
// measurement only) that on SIGUSR2 runs gc() and prints process.memoryUsage().
// Pass: VmRSS after GC at the end <= at the start + RSS_TOLERANCE_MIB, and the JS
// heap in use <= at the start + HEAP_TOLERANCE_MIB (over ~20 000 connections, a
// leak of 500 bytes per connection would already fail it). It prints a table of
// figures and exits non-zero on any failure. Bounded: S seconds of churn, at most
// DRAIN_SECONDS to wind down, SETTLE_SECONDS for memory to come back.

import { spawn } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = new URL('../', import.meta.url).pathname;
const READY = /listening on ws:\/\/[^\s:"]+:(\d+)/;
const MiB = 1024 * 1024;
const RSS_TOLERANCE_MIB = 48;
const HEAP_TOLERANCE_MIB = 10;
const GC_ON_SIGNAL = 'data:text/javascript,process.on("SIGUSR2",()=>{globalThis.gc();process.stderr.write("MEMORY "+JSON.stringify(process.memoryUsage())+"\\n")})';
const DRAIN_SECONDS = 20;
const SETTLE_SECONDS = 30;

// ---------------------------------------------------------------------------
// Arguments

function parseArgs(argv: readonly string[]): { connections: number; seconds: number; rooms: number } {
  const out = { connections: 3000, seconds: 60, rooms: 0 };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split('=', 2) as [string, string | undefined];
    const value = Number(inline ?? argv[++i]);
    if (!Number.isInteger(value) || value <= 0) throw new Error(`${flag} needs a positive whole number`);
    if (flag === '--connections') out.connections = value;
    else if (flag === '--seconds') out.seconds = value;
    else if (flag === '--rooms') out.rooms = value;
    else throw new Error(`unknown argument ${flag} (use --connections N --seconds S [--rooms R])`);
  }
  if (out.rooms === 0) out.rooms = Math.max(1, Math.round(out.connections / 6));
  return out;
}

// ---------------------------------------------------------------------------
// The server child

interface Memory {
  /** VmRSS a moment after the GC */
  rss: number;
  heapUsed: number;
}

interface Child {
  pid: number;
  port: number;
  /** Full GC in the child, then its memory. */
  memoryAfterGc: () => Promise<Memory>;
  exitCode: () => number | null | 'running';
  tail: () => string;
  stop: () => Promise<number | null>;
}

function startChild(dataDir: string): Promise<Child> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    ROOM_RETENTION: '0',
    MAX_CONNECTIONS_PER_ADDRESS: '100000',
    JOINS_PER_MINUTE: '1000000',
    MESSAGES_PER_SECOND: '100000',
    MESSAGE_BURST: '100000',
  };
  const child = spawn(process.execPath, ['--expose-gc', '--import', GC_ON_SIGNAL, '--import', 'tsx', 'src/main.ts', '--port', '0', '--host', '127.0.0.1'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let status: number | null | 'running' = 'running';
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      status = code;
      resolve(code);
    }),
  );
  let memoryWaiter: ((heapUsed: number) => void) | null = null;
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.startsWith('MEMORY ')) memoryWaiter?.((JSON.parse(line.slice(7)) as { heapUsed: number }).heapUsed);
      else if (line.trim()) lines.push(line);
    }
    if (lines.length > 30) lines.splice(0, lines.length - 30);
  };
  child.stderr.on('data', keep);
  return new Promise((resolve, reject) => {
    let seen = '';
    let ready = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the server printed no listening line within 30 s:\n${lines.join('\n')}`));
    }, 30_000);
    child.on('exit', () => reject(new Error(`the server exited before it was ready:\n${lines.join('\n')}`)));
    child.stdout.on('data', (chunk: Buffer) => {
      keep(chunk);
      if (ready) return;
      seen += chunk.toString('utf8');
      const m = READY.exec(seen);
      if (!m) return;
      ready = true;
      clearTimeout(timer);
      resolve({
        pid: child.pid!,
        port: Number(m[1]),
        exitCode: () => status,
        memoryAfterGc: async () => {
          const heapUsed = await new Promise<number>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error('the server did not report its memory within 10 s')), 10_000);
            memoryWaiter = (used) => {
              clearTimeout(timer);
              memoryWaiter = null;
              resolve(used);
            };
            child.kill('SIGUSR2');
          });
          // Pages freed by the GC leave the resident set a moment later.
          await new Promise((resolve) => setTimeout(resolve, 1000));
          return { rss: rss(child.pid!), heapUsed };
        },
        tail: () => lines.join('\n'),
        stop: async () => {
          if (status !== 'running') return status;
          child.kill('SIGTERM');
          const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
          const code = await exited;
          clearTimeout(killer);
          return code;
        },
      });
    });
  });
}

function rss(pid: number): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

function httpGet(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`GET ${path}: HTTP ${res.statusCode}`))));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: timed out`)));
    req.on('error', reject);
  });
}

/** TcpExt ListenOverflows: SYNs or ACKs dropped because an accept queue was full (this network namespace). */
function listenOverflows(): number {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n').filter((l) => l.startsWith('TcpExt:'));
    const names = lines[0]!.split(/\s+/);
    const values = lines[1]!.split(/\s+/);
    return Number(values[names.indexOf('ListenOverflows')] ?? 0);
  } catch {
    return 0;
  }
}

function gauge(metrics: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(metrics);
  if (!m) throw new Error(`no ${name} in /metrics`);
  return Number(m[1]);
}

// ---------------------------------------------------------------------------
// The clients: lean node:net WebSocket clients (RFC 6455 section 5.2)

interface Stats {
  opened: number;
  live: number;
  peakLive: number;
  handshakeFailures: number;
  unexpectedCloses: number;
  sent: number;
  delivered: number;
  orderViolations: number;
  cleanLeaves: number;
  abruptLeaves: number;
  firstProblem: string;
  /** ms from connect() to the TCP connection, and from the request to the 101 */
  connectMs: number[];
  upgradeMs: number[];
}

const stats: Stats = { opened: 0, live: 0, peakLive: 0, handshakeFailures: 0, unexpectedCloses: 0, sent: 0, delivered: 0, orderViolations: 0, cleanLeaves: 0, abruptLeaves: 0, firstProblem: '', connectMs: [], upgradeMs: [] };

function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function problem(kind: 'handshakeFailures' | 'unexpectedCloses' | 'orderViolations', detail: string): void {
  stats[kind]++;
  if (stats.firstProblem === '') stats.firstProblem = `${kind}: ${detail}`;
}

function maskedFrame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  const ext = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const frame = Buffer.allocUnsafe(2 + ext + 4 + len);
  frame[0] = 0x80 | opcode;
  if (ext === 0) frame[1] = 0x80 | len;
  else if (ext === 2) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(len, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeBigUInt64BE(BigInt(len), 2);
  }
  const mask = randomBytes(4);
  mask.copy(frame, 2 + ext);
  const at = 6 + ext;
  for (let i = 0; i < len; i++) frame[at + i] = payload[i]! ^ mask[i & 3]!;
  return frame;
}

const FILLER = 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(20);

/** One session: join, chat, leave. Resolves when the socket is gone. */
function session(port: number, room: string, name: string, json: boolean, lifetimeMs: number, stopAt: () => number): Promise<void> {
  return new Promise((resolve) => {
    const socket: Socket = connect({ port, host: '127.0.0.1' });
    socket.setNoDelay(true);
    let buffer: Buffer = Buffer.alloc(0);
    let phase: 'handshake' | 'open' | 'leaving' | 'done' = 'handshake';
    let seq = 0;
    const lastSeq = new Map<string, number>();
    let chatTimer: NodeJS.Timeout | null = null;
    let leaveTimer: NodeJS.Timeout | null = null;
    const began = Date.now();
    let requested = 0;
    // 30 s: a SYN dropped from a full accept queue is retried after 1, 3, 7, 15 s.
    let guard: NodeJS.Timeout | null = setTimeout(() => {
      problem('handshakeFailures', requested === 0 ? `${name}: TCP connect not done within 30 s` : `${name}: no 101 within ${Date.now() - requested} ms of the request`);
      finish();
    }, 30_000);
    const abrupt = Math.random() < 0.1;

    const finish = () => {
      if (phase === 'done') return;
      if (phase !== 'handshake') stats.live--;
      phase = 'done';
      for (const t of [chatTimer, leaveTimer, guard]) if (t !== null) clearTimeout(t);
      socket.destroy();
      resolve();
    };

    const chat = () => {
      if (phase !== 'open') return;
      const text = `${name} ${seq++} ${FILLER.slice(0, randomInt(10, 400))}`;
      socket.write(maskedFrame(1, Buffer.from(json ? JSON.stringify({ type: 'message', text }) : text)));
      stats.sent++;
      chatTimer = setTimeout(chat, randomInt(1000, 3000));
    };

    const leave = () => {
      if (phase !== 'open') return;
      if (chatTimer !== null) clearTimeout(chatTimer);
      if (abrupt) {
        stats.abruptLeaves++;
        return finish();
      }
      phase = 'leaving';
      const body = Buffer.from([0x03, 0xe8]); // 1000
      socket.write(maskedFrame(8, body));
      guard = setTimeout(() => {
        problem('unexpectedCloses', `${name}: no close answer within 10 s`);
        finish();
      }, 10_000);
    };

    const heard = (from: string, text: string) => {
      stats.delivered++;
      const space = text.indexOf(' ', from.length + 1);
      const n = Number(text.slice(from.length + 1, space));
      if (!text.startsWith(`${from} `) || !Number.isInteger(n)) return problem('orderViolations', `${name} got a malformed line from ${from}`);
      const last = lastSeq.get(from);
      if (last !== undefined && n !== last + 1) problem('orderViolations', `${name} got ${from} #${n} after #${last}`);
      lastSeq.set(from, n);
    };

    const onFrame = (opcode: number, payload: Buffer) => {
      if (opcode === 0x1) {
        const text = payload.toString('utf8');
        if (!json) return heard(text.slice(0, text.indexOf(' ')), text);
        const msg = JSON.parse(text) as { type: string; from?: string; text?: string };
        if (msg.type === 'message') heard(msg.from ?? '', msg.text ?? '');
        else if (msg.type === 'error') problem('unexpectedCloses', `${name} got a JSON error ${text}`);
      } else if (opcode === 0x9) {
        socket.write(maskedFrame(0xa, payload));
      } else if (opcode === 0x8) {
        const code = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        if (phase === 'leaving' && code === 1000) stats.cleanLeaves++;
        else problem('unexpectedCloses', `${name} closed by the server with ${code} ${payload.subarray(2).toString('utf8')}`);
        phase = phase === 'open' ? 'leaving' : phase;
      }
    };

    socket.on('connect', () => {
      requested = Date.now();
      stats.connectMs.push(requested - began);
      const key = randomBytes(16).toString('base64');
      socket.write(
        `GET /?room=${room}&name=${name} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${json ? 'Sec-WebSocket-Protocol: rooms.v1.json\r\n' : ''}\r\n`,
      );
    });
    socket.on('data', (chunk: Buffer) => {
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
      if (phase === 'handshake') {
        const end = buffer.indexOf('\r\n\r\n');
        if (end === -1) return;
        const status = buffer.subarray(0, end).toString('latin1').split('\r\n')[0]!;
        if (!status.startsWith('HTTP/1.1 101 ')) {
          problem('handshakeFailures', `${name}: ${status}`);
          return finish();
        }
        buffer = buffer.subarray(end + 4);
        stats.upgradeMs.push(Date.now() - requested);
        phase = 'open';
        stats.opened++;
        stats.live++;
        stats.peakLive = Math.max(stats.peakLive, stats.live);
        clearTimeout(guard!);
        guard = null;
        chatTimer = setTimeout(chat, randomInt(100, 1500));
        leaveTimer = setTimeout(leave, Math.min(lifetimeMs, Math.max(0, stopAt() - Date.now())));
      }
      while (buffer.length >= 2 && phase !== 'done') {
        const len7 = buffer[1]! & 0x7f;
        const head = len7 === 126 ? 4 : len7 === 127 ? 10 : 2;
        if (buffer.length < head) return;
        const len = len7 === 126 ? buffer.readUInt16BE(2) : len7 === 127 ? Number(buffer.readBigUInt64BE(2)) : len7;
        if (buffer.length < head + len) return;
        const opcode = buffer[0]! & 0x0f;
        const payload = buffer.subarray(head, head + len);
        buffer = buffer.subarray(head + len);
        onFrame(opcode, payload);
      }
    });
    socket.on('end', () => {
      if (phase === 'open') problem('unexpectedCloses', `${name}: the server ended the connection`);
      finish();
    });
    socket.on('error', (error: Error) => {
      if (phase === 'handshake') problem('handshakeFailures', `${name}: ${error.message}`);
      else if (phase === 'open') problem('unexpectedCloses', `${name}: ${error.message}`);
      finish();
    });
    socket.on('close', finish);
  });
}

/** One slot: sessions back to back until the deadline. */
async function slot(port: number, index: number, rooms: number, startDelayMs: number, deadline: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, startDelayMs));
  for (let generation = 0; Date.now() < deadline; generation++) {
    const room = `soak-${randomInt(rooms)}`;
    await session(port, room, `u${index}g${generation}`, Math.random() < 0.2, randomInt(2000, 10_000), () => deadline);
  }
}

// ---------------------------------------------------------------------------

const fmtMiB = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;

async function main(): Promise<number> {
  const { connections, seconds, rooms } = parseArgs(process.argv.slice(2));
  const dataDir = mkdtempSync(join(tmpdir(), 'rooms-soak-'));
  const failures: string[] = [];
  const child = await startChild(dataDir);
  let rssPeak = 0;
  let serverPeakConnections = 0;
  const sampler = setInterval(() => {
    try {
      rssPeak = Math.max(rssPeak, rss(child.pid));
    } catch {
      // the server is gone; reported below
    }
  }, 250);
  const metricsSampler = setInterval(() => {
    httpGet(child.port, '/metrics').then(
      (m) => (serverPeakConnections = Math.max(serverPeakConnections, gauge(m, 'rooms_connections'))),
      () => undefined,
    );
  }, 1000);
  try {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const start = await child.memoryAfterGc();
    rssPeak = start.rss;
    const overflowsBefore = listenOverflows();
    process.stdout.write(`soak: ${connections} connection slots over ${rooms} rooms for ${seconds} s against pid ${child.pid} on port ${child.port}\n`);

    const started = Date.now();
    const deadline = started + seconds * 1000;
    const rampMs = Math.min(10_000, (seconds * 1000) / 4);
    const slots = Array.from({ length: connections }, (_, i) => slot(child.port, i, rooms, (i * rampMs) / connections, deadline));
    const progress = setInterval(() => {
      process.stdout.write(`  ${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s  live ${String(stats.live).padStart(5)}  opened ${stats.opened}  sent ${stats.sent}  delivered ${stats.delivered}  server RSS ${fmtMiB(rss(child.pid))}\n`);
    }, 10_000);
    const drained = await Promise.race([
      Promise.all(slots).then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), (seconds + DRAIN_SECONDS) * 1000).unref()),
    ]);
    clearInterval(progress);
    const duration = (Date.now() - started) / 1000;
    if (!drained) failures.push(`clients did not finish within ${DRAIN_SECONDS} s of the deadline (${stats.live} still live)`);

    // Nothing left: no connection, no member, no room.
    let metrics = '';
    const leftDeadline = Date.now() + 15_000;
    for (;;) {
      metrics = await httpGet(child.port, '/metrics');
      if ((gauge(metrics, 'rooms_connections') === 0 && gauge(metrics, 'rooms_rooms') === 0) || Date.now() > leftDeadline) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const connectionsLeft = gauge(metrics, 'rooms_connections');
    const roomsLeft = gauge(metrics, 'rooms_rooms');
    const membersLeft = gauge(metrics, 'rooms_members');
    if (connectionsLeft !== 0) failures.push(`${connectionsLeft} connections left on the server`);
    if (membersLeft !== 0) failures.push(`${membersLeft} room members left on the server`);
    if (roomsLeft !== 0) failures.push(`${roomsLeft} rooms left on the server`);
    const health = JSON.parse(await httpGet(child.port, '/healthz')) as { status: string; connections: number; rooms: number };
    if (health.status !== 'ok') failures.push(`/healthz says ${health.status}`);

    // Memory back near its start, both measured after a full GC.
    const overflows = listenOverflows() - overflowsBefore;
    const rssBeforeGc = rss(child.pid);
    const rssAllowed = start.rss + RSS_TOLERANCE_MIB * MiB;
    const heapAllowed = start.heapUsed + HEAP_TOLERANCE_MIB * MiB;
    let end = await child.memoryAfterGc();
    const settleDeadline = Date.now() + SETTLE_SECONDS * 1000;
    while ((end.rss > rssAllowed || end.heapUsed > heapAllowed) && Date.now() < settleDeadline) {
      await new Promise((resolve) => setTimeout(resolve, 2000));
      end = await child.memoryAfterGc();
    }
    if (end.rss > rssAllowed) failures.push(`server RSS ${fmtMiB(end.rss)} after GC did not come back under ${fmtMiB(rssAllowed)} within ${SETTLE_SECONDS} s`);
    if (end.heapUsed > heapAllowed) failures.push(`server heap in use ${fmtMiB(end.heapUsed)} after GC is over ${fmtMiB(heapAllowed)}: a leak?`);

    if (stats.handshakeFailures > 0) failures.push(`${stats.handshakeFailures} handshakes failed`);
    if (stats.unexpectedCloses > 0) failures.push(`${stats.unexpectedCloses} connections closed unexpectedly`);
    if (stats.orderViolations > 0) failures.push(`${stats.orderViolations} lines out of order or missing`);
    if (stats.delivered === 0) failures.push('no message was delivered');

    const rows: Array<[string, string]> = [
      ['connection slots (concurrent)', String(connections)],
      ['rooms (keys chosen from)', String(rooms)],
      ['connections opened', String(stats.opened)],
      ['peak live (client side / server side)', `${stats.peakLive} / ${serverPeakConnections}`],
      ['leaves: clean close / abrupt reset', `${stats.cleanLeaves} / ${stats.abruptLeaves}`],
      ['TCP connect ms: p50 / p99 / max', `${percentile(stats.connectMs, 50)} / ${percentile(stats.connectMs, 99)} / ${percentile(stats.connectMs, 100)}`],
      ['request to 101 ms: p50 / p99 / max', `${percentile(stats.upgradeMs, 50)} / ${percentile(stats.upgradeMs, 99)} / ${percentile(stats.upgradeMs, 100)}`],
      ['messages sent', String(stats.sent)],
      ['messages delivered', String(stats.delivered)],
      ['duration (churn + drain)', `${duration.toFixed(1)} s`],
      ['kernel listen-queue overflows (whole netns)', String(overflows)],
      ['server RSS start (after GC)', fmtMiB(start.rss)],
      ['server RSS peak', fmtMiB(rssPeak)],
      ['server RSS end: before GC / after GC', `${fmtMiB(rssBeforeGc)} / ${fmtMiB(end.rss)} (allowed: start + ${RSS_TOLERANCE_MIB} MiB = ${fmtMiB(rssAllowed)})`],
      ['server JS heap in use: start / end (after GC)', `${fmtMiB(start.heapUsed)} / ${fmtMiB(end.heapUsed)} (allowed: start + ${HEAP_TOLERANCE_MIB} MiB)`],
      ['left on the server: connections / members / rooms', `${connectionsLeft} / ${membersLeft} / ${roomsLeft}`],
      ['handshake failures / unexpected closes / order violations', `${stats.handshakeFailures} / ${stats.unexpectedCloses} / ${stats.orderViolations}`],
    ];
    const width = Math.max(...rows.map(([k]) => k.length));
    process.stdout.write(`\n| ${'figure'.padEnd(width)} | value |\n| ${'-'.repeat(width)} | ----- |\n`);
    for (const [k, v] of rows) process.stdout.write(`| ${k.padEnd(width)} | ${v} |\n`);
    if (stats.firstProblem) process.stdout.write(`\nfirst problem: ${stats.firstProblem}\n`);
  } catch (error) {
    failures.push(error instanceof Error ? error.message : String(error));
  } finally {
    clearInterval(sampler);
    clearInterval(metricsSampler);
    const code = await child.stop();
    if (code !== 0) failures.push(`the server exited with ${code} on SIGTERM (expected 0):\n${child.tail()}`);
    rmSync(dataDir, { recursive: true, force: true });
  }
  process.stdout.write(failures.length === 0 ? '\nsoak: PASS\n' : `\nsoak: FAIL\n${failures.map((f) => `  - ${f}`).join('\n')}\n`);
  return failures.length === 0 ? 0 : 1;
}

process.exit(await main());
