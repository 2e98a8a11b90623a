// An in-process server for tests: listens on 127.0.0.1 on a free port, keeps its
// rooms in a fresh temp folder, logs nothing, and is removed with stop().

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/server/logger';
import { startServer, type RoomsServer, type StartOptions } from '../../src/server/server';
import { defaultSettings, type Settings } from '../../src/settings';

export interface TestServer {
  server: RoomsServer;
  port: number;
  /** ws://127.0.0.1:PORT */
  url: string;
  dataDir: string;
  settings: Settings;
  /** Closes the server (WebSockets get 1001) and deletes the data folder. */
  stop(): Promise<void>;
}

/**
 * Defaults for tests: many connections from 127.0.0.1 are normal here, so the
 * per-address join limit is out of the way; a short close timeout keeps stop() quick.
 */
export async function startTestServer(overrides: Partial<Settings> = {}, options: StartOptions = {}): Promise<TestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'rooms-test-'));
  const settings = defaultSettings({
    host: '127.0.0.1',
    port: 0,
    dataDir,
    logLevel: 'silent',
    closeTimeoutMs: 1000,
    joinsPerMinutePerAddress: 1_000_000,
    ...overrides,
  });
  // Silent, the ready line included: test output is the test runner's.
  const server = await startServer(settings, { log: createLogger('silent', () => {}), ...options });
  let stopped: Promise<void> | null = null;
  return {
    server,
    port: server.port,
    url: server.url,
    dataDir,
    settings,
    stop: () =>
      (stopped ??= (async () => {
        try {
          await server.close();
        } finally {
          rmSync(dataDir, { recursive: true, force: true });
        }
      })()),
  };
}

/** Polls `check` until it returns true, or throws after `timeoutMs` naming `what`. */
export async function waitUntil(check: () => boolean, what: string, timeoutMs = 3000, everyMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
