// Shared by the recovery tests: `ws` members in raw mode with an inbox and a
// close record, plain HTTP to /healthz, /metrics and /admin/rooms, temp data
// folders, and polling. Every client and folder made here is removed by cleanup().

import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import WebSocket from 'ws';

export const ADMIN_TOKEN = 'recovery-admin-token-0123456789';

// --- members ------------------------------------------------------------------

export interface Received {
  data: Buffer;
  isBinary: boolean;
}

export interface Member {
  ws: WebSocket;
  room: string;
  name: string;
  /** set once the connection closed: the code the client saw (1006 = dropped without a close frame) */
  closed: { code: number; reason: string } | null;
  /** resolves when the connection is closed */
  whenClosed: Promise<{ code: number; reason: string }>;
  /** messages received so far, in order */
  received: Received[];
  /** the next message not yet taken with next() */
  next(timeoutMs?: number): Promise<Received>;
  send(data: string | Buffer): void;
}

const clients = new Set<WebSocket>();
const folders = new Set<string>();

export interface JoinOptions {
  /** runs in the 'open' handler itself, i.e. the moment the 101 has been read */
  onOpen?: (member: Member) => void;
  protocol?: string;
  timeoutMs?: number;
}

/** Joins room as name in raw mode (no subprotocol); rejects with the HTTP status if refused. */
export function join(baseUrl: string, room: string, name: string, options: JoinOptions = {}): Promise<Member> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${baseUrl}/?room=${encodeURIComponent(room)}&name=${encodeURIComponent(name)}`, options.protocol ? [options.protocol] : [], {
      perMessageDeflate: false,
      handshakeTimeout: options.timeoutMs ?? 15_000,
    });
    clients.add(ws);
    const received: Received[] = [];
    const waiting: Array<(r: Received) => void> = [];
    let taken = 0;
    let closedResolve: (c: { code: number; reason: string }) => void = () => {};
    const member: Member = {
      ws,
      room,
      name,
      closed: null,
      whenClosed: new Promise((r) => (closedResolve = r)),
      received,
      next(timeoutMs = 10_000) {
        if (taken < received.length) return Promise.resolve(received[taken++]!);
        return new Promise((res, rej) => {
          const timer = setTimeout(() => {
            const i = waiting.indexOf(waiter);
            if (i !== -1) waiting.splice(i, 1);
            rej(new Error(`${name} in ${room}: no message within ${timeoutMs} ms (closed: ${JSON.stringify(member.closed)})`));
          }, timeoutMs);
          const waiter = (r: Received) => {
            clearTimeout(timer);
            taken++;
            res(r);
          };
          waiting.push(waiter);
        });
      },
      send(data) {
        ws.send(data, { binary: Buffer.isBuffer(data) });
      },
    };
    ws.on('message', (data, isBinary) => {
      const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      received.push({ data: buf, isBinary });
      const waiter = waiting.shift();
      if (waiter) waiter(received[taken]!);
    });
    ws.on('close', (code, reason) => {
      member.closed = { code, reason: reason.toString('utf8') };
      clients.delete(ws);
      closedResolve(member.closed);
    });
    // A server killed with -9 may reset the connection: that is expected, not a crash of the test.
    ws.on('error', () => undefined);
    ws.once('open', () => {
      options.onOpen?.(member);
      resolve(member);
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => reject(new Error(`join ${room} as ${name} refused: ${res.statusCode} ${body.trim()}`)));
      res.on('error', () => reject(new Error(`join ${room} as ${name} refused: ${res.statusCode}`)));
    });
    ws.once('error', (err) => {
      if (ws.readyState !== WebSocket.OPEN) reject(new Error(`join ${room} as ${name} failed: ${err.message}`));
    });
  });
}

/** a sends text, b (in the same room) receives it unchanged; binary too. */
export async function assertRelay(a: Member, b: Member, tag: string): Promise<void> {
  const text = `${tag}: text from ${a.name} ✓`;
  a.send(text);
  const got = await b.next();
  if (got.isBinary || got.data.toString('utf8') !== text) throw new Error(`${b.name} got ${JSON.stringify(got.data.toString('utf8'))} (binary ${got.isBinary}), expected ${JSON.stringify(text)}`);
  const bytes = Buffer.from([0, 1, 2, 0xfe, 0xff, ...Buffer.from(tag)]);
  a.send(bytes);
  const bin = await b.next();
  if (!bin.isBinary || !bin.data.equals(bytes)) throw new Error(`${b.name} got binary ${bin.data.toString('hex')} (binary ${bin.isBinary}), expected ${bytes.toString('hex')}`);
}

/** Waits until the connection is closed (it must be going down already). */
export async function closedWithin(member: Member, timeoutMs = 10_000): Promise<{ code: number; reason: string }> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${member.name} in ${member.room}: not closed within ${timeoutMs} ms`)), timeoutMs)));
  try {
    return await Promise.race([member.whenClosed, late]);
  } finally {
    clearTimeout(timer);
  }
}

export function tempDataDir(): string {
  const dir = mkdtempSync(joinPath(tmpdir(), 'rooms-recovery-'));
  folders.add(dir);
  return dir;
}

/** Terminates every client and removes every temp folder made here. */
export function cleanup(): void {
  for (const ws of clients) ws.terminate();
  clients.clear();
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
  folders.clear();
}

export function terminateClients(): void {
  for (const ws of clients) ws.terminate();
  clients.clear();
}

// --- HTTP ---------------------------------------------------------------------

export interface HttpAnswer {
  status: number;
  body: string;
}

export function httpGet(baseUrl: string, path: string, headers: Record<string, string> = {}, timeoutMs = 10_000): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(`${baseUrl}${path}`, { method: 'GET', headers, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

export interface AdminRoom {
  room: string;
  members: number;
  owner: string;
  createdAt: string;
  status: string;
}

/** /admin/rooms, sorted by key (code-unit order, so "Ops" and "ops" stay apart). */
export async function adminRooms(httpUrl: string): Promise<AdminRoom[]> {
  const answer = await httpGet(httpUrl, '/admin/rooms', { Authorization: `Bearer ${ADMIN_TOKEN}` });
  if (answer.status !== 200) throw new Error(`/admin/rooms answered ${answer.status}: ${answer.body}`);
  const rooms = JSON.parse(answer.body) as AdminRoom[];
  return rooms.sort((a, b) => (a.room < b.room ? -1 : a.room > b.room ? 1 : 0));
}

export async function adminRoomMap(httpUrl: string): Promise<Map<string, AdminRoom>> {
  return new Map((await adminRooms(httpUrl)).map((r) => [r.room, r]));
}

export interface Health {
  status: string;
  store: { kind: string; reachable: boolean; pendingWrites: number; errors: number; lastError: string | null };
  connections: number;
  rooms: number;
}

export async function health(httpUrl: string): Promise<Health> {
  const answer = await httpGet(httpUrl, '/healthz');
  if (answer.status !== 200) throw new Error(`/healthz answered ${answer.status}: ${answer.body}`);
  return JSON.parse(answer.body) as Health;
}

/** One sample of the metric (labels ignored); throws if absent. */
export async function metric(httpUrl: string, name: string): Promise<number> {
  const answer = await httpGet(httpUrl, '/metrics');
  if (answer.status !== 200) throw new Error(`/metrics answered ${answer.status}`);
  const line = answer.body.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  if (!line) throw new Error(`/metrics has no ${name}:\n${answer.body}`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

// --- waiting ------------------------------------------------------------------

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls check (which may throw: that counts as "not yet") until it returns true; the last state goes into the error. */
export async function eventually(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 200): Promise<number> {
  const started = Date.now();
  let last = '';
  for (;;) {
    try {
      if (await check()) return Date.now() - started;
      last = 'condition false';
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms (last: ${last})`);
    await sleep(everyMs);
  }
}

/** A row of the rooms table, as the recovery tests read it back. */
export interface RoomRow {
  room_key: string;
  owner: string;
  created_at: bigint | number;
  status: string;
}

export const ROOM_ROWS_SQL = 'SELECT room_key, owner, created_at, status FROM rooms';

/** Rows keyed by room key. */
export function byRoomKey(rows: readonly RoomRow[]): Map<string, RoomRow> {
  return new Map(rows.map((r) => [r.room_key, r]));
}
