// MariaDB for tests: a fresh database per test file on the shared server
// (MARIADB_URL, default root on 127.0.0.1:3306), and a throwaway server of our
// own, in a temp folder on a free port, for tests that must stop the database.
// Nothing here ever stops or reconfigures the shared server.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mariadb, { type Connection } from 'mariadb';

export const ADMIN_URL = process.env.MARIADB_URL || 'mariadb://root@127.0.0.1:3306/test';

interface Endpoint {
  host: string;
  port: number;
  user: string;
  password: string | undefined;
}

function endpoint(url: string): Endpoint {
  const u = new URL(url);
  return {
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: u.port ? Number(u.port) : 3306,
    user: decodeURIComponent(u.username),
    password: u.password ? decodeURIComponent(u.password) : undefined,
  };
}

/** The same server and account as url, another database (and optionally another user). */
export function urlFor(url: string, database: string, user?: { name: string; password?: string }): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  if (user) {
    u.username = encodeURIComponent(user.name);
    u.password = user.password ? encodeURIComponent(user.password) : '';
  }
  return u.toString();
}

export function randomName(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

/** Opens a connection as the account in url (database optional), closing it after fn. */
export async function withConnection<T>(url: string, database: string | undefined, fn: (conn: Connection) => Promise<T>): Promise<T> {
  const conn = await mariadb.createConnection({ ...endpoint(url), database, connectTimeout: 2000 });
  conn.on('error', () => undefined);
  try {
    return await fn(conn);
  } finally {
    await conn.end().catch(() => conn.destroy());
  }
}

export interface TestDatabase {
  name: string;
  /** store URL for this database, same account as the admin URL */
  url: string;
  /** runs sql in this database as the admin account */
  query<T = unknown>(sql: string, values?: unknown[]): Promise<T>;
  drop(): Promise<void>;
}

/** A new, empty database rooms_test_<random> on the server of adminUrl. */
export async function freshDatabase(adminUrl: string = ADMIN_URL, prefix = 'rooms_test'): Promise<TestDatabase> {
  const name = randomName(prefix);
  await withConnection(adminUrl, undefined, (c) => c.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4`));
  return {
    name,
    url: urlFor(adminUrl, name),
    query: <T>(sql: string, values?: unknown[]) => withConnection(adminUrl, name, (c) => c.query<T>(sql, values)),
    drop: () => withConnection(adminUrl, undefined, (c) => c.query(`DROP DATABASE IF EXISTS \`${name}\``)).then(() => undefined),
  };
}

/** A TCP port nobody listens on right now (the kernel's pick, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface ThrowawayMariadb {
  port: number;
  dir: string;
  /** root, no password, on this server */
  url(database: string): string;
  /** clean shutdown (SIGTERM), waits until the process is gone */
  stop(): Promise<void>;
  /** crash (SIGKILL) */
  kill(): Promise<void>;
  /** starts it again on the same port and data, waits until it answers */
  start(): Promise<void>;
  /** freezes / thaws the process: a database that hangs instead of refusing */
  pause(): void;
  resume(): void;
  running(): boolean;
  /** stops it and removes its folder */
  destroy(): Promise<void>;
}

const MARIADBD = existsSync('/usr/sbin/mariadbd') ? '/usr/sbin/mariadbd' : 'mariadbd';
const asRoot = process.getuid?.() === 0;

/** mariadb-install-db in its own process group (written to groupFile while it runs, for the watchdog). */
function install(dataDir: string, groupFile: string): Promise<void> {
  const args = ['--no-defaults', '--auth-root-authentication-method=normal', `--datadir=${dataDir}`, '--skip-test-db', '--skip-name-resolve', ...(asRoot ? ['--user=root'] : [])];
  return new Promise((resolve, reject) => {
    const proc = spawn('mariadb-install-db', args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    if (proc.pid) writeFileSync(groupFile, String(proc.pid));
    const timer = setTimeout(() => proc.kill('SIGKILL'), 60_000);
    proc.once('error', (err) => reject(new Error(`mariadb-install-db could not run (is mariadb-server installed?): ${err.message}`)));
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      rmSync(groupFile, { force: true });
      if (code === 0) resolve();
      else reject(new Error(`mariadb-install-db failed (${code ?? signal}): ${stderr.trim().split('\n').slice(-5).join(' | ')}`));
    });
  });
}

/**
 * Installs a data directory in a temp folder (root without password) and runs
 * mariadbd on it, on 127.0.0.1 and a free port. A watchdog shell kills it and
 * removes the folder if this process dies without destroy() (a test timeout).
 */
export async function startThrowawayMariadb(): Promise<ThrowawayMariadb> {
  const dir = await mkdtemp(join(tmpdir(), 'rooms-mariadb-'));
  const dataDir = join(dir, 'data');
  const pidFile = join(dir, 'mariadbd.pid');
  const serverPid = join(dir, 'server.pid'); // ours, written at spawn: no window before mariadbd writes its own
  const installGroup = join(dir, 'install.pgid');
  const errorLog = join(dir, 'error.log');

  // The watchdog polls this process and, once it is gone (a test killed on
  // timeout), kills what the files name (only ever ours: the install's process
  // group, the server's pid) and removes the folder. Polling rather than a pipe:
  // children would inherit the pipe and keep it open. destroy() ends the watchdog.
  // Only plain numbers above 1 are used: "kill -9 -1" would hit every process.
  const script = [
    `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done`,
    `g=$(cat '${installGroup}' 2>/dev/null); case "$g" in ''|*[!0-9]*|0|1) ;; *) kill -9 -- "-$g" 2>/dev/null ;; esac`,
    `p=$(cat '${serverPid}' 2>/dev/null); case "$p" in ''|*[!0-9]*|0|1) ;; *) kill -9 "$p" 2>/dev/null ;; esac`,
    // the killed processes may still be writing for a moment: wait, then remove
    `sleep 1; rm -rf '${dir}'`,
  ].join('\n');
  const watchdog = spawn('sh', ['-c', script], { stdio: 'ignore', detached: true });
  watchdog.unref();

  try {
    await install(dataDir, installGroup);
  } catch (err) {
    watchdog.kill();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const port = await freePort();
  const args = [
    '--no-defaults',
    `--datadir=${dataDir}`,
    `--socket=${join(dir, 'sock')}`,
    `--port=${port}`,
    '--bind-address=127.0.0.1',
    `--pid-file=${pidFile}`,
    `--log-error=${errorLog}`,
    '--skip-name-resolve',
    '--innodb-buffer-pool-size=16M',
    '--max-connections=64',
    ...(asRoot ? ['--user=root'] : []),
  ];

  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  const onExit = () => {
    child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', onExit);

  const launch = async () => {
    if (child) return;
    const proc = spawn(MARIADBD, args, { stdio: 'ignore' });
    child = proc;
    if (proc.pid) writeFileSync(serverPid, String(proc.pid));
    exited = new Promise((resolve) =>
      proc.once('exit', () => {
        if (child === proc) child = null;
        // A later kill -9 by the watchdog must not hit a reused pid.
        rmSync(serverPid, { force: true });
        resolve();
      }),
    );
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child !== proc) {
        const log = await readFile(errorLog, 'utf8').catch(() => '');
        throw new Error(`throwaway mariadbd exited during start:\n${log.split('\n').slice(-15).join('\n')}`);
      }
      try {
        await withConnection(`mariadb://root@127.0.0.1:${port}/mysql`, undefined, (c) => c.query('SELECT 1'));
        return;
      } catch {
        if (Date.now() > deadline) throw new Error(`throwaway mariadbd on port ${port} did not answer within 30 s (log: ${errorLog})`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };

  const halt = async (signal: NodeJS.Signals) => {
    const proc = child;
    if (!proc) return;
    proc.kill('SIGCONT'); // a paused server cannot act on SIGTERM
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  };

  await launch();
  return {
    port,
    dir,
    url: (database) => `mariadb://root@127.0.0.1:${port}/${database}`,
    stop: () => halt('SIGTERM'),
    kill: () => halt('SIGKILL'),
    start: launch,
    pause: () => void child?.kill('SIGSTOP'),
    resume: () => void child?.kill('SIGCONT'),
    running: () => child !== null,
    destroy: async () => {
      await halt('SIGTERM');
      process.off('exit', onExit);
      await rm(dir, { recursive: true, force: true });
      watchdog.kill();
    },
  };
}
