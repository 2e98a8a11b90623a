// The server as a real child process, the way an operator runs it: spawned with
// flags and environment, ready once it prints its "listening on ws://HOST:PORT"
// line, then crashed (kill -9), stopped (SIGTERM) and restarted on the same port
// with the same settings. Every child runs in its own process group so that
// `npm start` (npm -> sh -> node dist/main.js) dies whole. Nothing outlives the test
// process: stopAllServerProcesses() in `after`, a sync kill on 'exit', and a
// watchdog shell for a test process that is itself killed (a runner timeout).

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SETTINGS } from '../../src/settings';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface ServerProcessOptions {
  /** settings by environment (DATA_DIR, MARIADB_URL, ADMIN_TOKEN, LOG_LEVEL...); nothing is inherited from the test's own environment */
  env?: Record<string, string>;
  /** extra command-line flags */
  args?: string[];
  /** default 127.0.0.1 (tests stay on loopback) */
  host?: string;
  /** default 0: a free port, parsed from the ready line and kept for restarts */
  port?: number;
  /** 'node': node --import tsx src/main.ts --host H --port P; 'npm-start': npm start with HOST and PORT in the environment */
  command?: 'node' | 'npm-start';
  /** how long to wait for the ready line (default 60 s: a busy 2-core machine compiles slowly) */
  readyTimeoutMs?: number;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export type Stream = 'stdout' | 'stderr';

export interface ServerProcess {
  /** pid of the current process (npm's in 'npm-start' mode) */
  readonly pid: number;
  readonly host: string;
  readonly port: number;
  /** ws://HOST:PORT */
  readonly url: string;
  /** http://HOST:PORT */
  readonly httpUrl: string;
  /** lines printed by the current process (a restart starts new lists) */
  readonly stdout: readonly string[];
  readonly stderr: readonly string[];
  /** every line of every run, prefixed with the run number: for failure messages */
  transcript(): string;
  running(): boolean;
  /** true once no process of the current run's group is left (npm start: npm, sh and node) */
  groupGone(): boolean;
  /** resolves with the first line (already printed or to come) of this run that matches */
  waitForLine(stream: Stream, pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGKILL (the whole process group), resolves once it is gone */
  kill9(): Promise<ExitStatus>;
  /**
   * SIGTERM, resolves with the exit code once it is gone (null if a signal ended it).
   * With 'npm-start' the signal goes to the whole group (as docker stop or systemd
   * would send it) and the code is npm's, which dies of the signal itself: null.
   */
  term(timeoutMs?: number): Promise<number | null>;
  /** starts it again with the same settings on the same port (kills the old one with -9 if still running) */
  restart(): Promise<void>;
  /** kill -9 if running; idempotent */
  stop(): Promise<void>;
}

// --- bookkeeping of every child, for cleanup ---------------------------------

const live = new Set<ChildProcess>();
let watchdog: { proc: ChildProcess; dir: string; file: string } | null = null;

function writeGroups(): void {
  if (!watchdog) return;
  const groups = [...live].map((c) => c.pid).filter((p): p is number => typeof p === 'number' && p > 1);
  writeFileSync(watchdog.file, groups.join('\n') + '\n');
}

function ensureWatchdog(): void {
  if (watchdog) return;
  const dir = mkdtempSync(join(tmpdir(), 'rooms-servers-'));
  const file = join(dir, 'groups');
  writeFileSync(file, '');
  // Polls this process; once it is gone, kills the process groups listed (only
  // plain numbers above 1, never "-1") and removes its folder.
  const script = [
    `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done`,
    `for g in $(cat '${file}' 2>/dev/null); do case "$g" in ''|*[!0-9]*|0|1) ;; *) kill -9 -- "-$g" 2>/dev/null ;; esac; done`,
    `rm -rf '${dir}'`,
  ].join('\n');
  const proc = spawn('sh', ['-c', script], { stdio: 'ignore', detached: true });
  proc.unref();
  watchdog = { proc, dir, file };
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

process.on('exit', () => {
  for (const child of live) killGroup(child, 'SIGKILL');
  if (watchdog) {
    watchdog.proc.kill('SIGKILL');
    rmSync(watchdog.dir, { recursive: true, force: true });
  }
});

/** Kills every server this test process started (and its watchdog). For `after`, also after a failure. */
export async function stopAllServerProcesses(): Promise<void> {
  await Promise.all(
    [...live].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          killGroup(child, 'SIGKILL');
        }),
    ),
  );
  live.clear();
  if (watchdog) {
    watchdog.proc.kill('SIGKILL');
    rmSync(watchdog.dir, { recursive: true, force: true });
    watchdog = null;
  }
}

// --- one run of the process ---------------------------------------------------

/** The environment for the child: ours minus every server setting, plus the given ones. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const spec of SETTINGS) delete env[spec.env];
  delete env.NODE_ENV;
  return { ...env, ...extra };
}

interface Run {
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
  exited: Promise<ExitStatus>;
  status: ExitStatus | null;
  lineListeners: Set<() => void>;
}

function launch(options: ServerProcessOptions, port: number): Run {
  const host = options.host ?? '127.0.0.1';
  const env = childEnv(options.env ?? {});
  let file: string;
  let args: string[];
  if ((options.command ?? 'node') === 'npm-start') {
    file = 'npm';
    args = ['start', '--silent', ...(options.args && options.args.length > 0 ? ['--', ...options.args] : [])];
    env.HOST = host;
    env.PORT = String(port);
  } else {
    file = process.execPath;
    args = ['--import', 'tsx', 'src/main.ts', '--host', host, '--port', String(port), ...(options.args ?? [])];
  }
  ensureWatchdog();
  const child = spawn(file, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  live.add(child);
  writeGroups();
  const run: Run = { child, stdout: [], stderr: [], exited: Promise.resolve({ code: null, signal: null }), status: null, lineListeners: new Set() };
  const split = (stream: NodeJS.ReadableStream, into: string[]) => {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      partial += chunk;
      let nl: number;
      while ((nl = partial.indexOf('\n')) !== -1) {
        into.push(partial.slice(0, nl));
        partial = partial.slice(nl + 1);
      }
      for (const listener of run.lineListeners) listener();
    });
    stream.on('end', () => {
      if (partial) into.push(partial);
      partial = '';
      for (const listener of run.lineListeners) listener();
    });
  };
  split(child.stdout!, run.stdout);
  split(child.stderr!, run.stderr);
  run.exited = new Promise<ExitStatus>((resolve) => {
    const done = (status: ExitStatus) => {
      if (run.status) return;
      run.status = status;
      live.delete(child);
      writeGroups();
      for (const listener of run.lineListeners) listener();
      resolve(status);
    };
    // 'close' rather than 'exit': the output is complete by then.
    child.once('close', (code, signal) => done({ code, signal }));
    child.once('error', () => done({ code: null, signal: null }));
  });
  return run;
}

const READY = /listening on (wss?):\/\/(\[[^\]]+\]|[^":\s]+):(\d+)/;

function waitForLineIn(run: Run, stream: Stream, pattern: RegExp, timeoutMs: number, describe: () => string): Promise<string> {
  const lines = stream === 'stdout' ? run.stdout : run.stderr;
  return new Promise((resolve, reject) => {
    let checked = 0;
    const check = () => {
      for (; checked < lines.length; checked++) {
        if (pattern.test(lines[checked]!)) {
          finish();
          resolve(lines[checked]!);
          return;
        }
      }
      if (run.status) {
        finish();
        reject(new Error(`the server exited (${run.status.code ?? run.status.signal}) without printing ${pattern} on ${stream}\n${describe()}`));
      }
    };
    const timer = setTimeout(() => {
      finish();
      reject(new Error(`no line matching ${pattern} on ${stream} within ${timeoutMs} ms\n${describe()}`));
    }, timeoutMs);
    const finish = () => {
      clearTimeout(timer);
      run.lineListeners.delete(check);
    };
    run.lineListeners.add(check);
    check();
  });
}

/** Spawns the server and waits for its ready line; on failure the child is killed and the error says why. */
export async function startServerProcess(options: ServerProcessOptions = {}): Promise<ServerProcess> {
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  const host = options.host ?? '127.0.0.1';
  let port = options.port ?? 0;
  let run: Run;
  const runs: Run[] = [];
  const transcript = () =>
    runs
      .map((r, i) => [...r.stdout.map((l) => `[run ${i + 1} out] ${l}`), ...r.stderr.map((l) => `[run ${i + 1} err] ${l}`)].join('\n'))
      .join('\n');

  const startRun = async () => {
    run = launch(options, port);
    runs.push(run);
    try {
      const line = await waitForLineIn(run, 'stdout', READY, readyTimeoutMs, transcript);
      const match = READY.exec(line)!;
      const seen = Number(match[3]);
      if (port !== 0 && seen !== port) throw new Error(`restarted on port ${seen}, expected ${port}`);
      port = seen;
    } catch (err) {
      killGroup(run.child, 'SIGKILL');
      await run.exited;
      throw err;
    }
  };

  const kill9 = async (): Promise<ExitStatus> => {
    killGroup(run.child, 'SIGKILL');
    return run.exited;
  };

  await startRun();
  const handle: ServerProcess = {
    get pid() {
      return run.child.pid ?? -1;
    },
    host,
    get port() {
      return port;
    },
    get url() {
      return `ws://${host}:${port}`;
    },
    get httpUrl() {
      return `http://${host}:${port}`;
    },
    get stdout() {
      return run.stdout;
    },
    get stderr() {
      return run.stderr;
    },
    transcript,
    running: () => run.status === null,
    groupGone: () => {
      try {
        process.kill(-(run.child.pid ?? 0), 0);
        return false;
      } catch {
        return true;
      }
    },
    waitForLine: (stream, pattern, timeoutMs = 10_000) => waitForLineIn(run, stream, pattern, timeoutMs, transcript),
    kill9,
    term: async (timeoutMs = 30_000) => {
      if (run.status) return run.status.code;
      // npm start: the whole group, as docker stop or systemd would (npm alone
      // does not pass SIGTERM on to the server); node: the process itself.
      if ((options.command ?? 'node') === 'npm-start') killGroup(run.child, 'SIGTERM');
      else run.child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), timeoutMs)));
      const result = await Promise.race([run.exited, late]);
      clearTimeout(timer);
      if (result === 'late') {
        await kill9();
        throw new Error(`the server did not exit within ${timeoutMs} ms of SIGTERM (killed)\n${transcript()}`);
      }
      return result.code;
    },
    restart: async () => {
      if (run.status === null) await kill9();
      await startRun();
    },
    stop: async () => {
      await kill9();
    },
  };
  return handle;
}

export interface FailedStart {
  status: ExitStatus;
  stdout: string;
  stderr: string;
}

/**
 * Runs a server that is expected NOT to start (bad settings, corrupt store) and
 * returns how it ended. If it gets ready after all, it is killed and this throws.
 */
export async function runFailingStart(options: ServerProcessOptions = {}, timeoutMs = 60_000): Promise<FailedStart> {
  const run = launch(options, options.port ?? 0);
  let timer: NodeJS.Timeout | undefined;
  const ready = waitForLineIn(run, 'stdout', READY, timeoutMs, () => '').then(
    () => 'ready' as const,
    () => 'not ready' as const,
  );
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), timeoutMs)));
  const first = await Promise.race([run.exited.then(() => 'exited' as const), ready.then((r) => (r === 'ready' ? r : new Promise<never>(() => {}))), late]);
  clearTimeout(timer);
  const text = () => ({ stdout: run.stdout.join('\n'), stderr: run.stderr.join('\n') });
  if (first !== 'exited') {
    killGroup(run.child, 'SIGKILL');
    await run.exited;
    const { stdout, stderr } = text();
    throw new Error(`the server ${first === 'ready' ? 'started although it should not have' : `neither started nor exited within ${timeoutMs} ms`}\nstdout:\n${stdout}\nstderr:\n${stderr}`);
  }
  return { status: (await run.exited), ...text() };
}
