// What the ws peers share: flags, the join query, refusing a bad upgrade with 400
// before any WebSocket exists, and the room bookkeeping around their relay loop.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { RawData, WebSocket, WebSocketServer } from 'ws';
import type { Duplex } from 'node:stream';

export interface PeerOptions {
  host: string;
  port: number;
}

export function parseFlags(argv: readonly string[]): PeerOptions {
  const opts: PeerOptions = { host: '127.0.0.1', port: 0 };
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    if (argv[i] === '--port' && value !== undefined) opts.port = Number(argv[++i]);
    else if (argv[i] === '--host' && value !== undefined) opts.host = argv[++i];
  }
  return opts;
}

export interface Join {
  room: string;
  name: string;
}

const ROOM = /^[A-Za-z0-9_.~-]{1,128}$/;

export function parseJoin(req: IncomingMessage): Join | string {
  const url = new URL(req.url ?? '/', 'http://x');
  if (url.pathname !== '/') return 'unknown path';
  const room = url.searchParams.get('room') ?? '';
  const name = url.searchParams.get('name') ?? '';
  if (!ROOM.test(room)) return 'invalid room';
  if (name.length < 1 || [...name].length > 64 || /\p{Cc}/u.test(name)) return 'invalid name';
  return { room, name };
}

export function refuse(socket: Duplex, reason: string): void {
  socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: ${reason.length + 1}\r\n\r\n${reason}\n`);
}

/** An HTTP server answering 404 to plain requests; the caller handles 'upgrade'. */
export function httpServer(): Server {
  return createServer((_req, res) => {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
}

export function listen(server: Server, opts: PeerOptions, label: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : opts.port;
      process.stdout.write(`${label} listening on ws://${opts.host}:${port}\n`);
      resolve(port);
    });
  });
}

export function stopOnSignals(server: Server): void {
  const stop = (): void => {
    server.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/** Relays one message from `from` to the others of `room`: the part each peer writes its own way. */
export type Relay = (room: ReadonlySet<WebSocket>, from: WebSocket, data: RawData, isBinary: boolean) => void;

/**
 * Serves the raw-mode rooms on an HTTP server: joins by `?room=KEY&name=NAME`, keeps
 * each room's members, hands every message to `relay`, and forgets an emptied room.
 */
export async function serveRooms(wss: WebSocketServer, relay: Relay, opts: PeerOptions, label: string): Promise<void> {
  const server = httpServer();
  const rooms = new Map<string, Set<WebSocket>>();
  server.on('upgrade', (req, socket, head) => {
    const join = parseJoin(req);
    if (typeof join === 'string') {
      refuse(socket, join);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      let room = rooms.get(join.room);
      if (room === undefined) {
        room = new Set();
        rooms.set(join.room, room);
      }
      const members = room;
      members.add(ws);
      ws.on('error', () => {});
      ws.on('message', (data, isBinary) => relay(members, ws, data, isBinary));
      ws.on('close', () => {
        members.delete(ws);
        if (members.size === 0 && rooms.get(join.room) === members) rooms.delete(join.room);
      });
    });
  });
  stopOnSignals(server);
  await listen(server, opts, label);
}
