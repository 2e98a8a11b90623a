// The benchmark scenarios, as run by one load generator process against one
// server. Each returns plain numbers plus a delivery verification; the caller
// (bench/run.ts through bench/loadgen.ts, or a test in-process) decides what to
// do with them. Server CPU and memory come from /proc/<serverPid>.
import { Conn, Shared, openAll, verify, type Verification } from './client';
import { cpuMicros, rssBytes } from './proc';

export interface Target {
  host: string;
  port: number;
  /** Server process id for /proc readings; 0 skips them (CPU and RSS read as NaN). */
  serverPid: number;
}

export interface FloodParams {
  kind: 'flood';
  receivers: number;
  size: number;
  /** 1 text, 2 binary. Text payloads are not valid UTF-8 in their header: use binary. */
  opcode: number;
  /** Messages in flight (sent, not yet delivered to every receiver), on average. */
  window: number;
  warmupMs: number;
  measureMs: number;
  /** Stop after this many messages in total (0: no limit); for small correctness runs. */
  maxMessages: number;
}

export interface RoomsParams {
  kind: 'rooms';
  rooms: number;
  members: number;
  size: number;
  /** Total sends per second across all connections. */
  rate: number;
  warmupMs: number;
  measureMs: number;
}

export interface RoomsMaxParams {
  kind: 'rooms-max';
  rooms: number;
  members: number;
  size: number;
  startRate: number;
  maxRate: number;
  stepMs: number;
  /** Bisection steps after the first failure. */
  refine: number;
  /**
   * A rate is held when median latency stays under this (and the backlog drains
   * within a second of the last send). The median, not the p99: a saturated
   * server's queue grows through the whole step and drags the median with it,
   * while a neighbour on a shared machine stalling us for 100 ms only moves the tail.
   */
  p50LimitUs: number;
  /** Pause after opening the connections (rooms are created then), before the first step. */
  settleMs: number;
}

export interface IdleParams {
  kind: 'idle';
  connections: number;
  roomSize: number;
  concurrency: number;
  settleMs: number;
}

export interface HandshakeParams {
  kind: 'handshake';
  connections: number;
  roomSize: number;
  concurrency: number;
  /**
   * True: each room's first member joins before the clock starts, and only joins
   * into existing rooms are measured (the protocol's own cost). False or absent:
   * every join counts, including those that create their room (set roomSize 1 to
   * measure creation alone: a durable room write in this server, none in the peers).
   */
  existing?: boolean;
}

export type Params = FloodParams | RoomsParams | RoomsMaxParams | IdleParams | HandshakeParams;

export interface ScenarioResult {
  metrics: Record<string, number>;
  /** Share of one core the load generator used while measuring (near 1: the client may be the limit). */
  clientCpu: number;
  verification: Verification;
  notes: string[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function serverCpu(t: Target): number {
  return t.serverPid > 0 ? cpuMicros(t.serverPid) : NaN;
}

function serverRss(t: Target): number {
  return t.serverPid > 0 ? rssBytes(t.serverPid) : NaN;
}

function clientCpuSince(start: NodeJS.CpuUsage, wallMs: number): number {
  const u = process.cpuUsage(start);
  return (u.user + u.system) / 1000 / wallMs;
}

function roomPath(c: Conn): string {
  return `/?room=bench-${c.room}&name=u${c.slot}`;
}

function makeRooms(count: number, members: number, shared: Shared, size: number, opcode: number): Conn[][] {
  const rooms: Conn[][] = [];
  for (let r = 0; r < count; r++) {
    const list: Conn[] = [];
    for (let s = 0; s < members; s++) {
      const c = new Conn({ room: r, slot: s, roomSize: members }, shared);
      c.setMessage(size, opcode);
      list.push(c);
    }
    rooms.push(list);
  }
  return rooms;
}

/**
 * Wait until every owed delivery arrived; give up early when nothing at all has
 * arrived for `quietMs` (a lost message never comes) or after `maxMs`.
 */
async function drain(shared: Shared, owedNow: () => number, maxMs = 15_000, quietMs = 1500): Promise<boolean> {
  const end = performance.now() + maxMs;
  let last = shared.delivered;
  let lastChange = performance.now();
  for (;;) {
    if (shared.delivered >= owedNow()) return true;
    if (shared.unexpectedCloses > 0) return false;
    const now = performance.now();
    if (shared.delivered !== last) {
      last = shared.delivered;
      lastChange = now;
    }
    if (now > end || now - lastChange > quietMs) return false;
    await sleep(5);
  }
}

function closeAll(rooms: readonly (readonly Conn[])[]): void {
  for (const list of rooms) for (const c of list) c.reset();
}

/** One sender floods one room as fast as the receivers keep up, within a window. */
export async function flood(t: Target, p: FloodParams): Promise<ScenarioResult> {
  const shared = new Shared();
  const [members] = makeRooms(1, p.receivers + 1, shared, p.size, p.opcode);
  const sender = members[0];
  const notes: string[] = [];
  // Receivers first, so that every one is in the room before anything is sent.
  await openAll(members.slice(1), t.host, t.port, roomPath, 100);
  await openAll([sender], t.host, t.port, roomPath, 1);
  await sleep(100);

  const R = p.receivers;
  const receivers = members.slice(1);
  const batchMin = Math.max(1, Math.floor(p.window / 4));
  let stop = false;
  let scheduled = false;
  // The window is per receiver: the sender stays at most `window` messages ahead
  // of the slowest one, so no receiver's backlog (and latency) can run away.
  const pump = (): void => {
    scheduled = false;
    if (stop) return;
    let slowest = sender.sent;
    for (const c of receivers) if (c.received < slowest) slowest = c.received;
    const inFlight = sender.sent - slowest;
    let k = p.window - inFlight;
    if (p.maxMessages > 0) k = Math.min(k, p.maxMessages - sender.sent);
    if (k >= batchMin || (k > 0 && inFlight === 0)) sender.send(k, performance.now());
  };
  const onTurn = (): void => {
    if (!scheduled && !stop) {
      scheduled = true;
      setImmediate(pump);
    }
  };
  // Re-check after every read on any receiver, and on a timer as a backstop.
  for (const c of members) c.onRead = onTurn;
  const backstop = setInterval(onTurn, 5);
  pump();

  await sleep(p.warmupMs);
  const cpu0 = serverCpu(t);
  const cli0 = process.cpuUsage();
  const d0 = shared.delivered;
  const s0 = sender.sent;
  const t0 = performance.now();
  shared.measuring = true;
  await sleep(p.measureMs);
  shared.measuring = false;
  const t1 = performance.now();
  const d1 = shared.delivered;
  const s1 = sender.sent;
  const cpu1 = serverCpu(t);
  const clientCpu = clientCpuSince(cli0, t1 - t0);
  stop = true;
  clearInterval(backstop);

  const drained = await drain(shared, () => sender.sent * R);
  if (!drained) notes.push('receivers still owed messages when deliveries stopped coming');
  const verification = verify([members], shared);
  closeAll([members]);

  const deliveries = d1 - d0;
  const secs = (t1 - t0) / 1000;
  return {
    metrics: {
      deliveriesPerSec: deliveries / secs,
      sendsPerSec: (s1 - s0) / secs,
      mbPerSec: (deliveries * p.size) / 1e6 / secs,
      cpuUsPerDelivery: (cpu1 - cpu0) / deliveries,
      serverCpuShare: (cpu1 - cpu0) / 1e6 / secs,
      p50Us: shared.hist.quantile(0.5),
      p99Us: shared.hist.quantile(0.99),
      maxUs: shared.hist.max,
      totalSent: sender.sent,
    },
    clientCpu,
    verification,
    notes,
  };
}

/**
 * Send at a fixed total rate, round-robin over every connection. Runs until
 * `until()` is true; returns the number of sends it made.
 */
function pace(all: readonly Conn[], rate: number): { stop: () => void; sent: () => number; maxLagMs: () => number } {
  const n = all.length;
  const start = performance.now();
  let sent = 0;
  let rr = 0;
  let maxLag = 0;
  const tick = (): void => {
    const now = performance.now();
    const due = Math.floor((rate * (now - start)) / 1000) - sent;
    if (due <= 0) return;
    const lagMs = (due / rate) * 1000;
    if (lagMs > maxLag) maxLag = lagMs;
    const full = Math.floor(due / n);
    if (full > 0) for (const c of all) c.send(full, now);
    const rem = due - full * n;
    for (let k = 0; k < rem; k++) {
      all[rr].send(1, now);
      rr = rr + 1 === n ? 0 : rr + 1;
    }
    sent += due;
  };
  const timer = setInterval(tick, 1);
  return { stop: () => clearInterval(timer), sent: () => sent, maxLagMs: () => maxLag };
}

function owed(rooms: readonly (readonly Conn[])[]): number {
  let total = 0;
  for (const list of rooms) {
    let sent = 0;
    for (const c of list) sent += c.sent;
    total += sent * (list.length - 1);
  }
  return total;
}

/** Many small rooms, everyone sending, at a fixed total rate. */
export async function rooms(t: Target, p: RoomsParams): Promise<ScenarioResult> {
  const shared = new Shared();
  const rs = makeRooms(p.rooms, p.members, shared, p.size, 2);
  const all = rs.flat();
  await openAll(all, t.host, t.port, roomPath, 100);
  await sleep(200);
  const notes: string[] = [];

  const pacer = pace(all, p.rate);
  await sleep(p.warmupMs);
  const cpu0 = serverCpu(t);
  const cli0 = process.cpuUsage();
  const d0 = shared.delivered;
  const s0 = pacer.sent();
  const t0 = performance.now();
  shared.measuring = true;
  await sleep(p.measureMs);
  shared.measuring = false;
  const t1 = performance.now();
  const d1 = shared.delivered;
  const s1 = pacer.sent();
  const cpu1 = serverCpu(t);
  const clientCpu = clientCpuSince(cli0, t1 - t0);
  pacer.stop();

  const drained = await drain(shared, () => owed(rs));
  if (!drained) notes.push('receivers still owed messages when deliveries stopped coming');
  if (pacer.maxLagMs() > 50) notes.push(`the load generator fell ${pacer.maxLagMs().toFixed(0)} ms behind its send schedule`);
  const verification = verify(rs, shared);
  closeAll(rs);

  const secs = (t1 - t0) / 1000;
  const sends = s1 - s0;
  return {
    metrics: {
      sendsPerSec: sends / secs,
      deliveriesPerSec: (d1 - d0) / secs,
      cpuUsPerMessage: (cpu1 - cpu0) / sends,
      serverCpuShare: (cpu1 - cpu0) / 1e6 / secs,
      p50Us: shared.hist.quantile(0.5),
      p99Us: shared.hist.quantile(0.99),
      maxUs: shared.hist.max,
    },
    clientCpu,
    verification,
    notes,
  };
}

/** Raise the fixed rate step by step until the server no longer keeps up. */
export async function roomsMax(t: Target, p: RoomsMaxParams): Promise<ScenarioResult> {
  const shared = new Shared();
  const rs = makeRooms(p.rooms, p.members, shared, p.size, 2);
  const all = rs.flat();
  await openAll(all, t.host, t.port, roomPath, 100);
  await sleep(p.settleMs);
  const notes: string[] = [];

  let held = 0;
  let failed = 0;
  let clientLimited = false;
  let steps = 0;
  let refined = 0;
  let rate = p.startRate;
  let lastClientCpu = 0;
  let cpuAtHeld = NaN;
  while (rate > 0 && steps < 12) {
    steps++;
    shared.hist.reset();
    const pacer = pace(all, rate);
    await sleep(Math.min(300, p.stepMs / 3));
    const cli0 = process.cpuUsage();
    const cpu0 = serverCpu(t);
    const s0 = pacer.sent();
    const t0 = performance.now();
    shared.measuring = true;
    await sleep(p.stepMs);
    shared.measuring = false;
    const t1 = performance.now();
    const sends = pacer.sent() - s0;
    const cpuShare = (serverCpu(t) - cpu0) / 1000 / (t1 - t0);
    lastClientCpu = clientCpuSince(cli0, t1 - t0);
    pacer.stop();
    const drained = await drain(shared, () => owed(rs), 1000, 1000);
    const achieved = sends / ((t1 - t0) / 1000);
    const p50 = shared.hist.quantile(0.5);
    const p99 = shared.hist.quantile(0.99);
    const ok = drained && achieved >= rate * 0.95 && p50 <= p.p50LimitUs && shared.unexpectedCloses === 0;
    notes.push(
      `${Math.round(rate)}/s: ${ok ? 'held' : 'not held'} (sent ${Math.round(achieved)}/s, p50 ${Math.round(p50)} µs, p99 ${Math.round(p99)} µs, ` +
        `${drained ? 'drained' : 'backlog after 1 s'}, server cpu ${cpuShare.toFixed(2)}, client cpu ${lastClientCpu.toFixed(2)})`,
    );
    if (ok) {
      held = rate;
      cpuAtHeld = cpuShare;
    }
    else {
      failed = rate;
      if (achieved < rate * 0.95 && lastClientCpu > 0.9) clientLimited = true;
      // Let the backlog drain before the next step or the verification.
      await drain(shared, () => owed(rs));
    }
    if (shared.unexpectedCloses > 0 || clientLimited) break;
    if (failed === 0) {
      if (rate * 2 > p.maxRate) break;
      rate *= 2;
    } else {
      if (refined >= p.refine || held === 0) break;
      refined++;
      rate = Math.round((held + failed) / 2);
    }
  }
  if (clientLimited) notes.push('stopped: the load generator could not send faster (client-limited)');
  const drained = await drain(shared, () => owed(rs));
  if (!drained) notes.push('receivers still owed messages when deliveries stopped coming');
  const verification = verify(rs, shared);
  closeAll(rs);
  return {
    metrics: { maxRateHeld: held, serverCpuShareAtMax: cpuAtHeld, firstRateFailed: failed, clientLimited: clientLimited ? 1 : 0, steps },
    clientCpu: lastClientCpu,
    verification,
    notes,
  };
}

function idleRooms(connections: number, roomSize: number, shared: Shared): Conn[][] {
  const rs: Conn[][] = [];
  for (let i = 0; i < connections; i++) {
    const r = Math.floor(i / roomSize);
    const size = Math.min(roomSize, connections - r * roomSize);
    if (rs.length <= r) rs.push([]);
    const c = new Conn({ room: r, slot: i % roomSize, roomSize: size }, shared);
    c.setMessage(64, 2);
    rs[r].push(c);
  }
  return rs;
}

/** Open many connections and leave them idle: memory per connection, time to open. */
export async function idle(t: Target, p: IdleParams): Promise<ScenarioResult> {
  const shared = new Shared();
  const rs = idleRooms(p.connections, p.roomSize, shared);
  const all = rs.flat();
  // The first connections also pay for code the server compiles and heap it sets
  // up on first use: open a few first, and count memory from there.
  const warm = Math.min(100, Math.floor(all.length / 10));
  const t0 = performance.now();
  const cli0 = process.cpuUsage();
  await openAll(all.slice(0, warm), t.host, t.port, roomPath, p.concurrency);
  const paused = performance.now();
  await sleep(50);
  const rss0 = serverRss(t);
  const resumed = performance.now();
  await openAll(all.slice(warm), t.host, t.port, roomPath, p.concurrency);
  const t1 = performance.now();
  const clientCpu = clientCpuSince(cli0, t1 - t0);
  const openMs = t1 - t0 - (resumed - paused);
  await sleep(p.settleMs);
  const rss1 = serverRss(t);
  // Prove the connections are live rooms, not just accepted sockets: one message in the last room.
  const last = rs[rs.length - 1];
  last[0].send(1, performance.now());
  await drain(shared, () => last.length - 1, 5000);
  const verification = verify([last], shared);
  if (shared.unexpectedCloses > 0) verification.ok = false;
  closeAll(rs);
  return {
    metrics: {
      connections: p.connections,
      bytesPerConnection: (rss1 - rss0) / (p.connections - warm),
      rssBeforeMB: rss0 / 2 ** 20,
      rssAfterMB: rss1 / 2 ** 20,
      openMs,
      opensPerSec: p.connections / (openMs / 1000),
    },
    clientCpu,
    verification,
    notes: [],
  };
}

/** Connections opened and joined per second, and server CPU per handshake. */
export async function handshake(t: Target, p: HandshakeParams): Promise<ScenarioResult> {
  const shared = new Shared();
  const rs = idleRooms(p.connections, p.roomSize, shared);
  const firsts = p.existing === true ? rs.map((r) => r[0]!) : [];
  const measured = p.existing === true ? rs.flatMap((r) => r.slice(1)) : rs.flat();
  if (firsts.length > 0) {
    await openAll(firsts, t.host, t.port, roomPath, p.concurrency);
    await sleep(200); // room creations are written (and their 101s sent) before the clock starts
  }
  const cpu0 = serverCpu(t);
  const cli0 = process.cpuUsage();
  const t0 = performance.now();
  await openAll(measured, t.host, t.port, roomPath, p.concurrency);
  const t1 = performance.now();
  const cpu1 = serverCpu(t);
  const clientCpu = clientCpuSince(cli0, t1 - t0);
  const verification = verify([], shared);
  if (shared.unexpectedCloses > 0) verification.ok = false;
  closeAll(rs);
  return {
    metrics: {
      connections: measured.length,
      handshakesPerSec: measured.length / ((t1 - t0) / 1000),
      cpuUsPerHandshake: (cpu1 - cpu0) / measured.length,
    },
    clientCpu,
    verification,
    notes: [],
  };
}

export function runScenario(t: Target, p: Params): Promise<ScenarioResult> {
  switch (p.kind) {
    case 'flood':
      return flood(t, p);
    case 'rooms':
      return rooms(t, p);
    case 'rooms-max':
      return roomsMax(t, p);
    case 'idle':
      return idle(t, p);
    case 'handshake':
      return handshake(t, p);
  }
}
