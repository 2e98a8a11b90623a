// Peer server: the rooms raw-mode contract on `ws`, written the way its README
// shows (WebSocketServer, handleUpgrade from an HTTP server's 'upgrade', and a
// broadcast loop of `client.send(data, { binary: isBinary })`). permessage-deflate
// is off, ws's server default; `--deflate on` turns on ws's own (per-connection
// compressor, context takeover unless the client declines) with the same 1 KiB
// threshold as the rooms server, for bench/deflate.ts.
import { WebSocket, WebSocketServer } from 'ws';
import { parseFlags, serveRooms } from './common';

const argv = process.argv.slice(2);
const flag = argv.indexOf('--deflate');
const deflateArg = flag >= 0 ? argv[flag + 1] : 'off';
if (deflateArg !== 'on' && deflateArg !== 'off') throw new Error(`--deflate must be on or off, not ${String(deflateArg)}`);
const deflate = deflateArg === 'on';

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: deflate ? { threshold: 1024 } : false });
await serveRooms(
  wss,
  (room, from, data, isBinary) => {
    for (const client of room) {
      if (client !== from && client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
    }
  },
  parseFlags(argv),
  deflate ? 'ws-server (perMessageDeflate on)' : 'ws-server',
);
