// Peer server: like ws-server.ts, but each broadcast is framed once with
// `WebSocket.Sender.frame` and the same bytes are written straight to every
// receiver's socket — the best a careful `ws` user can do without leaving ws.
import type { Socket } from 'node:net';
import * as wsModule from 'ws';
import { WebSocket, WebSocketServer } from 'ws';
import { parseFlags, serveRooms } from './common';

// ws keeps the socket in a private field, and its typings declare neither that
// nor the (public, documented in the source) Sender class: name what we use.
interface WithSocket {
  _socket: Socket;
}
interface FrameOptions {
  fin: boolean;
  opcode: number;
  mask: boolean;
  readOnly: boolean;
  rsv1: boolean;
}
const Sender = (wsModule as unknown as { Sender: { frame(data: Buffer, options: FrameOptions): Buffer[] } }).Sender;
if (typeof Sender?.frame !== 'function') throw new Error('ws does not export Sender.frame');

const SMALL = 16 * 1024;
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });

function broadcast(room: ReadonlySet<WebSocket>, from: WebSocket, data: Buffer, isBinary: boolean): void {
  const parts = Sender.frame(data, { fin: true, opcode: isBinary ? 2 : 1, mask: false, readOnly: false, rsv1: false });
  // Small frames: one contiguous buffer, one write per receiver. Large ones: header
  // and payload as two buffers in one corked (writev) write, payload never copied.
  const whole = parts.length === 1 ? parts[0] : data.length <= SMALL ? Buffer.concat(parts) : null;
  for (const client of room) {
    if (client === from || client.readyState !== WebSocket.OPEN) continue;
    const socket = (client as unknown as WithSocket)._socket;
    if (whole !== null) socket.write(whole);
    else {
      socket.cork();
      socket.write(parts[0]);
      socket.write(parts[1]);
      socket.uncork();
    }
  }
}

await serveRooms(wss, (room, from, data, isBinary) => broadcast(room, from, data as Buffer, isBinary), parseFlags(process.argv.slice(2)), 'ws-frame-once');
