// Connections per address: the maximum is taken and no more, a slot given back
// can be taken again, and addresses do not share their counts.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AddressSlots } from '../../src/limits/address-slots';

test('an address gets its maximum of slots and no more; a released slot can be taken again', () => {
  const slots = new AddressSlots(2);
  assert.ok(slots.take('10.0.0.1'));
  assert.ok(slots.take('10.0.0.1'));
  assert.not.ok(slots.take('10.0.0.1'), 'the third is refused');
  assert.ok(slots.take('10.0.0.2'), 'another address has its own count');
  slots.release('10.0.0.1');
  assert.ok(slots.take('10.0.0.1'), 'one given back, one taken');
  assert.not.ok(slots.take('10.0.0.1'));
});

test('a refused take costs nothing: releasing what was taken empties the count', () => {
  const slots = new AddressSlots(1);
  assert.ok(slots.take('a'));
  assert.not.ok(slots.take('a'));
  slots.release('a');
  assert.ok(slots.take('a'), 'the refused take was not counted');
});

test.run();
