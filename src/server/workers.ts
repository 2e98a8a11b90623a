// WORKERS=N: the primary process forks N server processes that share one port
// (node:cluster hands the listening socket around), and does nothing else: it
// replaces a worker that dies, and on SIGTERM/SIGINT passes the signal on, waits
// for every worker's graceful stop (1001 to clients, store flushed) and exits 0
// when they all did. Each worker is a full cluster node (REDIS_URL required).
// node:cluster re-runs this same entry with the same execArgv, however it is run.

import cluster, { type Worker } from 'node:cluster';

/** True in the primary of a WORKERS > 1 start; workers and single processes go on as usual. */
export function isWorkersPrimary(workers: number): boolean {
  return workers > 1 && cluster.isPrimary;
}

/** Runs the primary until a stop signal; never resolves (the process exits). */
export function superviseWorkers(count: number): Promise<never> {
  let stopping = false;
  let ready = 0;
  const failed = new Set<number>();
  const say = (line: string) => process.stderr.write(`rooms: ${line}\n`);

  const fork = (): Worker => {
    const worker = cluster.fork();
    worker.once('listening', () => {
      ready++;
      if (ready === count) say(`${count} workers ready`);
    });
    return worker;
  };

  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (code !== 0) failed.add(worker.process.pid ?? 0);
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(failed.size === 0 ? 0 : 1);
      return;
    }
    // A worker that died is replaced: a new node id, so it brings back none of the old one's members.
    say(`worker ${worker.process.pid ?? '?'} exited (${signal ?? code}); starting another`);
    setTimeout(fork, 1000).unref();
  });

  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    say(`${signal}, stopping ${Object.keys(cluster.workers ?? {}).length} workers`);
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill(signal);
    if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // SIGHUP (TLS reload) goes to every worker.
  process.on('SIGHUP', () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGHUP');
  });

  for (let i = 0; i < count; i++) fork();
  return new Promise<never>(() => {});
}
