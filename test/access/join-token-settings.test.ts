// Join-token settings in a real process: bad settings stop the start with a clear
// message before the server listens; SIGHUP reads the key file again (as it does
// TLS), and a broken file at reload keeps the old key.

import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { destroyAllClients } from '../helpers/raw-client';
import { runFailingStart, startServerProcess, stopAllServerProcesses } from '../helpers/server-process';
import { attempt, refusal } from './support';

const dir = mkdtempSync(join(tmpdir(), 'rooms-jwt-settings-'));
test.after(async () => {
  destroyAllClients();
  await stopAllServerProcesses();
  rmSync(dir, { recursive: true, force: true });
});

function pemOf(key: KeyObject): string {
  return String(key.export({ type: 'spki', format: 'pem' }));
}

const token = (room: string, key: KeyObject) => new SignJWT({ room }).setProtectedHeader({ alg: 'ES256' }).setExpirationTime(Math.floor(Date.now() / 1000) + 300).sign(key);

test('bad join-token settings: the process exits non-zero with a clear message and never listens', async () => {
  const garbage = join(dir, 'garbage.pem');
  writeFileSync(garbage, '-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n');
  const ed = join(dir, 'ed25519.pem');
  writeFileSync(ed, pemOf(generateKeyPairSync('ed25519').publicKey));
  const good = join(dir, 'good.pem');
  writeFileSync(good, pemOf(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey));
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ JOIN_TOKEN_SECRET: 'too-short' }, /JOIN_TOKEN_SECRET must be at least 32 bytes \(it has 9\)/],
    [{ JOIN_TOKEN_PUBLIC_KEY: join(dir, 'missing.pem') }, /JOIN_TOKEN_PUBLIC_KEY .*missing\.pem cannot be read \(ENOENT\)/],
    [{ JOIN_TOKEN_PUBLIC_KEY: garbage }, /JOIN_TOKEN_PUBLIC_KEY .*garbage\.pem is not a PEM public key/],
    [{ JOIN_TOKEN_PUBLIC_KEY: ed }, /must be an EC P-256 \(ES256\) or RSA >= 2048 bits \(RS256\) public key/],
    [{ JOIN_TOKEN_PUBLIC_KEY: good, JOIN_TOKEN_SECRET: 'x'.repeat(40) }, /set JOIN_TOKEN_SECRET or JOIN_TOKEN_PUBLIC_KEY, not both/],
    [{ REQUIRE_TOKEN: 'on' }, /REQUIRE_TOKEN=on needs JOIN_TOKEN_SECRET or JOIN_TOKEN_PUBLIC_KEY/],
  ];
  for (const [env, message] of cases) {
    const failed = await runFailingStart({ env: { ...env, DATA_DIR: join(dir, 'data') } });
    assert.is(failed.status.code, 2, JSON.stringify(env));
    assert.match(failed.stderr, /^rooms: cannot start: /m);
    assert.match(failed.stderr, message);
    assert.not.match(failed.stdout, /listening on/);
    if (env.JOIN_TOKEN_SECRET !== undefined) assert.not.ok(failed.stderr.includes(env.JOIN_TOKEN_SECRET) || failed.stdout.includes(env.JOIN_TOKEN_SECRET), 'the secret is not printed');
  }
});

test('SIGHUP reloads the public key; a broken file at reload keeps the old one', async () => {
  const first = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const second = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const path = join(dir, 'rotating.pem');
  writeFileSync(path, pemOf(first.publicKey));
  const srv = await startServerProcess({ env: { JOIN_TOKEN_PUBLIC_KEY: path, DATA_DIR: join(dir, 'hup-data'), LOG_LEVEL: 'info' } });
  assert.is((await attempt(srv.port, 'hup', 'a', { bearer: await token('hup', first.privateKey) })).response.status, 101);
  assert.is((await refusal(srv.port, 'hup', 'b', { bearer: await token('hup', second.privateKey) })).status, 401);

  writeFileSync(path, pemOf(second.publicKey));
  process.kill(srv.pid, 'SIGHUP');
  await srv.waitForLine('stdout', /join_token_key_reloaded/, 10_000);
  assert.is((await attempt(srv.port, 'hup', 'c', { bearer: await token('hup', second.privateKey) })).response.status, 101);
  assert.is((await refusal(srv.port, 'hup', 'd', { bearer: await token('hup', first.privateKey) })).status, 401);

  writeFileSync(path, 'broken');
  process.kill(srv.pid, 'SIGHUP');
  const failed = await srv.waitForLine('stdout', /join_token_key_reload_failed/, 10_000);
  assert.match(failed, /is not a PEM public key/);
  assert.is((await attempt(srv.port, 'hup', 'e', { bearer: await token('hup', second.privateKey) })).response.status, 101, 'the old key still works');
  assert.ok(srv.running());
});

test.run();
