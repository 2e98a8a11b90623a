// The learner's frame tracer: one line per frame in and out, with direction, peer,
// opcode, FIN, RSV, mask, length and the first payload bytes in hex.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { startTestServer, waitUntil } from '../helpers/test-server';

test('--trace-frames prints every frame in and out, and nothing when off', async () => {
  const lines: string[] = [];
  const t = await startTestServer({ traceFrames: true }, { traceTo: (line) => lines.push(line) });
  try {
    const ws = new WebSocket(`${t.url}/echo`, { perMessageDeflate: false });
    await new Promise((resolve) => ws.once('open', resolve));
    const echoed = new Promise((resolve) => ws.once('message', resolve));
    ws.send('hello');
    await echoed;
    ws.close(1000);
    await new Promise((resolve) => ws.once('close', resolve));
    await waitUntil(() => lines.filter((l) => l.includes('CLOSE')).length >= 2, 'both close frames traced');
    const find = (re: RegExp) => lines.find((l) => re.test(l));
    assert.ok(find(/^→ 127\.0\.0\.1:\d+ HTTP\/1\.1 101 Switching Protocols$/), lines.join('\n'));
    assert.ok(find(/^← 127\.0\.0\.1:\d+ TEXT +fin=1 rsv=000 mask=1 len=5 68 65 6c 6c 6f$/), lines.join('\n'));
    assert.ok(find(/^→ 127\.0\.0\.1:\d+ TEXT +fin=1 rsv=000 mask=0 len=5 68 65 6c 6c 6f$/), lines.join('\n'));
    assert.ok(find(/^← 127\.0\.0\.1:\d+ CLOSE +fin=1 rsv=000 mask=1 len=2 03 e8$/), lines.join('\n'));
    assert.ok(find(/^→ 127\.0\.0\.1:\d+ CLOSE +fin=1 rsv=000 mask=0 len=2 03 e8$/), lines.join('\n'));
  } finally {
    await t.stop();
  }
  const quiet: string[] = [];
  const off = await startTestServer({ traceFrames: false }, { traceTo: (line) => quiet.push(line) });
  try {
    const ws = new WebSocket(`${off.url}/echo`);
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send('x');
    await new Promise((resolve) => ws.once('message', resolve));
    ws.close();
    assert.equal(quiet, []);
  } finally {
    await off.stop();
  }
});

test.run();
