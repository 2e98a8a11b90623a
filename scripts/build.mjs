// Compiles src/ into dist/ with tsc (source maps included), for `npm start`: production
// runs plain JavaScript, no compiler in memory. Run by `prepare` (every `npm install`)
// and by `prestart` with --if-stale (rebuilds only when a source is newer than the build).
//
// The sources import each other without extensions (moduleResolution "Bundler", which
// tsx and the tests rely on); Node's ESM loader needs them, so the emitted relative
// specifiers get their `.js` here. Only import lines change, so the maps stay right.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');
const dist = join(root, 'dist');
const stamp = join(dist, '.built');

function files(dir, suffix) {
  const out = [];
  for (const entry of readdirSync(dir)) {
    const full = join(dir, entry);
    if (statSync(full).isDirectory()) out.push(...files(full, suffix));
    else if (entry.endsWith(suffix)) out.push(full);
  }
  return out;
}

function stale() {
  if (!existsSync(stamp)) return true;
  const builtAt = statSync(stamp).mtimeMs;
  const inputs = [...files(src, '.ts'), join(root, 'tsconfig.json'), join(root, 'tsconfig.build.json')];
  return inputs.some((file) => statSync(file).mtimeMs > builtAt);
}

function addExtensions(file) {
  const text = readFileSync(file, 'utf8');
  const fixed = text.replace(/((?:^|\n)\s*(?:import|export)\b[^'"\n]*?(?:from\s*)?|import\s*\(\s*)(['"])(\.{1,2}\/[^'"\n]+)\2/g, (whole, before, quote, spec) => {
    if (/\.(?:js|mjs|cjs|json)$/.test(spec)) return whole;
    const target = resolve(dirname(file), spec);
    const withExt = existsSync(`${target}.js`) ? `${spec}.js` : existsSync(join(target, 'index.js')) ? `${spec}/index.js` : spec;
    return `${before}${quote}${withExt}${quote}`;
  });
  if (fixed !== text) writeFileSync(file, fixed);
}

if (process.argv.includes('--if-stale') && !stale()) process.exit(0);
const tscPath = join(root, 'node_modules/typescript/bin/tsc');
if (!existsSync(tscPath)) {
  // An install without dev dependencies (npm ci --omit=dev) has no compiler: use a dist/
  // built before (shipped with the code), or say what is missing.
  if (existsSync(stamp)) {
    process.stderr.write('rooms: TypeScript is not installed; using the dist/ built before\n');
    process.exit(0);
  }
  process.stderr.write('rooms: dist/ is not built and TypeScript is not installed: run `npm install` (with dev dependencies) or `npm run build` where it is\n');
  process.exit(1);
}
rmSync(dist, { recursive: true, force: true });
const tsc = spawnSync(process.execPath, [tscPath, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (tsc.status !== 0) {
  process.stderr.write('rooms: build failed (tsc above); `npm start` needs dist/\n');
  process.exit(tsc.status ?? 1);
}
for (const file of files(dist, '.js')) addExtensions(file);
writeFileSync(stamp, `${new Date().toISOString()}\n`);
