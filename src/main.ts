// Entry point: settings from flags and environment, start, and a graceful stop on
// SIGTERM/SIGINT (close every WebSocket with 1001, flush the store, exit 0). Writes
// the store still owes (the database is down) are saved to DATA_DIR/pending-writes.json
// for the next start; if even that fails, the stop exits 5 and says what was lost.

import { AccessSettingsError } from './access/join-tokens';
import { clusterSettingsError } from './cluster/cluster-settings';
import { StoreCloseError, StoreStartError } from './persistence/types';
import { startServer } from './server/server';
import { isWorkersPrimary, superviseWorkers } from './server/workers';
import { parseSettings } from './settings';

const parsed = parseSettings(process.argv.slice(2), process.env);
if (!parsed.ok) {
  if ('help' in parsed) {
    process.stdout.write(parsed.help);
    process.exit(0);
  }
  process.stderr.write(`rooms: ${parsed.error}\n`);
  process.exit(2);
}
const clusterError = clusterSettingsError(parsed.settings);
if (clusterError !== null) {
  process.stderr.write(`rooms: ${clusterError}\n`);
  process.exit(2);
}
// WORKERS > 1: this process only supervises; the workers run the code below.
if (isWorkersPrimary(parsed.settings.workers)) await superviseWorkers(parsed.settings.workers);

try {
  const server = await startServer(parsed.settings);
  let firstSignalAt = 0;
  const stop = (signal: NodeJS.Signals) => {
    // A second signal a while after the first means "now": skip the graceful wait. One
    // arriving at once is the same stop twice (npm forwards the group's SIGTERM to us).
    if (firstSignalAt !== 0) {
      if (Date.now() - firstSignalAt > 1000) process.exit(1);
      return;
    }
    firstSignalAt = Date.now();
    process.stderr.write(`rooms: ${signal}, closing connections and flushing the store\n`);
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        if (error instanceof StoreCloseError) {
          process.stderr.write(`rooms: stopped, but room writes were lost: ${error.message}\n`);
          process.exit(5);
        }
        process.stderr.write(`rooms: shutdown failed: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // SIGHUP: a renewed certificate is read again without dropping a connection; so is the join-token key.
  process.on('SIGHUP', () => {
    server.reloadTls();
    server.reloadJoinKey();
  });
} catch (error) {
  if (error instanceof AccessSettingsError) {
    process.stderr.write(`rooms: cannot start: ${error.message}\n`);
    process.exit(2);
  }
  if (error instanceof StoreStartError) {
    process.stderr.write(`rooms: cannot start: ${error.message}\n`);
    process.exit(3);
  }
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE' || code === 'EACCES') {
    process.stderr.write(`rooms: cannot listen on ${parsed.settings.host}:${parsed.settings.port}: ${code}\n`);
    process.exit(4);
  }
  throw error;
}
