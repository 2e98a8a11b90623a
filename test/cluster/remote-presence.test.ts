// What a node knows of other nodes' members (src/cluster/remote-presence.ts):
// a snapshot plus the versioned changes after it; events that arrive while a
// snapshot is read are held and those it already covers dropped; a gap, a step
// back or another node's resync asks for a new snapshot; this node's own
// entries are never counted; names are a multiset.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RemotePresence } from '../../src/cluster/remote-presence';

const self = 'aaaaaaaaaaaaaaaa';
const other = 'bbbbbbbbbbbbbbbb';
const third = 'cccccccccccccccc';

test('a snapshot leaves out this node and reports what changed', () => {
  const p = new RemotePresence(self);
  p.beginSnapshot();
  const outcome = p.applySnapshot(5, [`${self}me`, '1', `${other}ann`, '2', `${third}ann`, '1', `${third}bob`, '1']);
  assert.equal(outcome, { kind: 'applied', changes: [{ name: 'ann', delta: 2 }, { name: 'ann', delta: 1 }, { name: 'bob', delta: 1 }] });
  assert.equal(p.names().sort(), ['ann', 'ann', 'ann', 'bob']);
  assert.is(p.total(), 4);
  // A new snapshot announces only the difference.
  p.beginSnapshot();
  assert.equal(p.applySnapshot(9, [`${other}ann`, '1', `${third}bob`, '1', `${third}cy`, '1']), {
    kind: 'applied',
    changes: [{ name: 'ann', delta: -1 }, { name: 'cy', delta: 1 }, { name: 'ann', delta: -1 }],
  });
});

test('events held during a snapshot: those it covers are dropped, later ones applied in order', () => {
  const p = new RemotePresence(self);
  p.beginSnapshot();
  assert.equal(p.onEvent(3, other, 1, 'ann'), { kind: 'buffered' });
  assert.equal(p.onEvent(4, other, 1, 'bob'), { kind: 'buffered' });
  const outcome = p.applySnapshot(3, [`${other}ann`, '1']);
  assert.equal(outcome, { kind: 'applied', changes: [{ name: 'ann', delta: 1 }, { name: 'bob', delta: 1 }] });
  assert.equal(p.onEvent(5, self, 1, 'me'), { kind: 'applied', changes: [] }, 'own change: version only');
  assert.equal(p.onEvent(6, other, -1, 'ann'), { kind: 'applied', changes: [{ name: 'ann', delta: -1 }] });
  assert.equal(p.names(), ['bob']);
});

test('a gap, a step back, or another node resyncing asks for a snapshot', () => {
  const p = new RemotePresence(self);
  p.beginSnapshot();
  p.applySnapshot(10, []);
  assert.equal(p.onEvent(12, other, 1, 'ann'), { kind: 'resync' });
  const q = new RemotePresence(self);
  q.beginSnapshot();
  q.applySnapshot(10, []);
  assert.equal(q.onEvent(1, other, 1, 'ann'), { kind: 'resync' }, 'Redis lost the version');
  const r = new RemotePresence(self);
  r.beginSnapshot();
  r.applySnapshot(10, []);
  assert.equal(r.onEvent(11, other, 0, null), { kind: 'resync' });
  assert.equal(r.onEvent(12, self, 0, null), { kind: 'applied', changes: [] }, 'our own resync notice: nothing to read');
});

test('a left for someone unknown changes nothing; clear forgets silently', () => {
  const p = new RemotePresence(self);
  p.beginSnapshot();
  p.applySnapshot(0, []);
  assert.equal(p.onEvent(1, other, -1, 'ghost'), { kind: 'applied', changes: [] });
  p.onEvent(2, other, 1, 'ann');
  p.clear();
  assert.equal(p.names(), []);
  assert.is(p.loading, false);
});

test.run();
