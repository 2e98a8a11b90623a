// Runs every test file under test/ in its own Node process (so one file's leaked
// socket or timer cannot hang or poison another), then prints one summary line.
// A file that times out, crashes, skips a test or runs none counts as failed.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('.', import.meta.url).pathname;
const filter = process.argv[2] ? new RegExp(process.argv[2]) : null;
const timeoutMs = Number(process.env.TEST_FILE_TIMEOUT_MS ?? 240_000);

function listTests(dir) {
  const out = [];
  for (const entry of readdirSync(dir).sort()) {
    const full = join(dir, entry);
    if (statSync(full).isDirectory()) out.push(...listTests(full));
    else if (entry.endsWith('.test.ts')) out.push(full);
  }
  return out;
}

function runFile(file) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FORCE_COLOR: '0' },
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => {
      output += `\n[run] timed out after ${timeoutMs} ms: killed\n`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const num = (label) => Number((output.match(new RegExp(`${label}:\\s+(\\d+)`)) ?? [])[1] ?? 0);
      resolve({ file, code, signal, output, total: num('Total'), passed: num('Passed'), skipped: num('Skipped'), ms: Date.now() - started });
    });
  });
}

const files = listTests(root).filter((f) => !filter || filter.test(f));
let passed = 0;
let failed = 0;
for (const file of files) {
  const r = await runFile(file);
  const name = relative(root, file);
  const ok = r.code === 0 && r.total > 0 && r.passed === r.total && r.skipped === 0;
  passed += r.passed;
  failed += r.total - r.passed;
  if (!ok) {
    if (r.total === r.passed) failed += 1; // crashed, timed out, skipped or ran nothing
    process.stdout.write(`FAIL ${name} (${r.ms} ms, exit ${r.code ?? r.signal})\n${r.output}\n`);
  } else {
    process.stdout.write(`ok   ${name}  ${r.passed} tests  ${r.ms} ms\n`);
  }
}
process.stdout.write(`\n${passed} passed, ${failed} failed\n`);
process.exit(failed === 0 && files.length > 0 ? 0 : 1);
