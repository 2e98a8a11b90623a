// Peer server: the rooms raw-mode contract on `ws`, written the way its README
// shows (WebSocketServer, handleUpgrade from an HTTP server's 'upgrade', and a
// broadcast loop of `client.send(data, { binary: isBinary })`), with
// permessage-deflate off (ws's server default).
import { WebSocket, WebSocketServer } from 'ws';
import { httpServer, listen, parseFlags, parseJoin, refuse, stopOnSignals } from './common';

const opts = parseFlags(process.argv.slice(2));
const server = httpServer();
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
const rooms = new Map<string, Set<WebSocket>>();

server.on('upgrade', (req, socket, head) => {
  const join = parseJoin(req);
  if (typeof join === 'string') {
    refuse(socket, join);
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    let members = rooms.get(join.room);
    if (members === undefined) {
      members = new Set();
      rooms.set(join.room, members);
    }
    members.add(ws);
    const room = members;
    ws.on('error', () => {});
    ws.on('message', (data, isBinary) => {
      for (const client of room) {
        if (client !== ws && client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
      }
    });
    ws.on('close', () => {
      room.delete(ws);
      if (room.size === 0 && rooms.get(join.room) === room) rooms.delete(join.room);
    });
  });
});

stopOnSignals(server);
await listen(server, opts, 'ws-server');
