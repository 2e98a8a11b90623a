// The README stays true: its settings table names every setting the server reads,
// with the flag and the default the code uses, and --help prints the same list.
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SETTINGS, helpText, parseSettings } from '../src/settings';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

for (const spec of SETTINGS) {
  test(`README lists ${spec.env} with its flag and default`, () => {
    const row = readme.split('\n').find((line) => line.startsWith(`| \`${spec.env}\` |`));
    assert.ok(row, `no table row for ${spec.env}`);
    assert.ok(row!.includes(`\`${spec.flag}\``), `${spec.env} row names ${spec.flag}`);
    assert.ok(row!.includes(spec.fallback === undefined ? '| unset |' : `| \`${spec.fallback}\` |`), `${spec.env} row shows default ${spec.fallback}`);
    assert.ok(helpText().includes(spec.flag));
  });
}

test('the two commands are at the top', () => {
  const top = readme.split('\n').slice(0, 6).join('\n');
  assert.match(top, /npm install && npm start/);
  assert.match(top, /npm install && npm test/);
});

test('flags win over the environment; bad values are refused with the setting named', () => {
  const parsed = parseSettings(['--port', '9001', '--ping-interval=2s'], { PORT: '9000', ROOM_RETENTION: '0' });
  assert.ok(parsed.ok);
  if (parsed.ok) {
    assert.is(parsed.settings.port, 9001);
    assert.is(parsed.settings.pingIntervalMs, 2000);
    assert.is(parsed.settings.roomRetentionMs, 0);
  }
  const bad = parseSettings([], { PORT: 'eighty' });
  assert.ok(!bad.ok && 'error' in bad && bad.error.includes('PORT'));
  const unknown = parseSettings(['--prot', '1'], {});
  assert.ok(!unknown.ok && 'error' in unknown && unknown.error.includes('unknown argument'));
});

test.run();
