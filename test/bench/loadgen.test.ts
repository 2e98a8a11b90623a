// The benchmark's load generator must count right before any number it prints
// means anything: every message to every other member exactly once, and a loud
// failure when a server drops, duplicates, echoes or misroutes one. Small
// counts, no timing assertions.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createHash } from 'node:crypto';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WebSocket, WebSocketServer } from 'ws';
import { Conn, Shared } from '../../bench/lib/client';
import { Histogram } from '../../bench/lib/hist';
import { runScenario, type Params, type ScenarioResult, type Target } from '../../bench/lib/scenarios';
import { hardNofile, oursSpec, peerSpecs, startServer, type RunningServer } from '../../bench/lib/servers';

const nofile = Math.min(hardNofile(), 8192);

const small = {
  flood: { kind: 'flood', receivers: 5, size: 64, opcode: 2, window: 4, warmupMs: 30, measureMs: 150, maxMessages: 120 },
  large: { kind: 'flood', receivers: 3, size: 256 * 1024, opcode: 2, window: 2, warmupMs: 30, measureMs: 150, maxMessages: 12 },
  rooms: { kind: 'rooms', rooms: 6, members: 3, size: 64, rate: 400, warmupMs: 30, measureMs: 200 },
  idle: { kind: 'idle', connections: 40, roomSize: 10, concurrency: 10, settleMs: 10 },
  handshake: { kind: 'handshake', connections: 30, roomSize: 5, concurrency: 5 },
  handshakeExisting: { kind: 'handshake', connections: 30, roomSize: 5, concurrency: 5, existing: true },
} satisfies Record<string, Params>;

function assertAllDelivered(r: ScenarioResult, what: string): void {
  const v = r.verification;
  assert.equal(v.problems, [], `${what}: ${v.problems.join('; ')}`);
  assert.ok(v.ok, what);
  assert.is(v.delivered, v.expected, `${what}: delivered`);
  assert.is(v.missing + v.duplicates + v.misrouted + v.selfEcho + v.badSize + v.badMeta, 0, what);
}

async function checkServer(target: Target, name: string): Promise<void> {
  const f = await runScenario(target, small.flood);
  assertAllDelivered(f, `${name} flood`);
  assert.ok(f.metrics.totalSent > 0, `${name}: something was sent`);
  assert.is(f.verification.expected, f.metrics.totalSent * small.flood.receivers, `${name}: owed = sent x receivers`);

  const l = await runScenario(target, small.large);
  assertAllDelivered(l, `${name} large`);
  assert.is(l.verification.expected, l.metrics.totalSent * small.large.receivers);

  const r = await runScenario(target, small.rooms);
  assertAllDelivered(r, `${name} rooms`);
  assert.ok(r.verification.expected > 0, `${name}: rooms sent something`);

  const i = await runScenario(target, small.idle);
  assertAllDelivered(i, `${name} idle`);
  assert.is(i.verification.expected, small.idle.roomSize - 1, `${name}: the idle probe message reached its room`);

  const h = await runScenario(target, small.handshake);
  assertAllDelivered(h, `${name} handshake`);
  assert.is(h.metrics.connections, 30, `${name}: every join counted`);

  // Into existing rooms: each room's first member joins before the clock, the other 4 of 5 are measured.
  const e = await runScenario(target, small.handshakeExisting);
  assertAllDelivered(e, `${name} handshake into existing rooms`);
  assert.is(e.metrics.connections, 24, `${name}: only joins into existing rooms counted`);
}

// Our server (src/main.ts, started exactly as `npm run bench` starts it) and both ws peers.
for (const spec of [oursSpec(), ...peerSpecs()]) {
  test(`the load generator against ${spec.name}: every message to every receiver once`, async () => {
    const server: RunningServer = await startServer(spec, { nofile, core: null });
    try {
      await checkServer({ host: '127.0.0.1', port: server.port, serverPid: server.pid }, spec.name);
      assert.not.ok(server.exited(), `${spec.name} is still running`);
    } finally {
      await server.stop();
    }
  });
}

// A ws relay with one fault, to prove the check can fail.
type Fault = 'none' | 'drop-one' | 'duplicate-one' | 'echo-sender' | 'leak-room' | 'ignore-first-member';

async function faultyRelay(fault: Fault): Promise<{ port: number; close: () => Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise<void>((resolve) => wss.on('listening', resolve));
  const rooms = new Map<string, WebSocket[]>();
  let relayed = 0;
  wss.on('connection', (ws, req) => {
    const room = new URL(req.url ?? '/', 'http://x').searchParams.get('room') ?? '';
    const members = rooms.get(room) ?? [];
    rooms.set(room, members);
    members.push(ws);
    ws.on('message', (data, isBinary) => {
      const n = relayed++;
      let targets = members.filter((m) => m !== ws);
      if (fault === 'echo-sender' && n === 3) targets = members;
      if (fault === 'ignore-first-member') targets = targets.filter((m) => m !== members[0]);
      if (fault === 'leak-room' && n === 3) for (const [key, other] of rooms) if (key !== room) targets = targets.concat(other.slice(0, 1));
      for (const [i, m] of targets.entries()) {
        if (fault === 'drop-one' && n === 5 && i === 0) continue;
        m.send(data, { binary: isBinary });
        if (fault === 'duplicate-one' && n === 5 && i === 0) m.send(data, { binary: isBinary });
      }
    });
  });
  return {
    port: (wss.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  };
}

const faults: [Fault, (r: ScenarioResult) => void][] = [
  ['none', (r) => assertAllDelivered(r, 'a correct relay')],
  ['drop-one', (r) => assert.is(r.verification.missing, 1)],
  ['duplicate-one', (r) => assert.is(r.verification.duplicates, 1)],
  ['echo-sender', (r) => assert.is(r.verification.selfEcho, 1)],
  ['leak-room', (r) => assert.ok(r.verification.misrouted >= 1)],
  ['ignore-first-member', (r) => assert.ok(r.verification.missing > 0)],
];

for (const [fault, check] of faults) {
  test(`a relay with fault "${fault}" is ${fault === 'none' ? 'passed' : 'caught'}`, async () => {
    const relay = await faultyRelay(fault);
    try {
      const params: Params = fault === 'leak-room' ? small.rooms : small.flood;
      const r = await runScenario({ host: '127.0.0.1', port: relay.port, serverPid: 0 }, params);
      check(r);
      if (fault !== 'none') {
        assert.not.ok(r.verification.ok, 'verification fails');
        assert.ok(r.verification.problems.length > 0, 'and says why');
      }
    } finally {
      await relay.close();
    }
  });
}

test('a refused upgrade is an error naming the status', async () => {
  const server = await startServer(peerSpecs()[0], { nofile, core: null });
  try {
    const c = new Conn({ room: 0, slot: 0, roomSize: 1 }, new Shared());
    let message = '';
    await c.connect('127.0.0.1', server.port, '/?room=bad%20room&name=x').catch((err: Error) => (message = err.message));
    assert.match(message, /upgrade refused: HTTP\/1\.1 400/);
  } finally {
    await server.stop();
  }
});

// A hand-written server that sends its frames in awkward pieces: the 101 and
// the first frame in one write, then the rest a few bytes at a time, with a ping
// in the middle that must be answered with a masked pong carrying its payload.
test('frames split at any byte, and after the 101 in the same read, are parsed; pings are answered', async () => {
  const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
  const payload = (seq: number, size: number): Buffer => {
    const p = Buffer.alloc(size, 0x61);
    p.writeDoubleLE(performance.now(), 0);
    p.writeUInt32LE(0, 8);
    p.writeUInt32LE(1, 12);
    p.writeUInt32LE(seq, 16);
    p.writeUInt32LE(0x0b3c4d5e, 20);
    return p;
  };
  const frame = (opcode: number, p: Buffer): Buffer => {
    const h = p.length < 126 ? Buffer.from([0x80 | opcode, p.length]) : p.length < 65536 ? Buffer.from([0x80 | opcode, 126, p.length >> 8, p.length & 255]) : Buffer.alloc(10);
    if (p.length >= 65536) {
      h[0] = 0x80 | opcode;
      h[1] = 127;
      h.writeUInt32BE(p.length, 6);
    }
    return Buffer.concat([h, p]);
  };
  const sizes = [64, 300, 70_000, 24, 5000];
  let pong: Buffer | null = null;
  const server: Server = createServer((socket: Socket) => {
    socket.on('error', () => {});
    let head = '';
    socket.on('data', (d: Buffer) => {
      if (head.includes('\r\n\r\n')) {
        pong = d;
        return;
      }
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      const key = /sec-websocket-key:\s*(\S+)/i.exec(head)?.[1] ?? '';
      const accept = createHash('sha1').update(key + GUID).digest('base64');
      const frames = sizes.map((s, i) => frame(2, payload(i, s)));
      frames.splice(2, 0, frame(9, Buffer.from('are you there')));
      socket.write(Buffer.concat([Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`), frames[0]]));
      const rest = Buffer.concat(frames.slice(1));
      let off = 0;
      let step = 1;
      const drip = (): void => {
        if (off >= rest.length) return;
        const n = off > 2000 && off < rest.length - 2000 ? 4096 : step;
        socket.write(rest.subarray(off, off + n));
        off += n;
        step = (step % 7) + 1;
        setImmediate(drip);
      };
      drip();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const shared = new Shared();
  const c = new Conn({ room: 0, slot: 0, roomSize: 2 }, shared);
  c.expectSize = -1; // sizes vary here: only the counting is checked
  try {
    await c.connect('127.0.0.1', (server.address() as AddressInfo).port, '/?room=x&name=y');
    const end = Date.now() + 20_000;
    while ((c.received < sizes.length || pong === null) && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
    assert.is(c.received, sizes.length, 'every frame counted once');
    assert.is(c.next[1], sizes.length, 'in order, none missing');
    assert.is(c.missing + c.duplicates + c.misrouted + c.badMeta + c.protocolErrors, 0);
    assert.is(c.badSize, sizes.length, 'sizes are checked against the expected size');
    const got = pong as Buffer | null;
    assert.ok(got !== null, 'a pong came back');
    if (got !== null) {
      assert.is(got[0], 0x8a, 'pong opcode, FIN');
      assert.is(got[1] & 0x80, 0x80, 'masked');
      const len = got[1] & 0x7f;
      const mask = got.subarray(2, 6);
      const body = Buffer.from(got.subarray(6, 6 + len).map((b, i) => b ^ mask[i & 3]));
      assert.is(body.toString(), 'are you there');
    }
  } finally {
    c.reset();
    server.close();
  }
});

test('the latency histogram reads quantiles within its resolution', () => {
  const h = new Histogram();
  for (let i = 1; i <= 1000; i++) h.record(i);
  for (let i = 0; i < 10; i++) h.record(50_000 + i * 1000);
  assert.ok(Math.abs(h.quantile(0.5) - 505) <= 2, `p50 ${h.quantile(0.5)}`);
  assert.ok(h.quantile(0.99) > 990 && h.quantile(0.99) <= 1001, `p99 ${h.quantile(0.99)}`);
  const p999 = h.quantile(0.999);
  assert.ok(Math.abs(p999 - 58_000) / 58_000 < 0.01, `p99.9 ${p999}`);
  assert.is(h.max, 59_000);
  assert.is(h.total, 1010);
});

test.run();
