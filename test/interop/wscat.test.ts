// Interop with wscat, the way the README tells a new user to chat: wscat is
// spawned as a child process, a line written to its stdin is a message, and the
// messages it receives are lines on its stdout (it prints bare lines when stdout
// is not a terminal).

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { startTestServer, waitUntil, type TestServer } from '../helpers/test-server';

const WSCAT = fileURLToPath(new URL('../../node_modules/.bin/wscat', import.meta.url));

let ts: TestServer;
const children = new Set<ChildProcess>();
const sockets = new Set<WebSocket>();

test.before(async () => {
  ts = await startTestServer();
});
test.after.each(async () => {
  await Promise.all([...children].map(stopChild));
  for (const ws of sockets) ws.terminate();
  sockets.clear();
});
test.after(async () => {
  await Promise.all([...children].map(stopChild));
  await ts.stop();
});

interface Wscat {
  child: ChildProcess;
  /** Resolves with the next line wscat printed on stdout. */
  line(timeoutMs?: number): Promise<string>;
  type(line: string): void;
}

function stopChild(child: ChildProcess): Promise<void> {
  children.delete(child);
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** Spawns wscat into `room` as `name` and waits until the server has it as a member. */
async function wscat(room: string, name: string): Promise<Wscat> {
  const before = ts.server.registry.get(room)?.members.size ?? 0;
  const child = spawn(WSCAT, ['-c', `${ts.url}/?room=${room}&name=${name}`], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  children.add(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines: string[] = [];
  const waiting: Array<(line: string) => void> = [];
  let partial = '';
  child.stdout!.on('data', (d: Buffer) => {
    partial += d.toString('utf8');
    let newline: number;
    while ((newline = partial.indexOf('\n')) !== -1) {
      // After each typed line, wscat's readline writes its "> " prompt to stdout too.
      const line = partial.slice(0, newline).replace(/^(> )+/, '');
      partial = partial.slice(newline + 1);
      const waiter = waiting.shift();
      if (waiter) waiter(line);
      else lines.push(line);
    }
  });
  // wscat only reads stdin once connected: wait until the server counts it in.
  await waitUntil(() => (ts.server.registry.get(room)?.members.size ?? 0) > before || child.exitCode !== null, `wscat ${name} to join ${room}`, 15_000, 25);
  if (child.exitCode !== null) throw new Error(`wscat exited with ${child.exitCode}: ${stderr}`);
  return {
    child,
    line(timeoutMs = 10_000) {
      const ready = lines.shift();
      if (ready !== undefined) return Promise.resolve(ready);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`wscat ${name} printed no line within ${timeoutMs} ms; stderr: ${stderr}`)), timeoutMs);
        waiting.push((line) => {
          clearTimeout(timer);
          resolve(line);
        });
      });
    },
    type(line: string) {
      child.stdin!.write(`${line}\n`);
    },
  };
}

test('a line typed in one wscat reaches another wscat in the same room', async () => {
  const ada = await wscat('wscat-demo', 'ada');
  const bob = await wscat('wscat-demo', 'bob');
  ada.type('hello from ada');
  assert.is(await bob.line(), 'hello from ada');
  bob.type('hi ada, bob here ✓');
  assert.is(await ada.line(), 'hi ada, bob here ✓');
});

test('a line typed in wscat reaches a ws member, and the ws member\'s text reaches wscat', async () => {
  const ws = new WebSocket(`${ts.url}/?room=wscat-mixed&name=wsclient`);
  sockets.add(ws);
  const received = new Promise<string>((resolve) => ws.once('message', (data) => resolve(String(data))));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const cat = await wscat('wscat-mixed', 'cat');
  cat.type('typed in wscat');
  assert.is(await received, 'typed in wscat');
  ws.send('sent by ws');
  assert.is(await cat.line(), 'sent by ws');
});

test('closing wscat\'s stdin ends its session cleanly; the room sees it leave', async () => {
  const cat = await wscat('wscat-leave', 'cat');
  const exited = new Promise<void>((resolve) => cat.child.once('exit', () => resolve()));
  cat.child.stdin!.end();
  await exited;
  await waitUntil(() => ts.server.registry.get('wscat-leave')?.members.size === 0, 'the wscat member to leave');
});

test.run();
