// Shared by the browser tests: start the real server as a child process, launch
// Debian's Chromium through playwright-core (never a downloaded browser), and
// small polling helpers that need no DOM types in Node.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const REPO_ROOT = new URL('../../', import.meta.url).pathname;
export const CHROMIUM = '/usr/bin/chromium';
const READY_RE = /listening on ws:\/\/[^\s:"]+:(\d+)/;
const START_TIMEOUT_MS = 30_000;

export interface RunningServer {
  port: number;
  base: string;
  child: ChildProcess;
  /** Everything the server printed so far (stdout and stderr). */
  output: () => string;
  /** SIGTERM (or the given signal), then SIGKILL after 10 s; resolves with the exit code or signal. */
  stop: (signal?: NodeJS.Signals) => Promise<string>;
}

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function startServer(opts: { port: number; dataDir: string }): Promise<RunningServer> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--port', String(opts.port), '--host', '127.0.0.1'], {
    cwd: REPO_ROOT,
    env: { ...process.env, DATA_DIR: opts.dataDir, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let output = '';
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve(signal ?? String(code));
    });
  });

  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<string> => {
    if (child.exitCode !== null || child.signalCode !== null) return exited;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  };

  return new Promise<RunningServer>((resolve, reject) => {
    let done = false;
    const fail = (why: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`server did not start: ${why}\n--- server output ---\n${output}`));
    };
    const timer = setTimeout(() => fail(`no line matching ${READY_RE} within ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const m = READY_RE.exec(output);
      if (m && !done) {
        done = true;
        clearTimeout(timer);
        const port = Number(m[1]);
        resolve({ port, base: `http://127.0.0.1:${port}`, child, output: () => output, stop });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('error', (err) => fail(String(err)));
    void exited.then((how) => fail(`exited (${how}) before it was ready`));
  });
}

export interface Browser {
  context: BrowserContext;
  close: () => Promise<void>;
}

/** A fresh headless Chromium with its own throwaway profile. Fails loudly without /usr/bin/chromium. */
export async function launchBrowser(extraArgs: readonly string[] = []): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium). Browser tests are never skipped.`);
  }
  const profile = tempDir('rooms-chromium-');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...extraArgs,
    ],
    viewport: { width: 1000, height: 720 },
    timeout: 60_000,
  });
  context.setDefaultTimeout(15_000);
  return {
    context,
    close: async () => {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Retries `check` until it stops throwing, then returns its value; rethrows the last failure after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T> | T, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const message = last instanceof Error ? last.message : String(last);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}: ${message}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Page errors and console errors, minus the expected noise of a dropped WebSocket. */
export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const text = msg.text();
    if (/WebSocket connection to .* failed/.test(text)) return;
    // The client asks /healthz whether the server is up after a failed join (public/rooms-client.js): expected while it is down.
    if (/^Failed to load resource/.test(text) && msg.location().url.endsWith('/healthz')) return;
    errors.push(`console: ${text}`);
  });
  return errors;
}

// ---------------------------------------------------------------- reading the page

export async function text(page: Page, selector: string): Promise<string> {
  return (await page.locator(selector).first().textContent()) ?? '';
}

export async function memberNames(page: Page): Promise<string[]> {
  return (await page.locator('#members .member-name').allTextContents()).sort();
}

export async function messageTexts(page: Page): Promise<string[]> {
  return page.locator('#messages .msg .text').allTextContents();
}

export async function connState(page: Page): Promise<string> {
  return (await page.locator('#state-box').getAttribute('data-state')) ?? '';
}

/** Waits until the page is connected and welcomed (the status reads exactly "Open"). */
export async function waitOpen(page: Page, timeoutMs = 10_000): Promise<void> {
  await eventually(async () => {
    const state = await connState(page);
    const status = await text(page, '#status');
    if (state !== 'open' || status !== 'Open') throw new Error(`state ${state}, status "${status}"`);
  }, timeoutMs, 'the connection to be open');
}

export async function waitMembers(page: Page, expected: string[], timeoutMs = 10_000): Promise<void> {
  const want = [...expected].sort();
  await eventually(async () => {
    const got = await memberNames(page);
    if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`members ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  }, timeoutMs, `members ${JSON.stringify(want)}`);
}

export async function waitMessage(page: Page, body: string, timeoutMs = 10_000): Promise<void> {
  await eventually(async () => {
    const got = await messageTexts(page);
    if (!got.includes(body)) throw new Error(`messages ${JSON.stringify(got.slice(-5))}`);
  }, timeoutMs, `message ${JSON.stringify(body)}`);
}

/** Opens the page and joins through the form (room typed in, name typed in, Enter). */
export async function joinByForm(page: Page, base: string, room: string, name: string): Promise<void> {
  await page.goto(`${base}/`);
  await page.locator('#room').fill(room);
  await page.locator('#name').fill(name);
  await page.locator('#name').press('Enter');
  await waitOpen(page);
}

/** Opens a shared link (#room=KEY), types the name and clicks Join. */
export async function joinByLink(page: Page, base: string, room: string, name: string): Promise<void> {
  await page.goto(`${base}/#room=${encodeURIComponent(room)}`);
  await page.locator('#name').fill(name);
  await page.locator('#join').click();
  await waitOpen(page);
}

/** Types a message and presses Enter, as a keyboard user would. */
export async function say(page: Page, body: string): Promise<void> {
  await page.locator('#text').fill(body);
  await page.locator('#text').press('Enter');
  await eventually(async () => {
    if ((await page.locator('#text').inputValue()) !== '') throw new Error('message box not cleared');
  }, 5_000, 'the message to be sent');
}
