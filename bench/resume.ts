// `npx tsx bench/resume.ts`: the resume scenario of issue 12. MEMBERS JSON
// members are in one room; they all drop; MISSED messages are sent meanwhile;
// then all of them reconnect at once with ?since=&epoch=, and each must receive
// exactly the messages it missed, in order, recovered. Reports the time until
// every member is caught up and the server's CPU time over that window.
// Reported, never asserted (a shared, noisy machine).
//
//   npx tsx bench/resume.ts [--members 1000] [--missed 100]
import WebSocket from 'ws';
import { cpuMicros } from './lib/proc';
import { hardNofile, oursSpec, startServer } from './lib/servers';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i === -1 ? fallback : process.argv[i + 1] ?? fallback;
}
const MEMBERS = Number(arg('--members', '1000'));
const MISSED = Number(arg('--missed', '100'));
const ROOM = 'resume-bench';

const server = await startServer({ ...oursSpec(), env: { ...oursSpec().env, HISTORY_SIZE: String(Math.max(100, MISSED)) } }, { nofile: Math.min(hardNofile(), 65536), core: null });
const base = `ws://127.0.0.1:${server.port}`;

interface Joined {
  ws: WebSocket;
  welcome: { epoch: string; seq: number; recovered?: boolean };
  frames: { type: string; seq?: number; text?: string }[];
}

function join(name: string, extra = ''): Promise<Joined> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base}/?room=${ROOM}&name=${name}${extra}`, 'rooms.v1.json');
    const frames: Joined['frames'] = [];
    let done = false;
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as Joined['frames'][number] & Joined['welcome'];
      if (!done) {
        done = true;
        resolve({ ws, welcome: frame, frames });
      } else frames.push(frame);
    });
    ws.on('error', reject);
  });
}

async function inBatches<T>(count: number, size: number, make: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < count; i += size) out.push(...(await Promise.all(Array.from({ length: Math.min(size, count - i) }, (_, j) => make(i + j)))));
  return out;
}

try {
  const sender = await join('sender');
  const members = await inBatches(MEMBERS, 200, (i) => join(`m${i}`));
  const epoch = members[0]!.welcome.epoch;
  const since = Math.max(...members.map((m) => m.welcome.seq));
  await Promise.all(members.map((m) => new Promise<void>((resolve) => {
    m.ws.once('close', () => resolve());
    m.ws.terminate();
  })));
  for (let i = 1; i <= MISSED; i++) sender.ws.send(JSON.stringify({ type: 'message', text: `missed ${i}` }));
  // Everything sent is relayed (and so has its seq) once the sender's own echo-free round trip is done.
  await new Promise((r) => setTimeout(r, 500));

  const cpuBefore = cpuMicros(server.pid);
  const started = performance.now();
  let caughtUp = 0;
  let wrong = 0;
  await Promise.all(Array.from({ length: MEMBERS }, (_, i) => new Promise<void>((resolve, reject) => {
    const ws = new WebSocket(`${base}/?room=${ROOM}&name=m${i}&since=${since}&epoch=${epoch}`, 'rooms.v1.json');
    let expected = since + 1;
    let welcomed = false;
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as { type: string; seq?: number; recovered?: boolean };
      if (!welcomed) {
        welcomed = true;
        if (frame.type !== 'welcome' || frame.recovered !== true) wrong++;
        return;
      }
      if (frame.type !== 'message') return;
      if (frame.seq !== expected) wrong++;
      expected++;
      if (expected === since + 1 + MISSED) {
        caughtUp++;
        ws.terminate();
        resolve();
      }
    });
    ws.on('error', reject);
  })));
  const ms = performance.now() - started;
  const cpuMs = (cpuMicros(server.pid) - cpuBefore) / 1000;
  const result = { scenario: 'resume', members: MEMBERS, missedEach: MISSED, caughtUp, wrong, allCaughtUpMs: Math.round(ms), serverCpuMs: Math.round(cpuMs) };
  console.log(JSON.stringify(result));
  sender.ws.terminate();
} finally {
  await server.stop();
}
