// The cluster benchmark's peer: one Socket.IO 4 node with @socket.io/redis-adapter,
// websocket transport only. A client joins the room named in its handshake query
// and every 'm' it emits goes to the rest of that room on every node, which is
// what our server does in raw mode. Prints the same ready line as ours.
//
//   REDIS_URL=redis://127.0.0.1:6379 npx tsx bench/peers/socketio-cluster.ts --port 0

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';

const portArg = process.argv.indexOf('--port');
const port = portArg === -1 ? 0 : Number(process.argv[portArg + 1]);
const pub = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const sub = pub.duplicate();
pub.on('error', () => undefined);
sub.on('error', () => undefined);

const http = createServer();
const io = new Server(http, { transports: ['websocket'], adapter: createAdapter(pub, sub, { key: process.env.CLUSTER ?? 'socket.io' }), serveClient: false, maxHttpBufferSize: 1 << 20 });
io.on('connection', (socket) => {
  const room = String(socket.handshake.query.room ?? '');
  void socket.join(room);
  socket.on('m', (data: unknown) => {
    socket.to(room).emit('m', data);
  });
});
http.listen(port, '127.0.0.1', () => {
  const { port: actual } = http.address() as AddressInfo;
  process.stdout.write(`listening on ws://127.0.0.1:${actual}\n`);
});
process.on('SIGTERM', () => process.exit(0));
