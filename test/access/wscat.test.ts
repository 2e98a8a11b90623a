// wscat -H "Authorization: Bearer SECRET" joining a protected room, the way the
// README's "Access control" section tells a user to; without it wscat reports 401.

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { destroyAllClients, text } from '../helpers/raw-client';
import { startTestServer, waitUntil, type TestServer } from '../helpers/test-server';
import { rawMember } from './support';

const WSCAT = fileURLToPath(new URL('../../node_modules/.bin/wscat', import.meta.url));
let ts: TestServer;
const children = new Set<ChildProcess>();

test.before(async () => {
  ts = await startTestServer();
});
test.after(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  destroyAllClients();
  await ts.stop();
});

function wscat(args: string[]): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(WSCAT, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  children.add(child);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString('utf8')));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

test('wscat with the secret in -H is in; without it wscat reports the 401', async () => {
  await rawMember(ts.port, 'wscat-safe', 'ada', { bearer: 'correct-horse-battery' });
  const refused = wscat(['-c', `${ts.url}/?room=wscat-safe&name=nosecret`]);
  assert.ok((await refused.exited) !== 0, 'wscat exits with an error');
  assert.match(refused.output(), /401/);

  const ada = await rawMember(ts.port, 'wscat-safe', 'ada2', { bearer: 'correct-horse-battery' });
  const cat = wscat(['-c', `${ts.url}/?room=wscat-safe&name=cat`, '-H', 'Authorization: Bearer correct-horse-battery']);
  await waitUntil(() => ts.server.registry.get('wscat-safe')!.memberNames().includes('cat'), 'wscat to join', 15_000, 25);
  cat.child.stdin!.write('typed in wscat\n');
  assert.is((await ada.message(10_000)).payload.toString('utf8'), 'typed in wscat');
  ada.send(text('hello wscat'));
  await waitUntil(() => cat.output().includes('hello wscat'), 'wscat to print the message', 10_000, 25);
  cat.child.stdin!.end();
  await cat.exited;
});

test.run();
