// Starting and stopping the servers under test, all the same way: a command
// line, pinned to a core with taskset when it exists, with a raised open-file
// limit, ready when it prints `listening on ws://HOST:PORT`.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ServerSpec {
  name: string;
  /** argv; the first element is the program. */
  command: string[];
  env: Record<string, string>;
  /** Gets a fresh temporary DATA_DIR per start. */
  dataDir: boolean;
  /** Working directory (default: this checkout). */
  cwd?: string;
}

export interface RunningServer {
  spec: ServerSpec;
  pid: number;
  port: number;
  /** Last lines the server printed (stdout and stderr), for error reports. */
  tail: () => string;
  exited: () => boolean;
  stop: () => Promise<void>;
}

export const READY = /listening on ws:\/\/[^\s:"]+:(\d+)/;

export const ROOT = new URL('../../', import.meta.url).pathname;

const tsxNode = (script: string, ...args: string[]): string[] => [process.execPath, '--import', 'tsx', script, ...args];

/** Limits of our server raised out of the benchmark's way; logging quiet. */
export const OURS_ENV: Record<string, string> = {
  LOG_LEVEL: 'warn',
  MESSAGES_PER_SECOND: '1000000',
  MESSAGE_BURST: '1000000',
  MAX_CONNECTIONS: '100000',
  MAX_CONNECTIONS_PER_ADDRESS: '100000',
  JOINS_PER_MINUTE: '1000000',
  ALLOWED_ORIGINS: '*',
};

/**
 * Our server the way `npm start` runs it: the JavaScript tsc compiled into dist/ (built
 * here if missing or stale), so its memory and start time include no compiler.
 */
export function oursSpec(): ServerSpec {
  const build = spawnSync(process.execPath, [join(ROOT, 'scripts/build.mjs'), '--if-stale'], { cwd: ROOT, stdio: 'inherit' });
  if (build.status !== 0) throw new Error('building dist/ for the benchmark failed');
  return {
    name: 'rooms',
    // BENCH_PROFILE=DIR writes a V8 CPU profile of each of our server's runs there (node --cpu-prof);
    // BENCH_NODE_ARGS='--flag ...' adds Node/V8 flags to our server only (--perf-basic-prof for perf, GC experiments).
    command: [process.execPath, ...(process.env.BENCH_PROFILE ? ['--cpu-prof', '--cpu-prof-interval', '200', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : []), ...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean), '--enable-source-maps', 'dist/main.js', '--port', '0', '--host', '127.0.0.1'],
    env: OURS_ENV,
    dataDir: true,
  };
}

/** The minimal relay every figure is also compared with: the most one Node process can do here. */
export const CEILING = 'ceiling';
/** Ours with history off (HISTORY_SIZE=0): the cost of keeping history shows as the ratio to it. */
export function oursHistoryOffSpec(): ServerSpec {
  return { ...oursSpec(), name: 'rooms-history-off', env: { ...OURS_ENV, HISTORY_SIZE: '0' } };
}

/**
 * Ours as it was just before the cluster (issue 11), run the way `npm start` ran it
 * then (under tsx): the issue asks a single process with no REDIS_URL to stay at
 * least 0.95x of its fan-out, and only a measurement in the same run says that on a
 * noisy machine. Extracted once from git into the temp directory; null (with the
 * reason) where there is no git history, e.g. an unpacked tarball.
 */
export const BEFORE_CLUSTER = 'rooms-before-cluster';
const BEFORE_CLUSTER_COMMIT = 'ebd6e2d6c402d39676f194f90c155926a8f97b73';

export function oursBeforeClusterSpec(): ServerSpec | string {
  const dir = join(tmpdir(), `rooms-bench-${BEFORE_CLUSTER_COMMIT.slice(0, 12)}`);
  if (!existsSync(join(dir, 'src/main.ts'))) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const unpack = spawnSync('sh', ['-c', 'git -C "$0" archive "$1" | tar -x -C "$2"', ROOT, BEFORE_CLUSTER_COMMIT, dir], { encoding: 'utf8' });
    if (unpack.status !== 0 || !existsSync(join(dir, 'src/main.ts'))) {
      rmSync(dir, { recursive: true, force: true });
      return `no ${BEFORE_CLUSTER} server: git archive ${BEFORE_CLUSTER_COMMIT.slice(0, 7)} failed (${unpack.stderr.trim().slice(0, 200)})`;
    }
  }
  // Its packages are this checkout's: linked again when the link is missing or dangling (an earlier checkout made it).
  const modules = join(dir, 'node_modules');
  if (!existsSync(modules)) {
    rmSync(modules, { force: true });
    symlinkSync(join(ROOT, 'node_modules'), modules);
  }
  return { name: BEFORE_CLUSTER, command: tsxNode('src/main.ts', '--port', '0', '--host', '127.0.0.1'), env: OURS_ENV, dataDir: true, cwd: dir };
}

export function peerSpecs(): ServerSpec[] {
  return [
    { name: 'ws', command: tsxNode('bench/peers/ws-server.ts', '--port', '0'), env: {}, dataDir: false },
    { name: 'ws-frame-once', command: tsxNode('bench/peers/ws-frame-once.ts', '--port', '0'), env: {}, dataDir: false },
    // The yardstick, not a competitor: a bare relay with nothing but framing (bench/peers/ceiling.ts).
    { name: CEILING, command: tsxNode('bench/peers/ceiling.ts', '--port', '0'), env: {}, dataDir: false },
  ];
}

export function oursExists(): boolean {
  return existsSync(join(ROOT, 'src/main.ts'));
}

let tasksetChecked: boolean | null = null;
export function hasTaskset(): boolean {
  if (tasksetChecked === null) tasksetChecked = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
  return tasksetChecked;
}

/** The hard open-file limit a child can raise itself to. */
export function hardNofile(): number {
  const r = spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' });
  const v = r.stdout.trim();
  return v === 'unlimited' ? 1_048_576 : Number(v) || 1024;
}

/**
 * argv that runs `command` with the open-file limit raised to `nofile` and,
 * when `core` is a number and taskset exists, pinned to that core. `exec` keeps
 * the pid, so the pid we get is the real process's.
 */
export function wrap(command: readonly string[], nofile: number, core: number | null): string[] {
  const pin = core !== null && hasTaskset() ? ['taskset', '-c', String(core)] : [];
  return ['sh', '-c', 'ulimit -n "$0" 2>/dev/null; exec "$@"', String(nofile), ...pin, ...command];
}

export function startServer(spec: ServerSpec, opts: { nofile: number; core: number | null; timeoutMs?: number }): Promise<RunningServer> {
  const dataDir = spec.dataDir ? mkdtempSync(join(tmpdir(), 'rooms-bench-')) : null;
  const env: NodeJS.ProcessEnv = { ...process.env, ...spec.env };
  if (dataDir !== null) env.DATA_DIR = dataDir;
  const argv = wrap(spec.command, opts.nofile, opts.core);
  const child: ChildProcess = spawn(argv[0], argv.slice(1), { cwd: spec.cwd ?? ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let exited = false;
  const keep = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(line);
    if (lines.length > 40) lines.splice(0, lines.length - 40);
  };
  const exitPromise = new Promise<void>((resolve) => {
    child.on('exit', () => {
      exited = true;
      resolve();
    });
  });
  const cleanup = (): void => {
    if (dataDir !== null) rmSync(dataDir, { recursive: true, force: true });
  };
  const stop = async (): Promise<void> => {
    if (!exited) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exitPromise;
      clearTimeout(killer);
    }
    cleanup();
  };
  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => {
      void stop().then(() => reject(new Error(`${spec.name} did not print its listening line within ${opts.timeoutMs ?? 30_000} ms:\n${lines.join('\n')}`)));
    }, opts.timeoutMs ?? 30_000);
    // The ready line may come on either stream.
    const onOutput = (chunk: Buffer): void => {
      buffered += chunk.toString('utf8');
      const m = READY.exec(buffered);
      if (m) {
        clearTimeout(timer);
        child.stdout?.removeListener('data', onOutput);
        child.stderr?.removeListener('data', onOutput);
        child.stdout?.on('data', keep);
        child.stderr?.on('data', keep);
        keep(Buffer.from(buffered));
        resolve({
          spec,
          pid: child.pid ?? 0,
          port: Number(m[1]),
          tail: () => lines.join('\n'),
          exited: () => exited,
          stop,
        });
      }
    };
    child.stdout?.on('data', onOutput);
    child.stderr?.on('data', onOutput);
    void exitPromise.then(() => {
      clearTimeout(timer);
      cleanup();
      reject(new Error(`${spec.name} exited before it was ready:\n${lines.join('\n')}\n${buffered}`));
    });
  });
}
