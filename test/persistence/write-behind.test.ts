// The machinery the room store and the history writer share, on its own: the
// backoff's delays, one attempt due at a time, health that reports only the
// changes worth a log line, and waits that end at the deadline whatever the store does.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { backoffDelay, Deadline, within, WriteBehind } from '../../src/persistence/write-behind';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const never = new Promise<string>(() => undefined);

test('backoff grows from min to max with jitter in [cap/2, cap]', () => {
  const opts = { minMs: 250, maxMs: 10_000 };
  assert.is(backoffDelay(0, opts, () => 0), 125);
  assert.is(backoffDelay(0, opts, () => 1), 250);
  assert.is(backoffDelay(3, opts, () => 1), 2000);
  assert.is(backoffDelay(10, opts, () => 1), 10_000);
  assert.is(backoffDelay(1000, opts, () => 0), 5000);
});

test('one attempt is due at a time: a second schedule or retry while one waits does nothing', async () => {
  const behind = new WriteBehind({ minMs: 4, maxMs: 8 }, 'down');
  const runs: string[] = [];
  behind.retry(() => runs.push('first'));
  behind.retry(() => runs.push('second'));
  behind.schedule(1, () => runs.push('third'));
  assert.is(behind.attempts, 1, 'only the retry that was scheduled counts');
  await sleep(30);
  assert.equal(runs, ['first']);
  behind.retry(() => runs.push('again'));
  assert.is(behind.attempts, 2);
  behind.resetBackoff();
  assert.is(behind.attempts, 0);
  behind.cancel();
  await sleep(30);
  assert.equal(runs, ['first'], 'a cancelled attempt never runs');
});

test('health: up and down say when the state changed; failures count without changing it', () => {
  const behind = new WriteBehind({ minMs: 1, maxMs: 1 }, 'up');
  assert.ok(behind.down(new Error('gone away')), 'up -> down');
  assert.not.ok(behind.down(new Error('still gone')), 'already down');
  behind.failed(Object.assign(new Error('disk full'), { code: 'ENOSPC' }), '/data/pending-writes.json');
  assert.equal(behind.health(), { state: 'down', errors: 3, lastError: '/data/pending-writes.json: ENOSPC: disk full' });
  assert.ok(behind.up(), 'down -> up');
  assert.not.ok(behind.up());
  assert.is(behind.health().state, 'up');
});

test('a hung store holds no wait past its bound', async () => {
  assert.is(await within(Promise.resolve('answered'), 1000, 'late'), 'answered');
  assert.is(await within(never, 5, 'late'), 'late');
  const deadline = new Deadline(20);
  const started = Date.now();
  assert.is(await deadline.race(never, 'late'), 'late');
  assert.ok(deadline.passed);
  assert.is(await deadline.race(never, 'late'), 'late', 'past the deadline: at once');
  await deadline.pause(1000);
  assert.ok(Date.now() - started < 900, 'a pause ends at the deadline (not after its own 1000 ms)');
});

test.run();
