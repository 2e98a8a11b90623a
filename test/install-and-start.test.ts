// What a new user runs: `npm install` leaves no install script unreviewed (so it prints
// no allowScripts warning), and `npm start` runs the JavaScript tsc compiled into dist/,
// not a compiler in memory, with source maps so a stack trace names the .ts line.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { REPO_ROOT, runFailingStart, startServerProcess, stopAllServerProcesses } from './helpers/server-process';

test.after(stopAllServerProcesses);

interface PackageJson {
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
  allowScripts?: Record<string, boolean>;
}
const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as PackageJson;

test('npm install: every dependency install script is reviewed in allowScripts (no warning)', () => {
  assert.is(pkg.allowScripts?.esbuild, true, 'esbuild (under tsx) is approved in package.json');
  const out = execFileSync('npm', ['install-scripts', 'ls', '--json'], { cwd: REPO_ROOT, encoding: 'utf8' });
  assert.equal((JSON.parse(out) as { allowScripts: unknown[] }).allowScripts, [], `npm install-scripts ls: ${out}`);
});

test('nothing at run time needs tsx; npm install builds dist/ (prepare)', () => {
  assert.is(pkg.dependencies.tsx, undefined, 'tsx is a devDependency');
  assert.match(pkg.scripts.prepare ?? '', /scripts\/build\.mjs/);
  assert.match(pkg.scripts.dev ?? '', /tsx watch/);
});

test('npm start runs node on dist/main.js with source maps, no tsx in the process group', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'rooms-npm-start-'));
  const server = await startServerProcess({ command: 'npm-start', env: { DATA_DIR: dataDir } });
  const args = execFileSync('ps', ['-o', 'args=', '-g', String(server.pid)], { encoding: 'utf8' });
  assert.match(args, /node --enable-source-maps dist\/main\.js/, `processes of npm start:\n${args}`);
  assert.not.match(args, /tsx/, `processes of npm start:\n${args}`);
  await server.kill9();
  rmSync(dataDir, { recursive: true, force: true });
});

test('a stale build is rebuilt by npm start, and a crash names the .ts line', async () => {
  rmSync(join(REPO_ROOT, 'dist', '.built'), { force: true }); // as if a source had changed since the build
  const failed = await runFailingStart({ command: 'npm-start', env: { TLS_CERT: '/nonexistent/cert.pem', TLS_KEY: '/nonexistent/key.pem' } });
  assert.is.not(failed.status.code, 0);
  assert.match(failed.stderr, /ENOENT/);
  assert.match(failed.stderr, /at loadTls \([^)]*src\/server\/server\.ts:\d+:\d+\)/, `stack trace through the source map:\n${failed.stderr}`);
  assert.ok(readFileSync(join(REPO_ROOT, 'dist', '.built'), 'utf8').length > 0, 'prestart rebuilt dist/');
});

test.run();
