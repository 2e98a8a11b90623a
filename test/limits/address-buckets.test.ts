// The join token bucket with an injected clock: a full burst at once, then the rate,
// Retry-After that is exactly when the next token is there, and a sweep that forgets.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AddressBuckets } from '../../src/limits/address-buckets';

test('a full bucket admits the whole burst at one instant, then refuses with the time to the next token', () => {
  const buckets = new AddressBuckets(600, 1000);
  for (let i = 0; i < 1000; i++) assert.equal(buckets.take('10.0.0.1', 5_000), { ok: true }, `join ${i}`);
  // 600 a minute is one every 100 ms.
  assert.equal(buckets.take('10.0.0.1', 5_000), { ok: false, retryAfterSeconds: 1 });
  assert.equal(buckets.take('10.0.0.1', 5_100), { ok: true });
  assert.equal(buckets.take('10.0.0.1', 5_100), { ok: false, retryAfterSeconds: 1 });
});

test('addresses have their own buckets', () => {
  const buckets = new AddressBuckets(60, 2);
  assert.ok(buckets.take('a', 0).ok);
  assert.ok(buckets.take('a', 0).ok);
  assert.not.ok(buckets.take('a', 0).ok);
  assert.ok(buckets.take('b', 0).ok);
});

test('a sustained flood is held to the rate; Retry-After says when a token is back', () => {
  const buckets = new AddressBuckets(6, 6); // one token per 10 s
  let admitted = 0;
  let refused = 0;
  for (let t = 0; t < 120_000; t += 100) {
    const r = buckets.take('x', t);
    if (r.ok) admitted++;
    else {
      refused++;
      assert.ok(r.retryAfterSeconds >= 1 && r.retryAfterSeconds <= 10, `retry after ${r.retryAfterSeconds}`);
    }
  }
  // The burst, then one every 10 s over two minutes.
  assert.is(admitted, 6 + 11);
  assert.is(refused, 1200 - admitted);
  const empty = new AddressBuckets(6, 1);
  empty.take('y', 0);
  assert.equal(empty.take('y', 0), { ok: false, retryAfterSeconds: 10 });
  assert.equal(empty.take('y', 4_000), { ok: false, retryAfterSeconds: 6 });
});

test('refill is capped at the burst, and a clock stepping back refills nothing', () => {
  const buckets = new AddressBuckets(60, 3);
  for (let i = 0; i < 3; i++) buckets.take('z', 0);
  // An hour later, still only 3.
  for (let i = 0; i < 3; i++) assert.ok(buckets.take('z', 3_600_000).ok);
  assert.not.ok(buckets.take('z', 3_600_000).ok);
  assert.not.ok(buckets.take('z', 1_000).ok);
});

test('sweep forgets only buckets that have refilled', () => {
  const buckets = new AddressBuckets(60, 2);
  buckets.take('full-soon', 0);
  buckets.take('drained', 0);
  buckets.take('drained', 0);
  buckets.sweep(1_000); // full-soon: 1 + 1 = 2, full; drained: 0 + 1
  assert.is(buckets.size, 1);
  buckets.sweep(2_000);
  assert.is(buckets.size, 0);
});

test.run();
