// Peer server for bench/deflate.ts: the same raw-mode room relay as
// ws-server.ts (join by `?room=KEY&name=NAME`, each message relayed unchanged to
// every other member), with `--deflate on|off` choosing ws's perMessageDeflate.
// On: ws's defaults (per-connection compressor, context takeover allowed unless
// the client declines it) with the same 1 KiB threshold as the rooms server.
import { WebSocket, WebSocketServer } from 'ws';
import { httpServer, listen, parseFlags, parseJoin, refuse, stopOnSignals } from './common';

const argv = process.argv.slice(2);
const opts = parseFlags(argv);
const flag = argv.indexOf('--deflate');
const deflateArg = flag >= 0 ? argv[flag + 1] : 'off';
if (deflateArg !== 'on' && deflateArg !== 'off') throw new Error(`--deflate must be on or off, not ${String(deflateArg)}`);
const deflate = deflateArg === 'on';

const server = httpServer();
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: deflate ? { threshold: 1024 } : false });
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
await listen(server, opts, `ws-deflate-server (perMessageDeflate ${deflate ? 'on' : 'off'})`);
