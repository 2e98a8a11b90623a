// TRUST_PROXY and JOIN_BURST as an operator writes them: lists of addresses and CIDR
// ranges (IPv4 and IPv6) by environment or flag, and readable refusals of bad ones.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { defaultSettings, parseSettings } from '../src/settings';

test('TRUST_PROXY: unset by default; addresses and ranges, spaces and empty entries tolerated', () => {
  assert.is(defaultSettings().trustProxy, undefined);
  const parsed = parseSettings([], { TRUST_PROXY: '127.0.0.1, 10.0.0.0/8 ,::1,, fd00::/8' });
  assert.ok(parsed.ok && parsed.settings.trustProxy?.join('|') === '127.0.0.1|10.0.0.0/8|::1|fd00::/8');
  const flag = parseSettings(['--trust-proxy', '192.0.2.0/24'], { TRUST_PROXY: '127.0.0.1' });
  assert.ok(flag.ok && flag.settings.trustProxy?.join('|') === '192.0.2.0/24');
});

test('TRUST_PROXY: a host name, a bad prefix or a bad address is refused, naming the setting and the entry', () => {
  for (const bad of ['proxy.example.com', '10.0.0.0/33', '::1/129', '10.0.0.0/', '300.1.1.1', '10.0.0.0/8/8']) {
    const parsed = parseSettings([], { TRUST_PROXY: `127.0.0.1,${bad}` });
    assert.ok(!parsed.ok && 'error' in parsed, bad);
    if (!parsed.ok && 'error' in parsed) {
      assert.ok(parsed.error.startsWith('TRUST_PROXY/--trust-proxy'), parsed.error);
      assert.ok(parsed.error.includes(JSON.stringify(bad)), parsed.error);
    }
  }
});

test('JOIN_BURST: default 1000, set by environment or flag, positive whole numbers only', () => {
  assert.is(defaultSettings().joinBurst, 1000);
  const env = parseSettings([], { JOIN_BURST: '5000' });
  assert.ok(env.ok && env.settings.joinBurst === 5000);
  const flag = parseSettings(['--join-burst=20'], {});
  assert.ok(flag.ok && flag.settings.joinBurst === 20);
  const bad = parseSettings([], { JOIN_BURST: '0' });
  assert.ok(!bad.ok && 'error' in bad && bad.error.includes('JOIN_BURST'));
});

test.run();
