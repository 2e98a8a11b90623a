import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { errorFrame, messageFrame, parseClientFrame, presenceFrame, welcomeFrame } from '../../src/rooms/json-protocol';

test('a client message is {"type":"message","text":...}', () => {
  assert.equal(parseClientFrame('{"type":"message","text":"hi"}'), { ok: true, text: 'hi' });
  assert.equal(parseClientFrame('{"type":"message","text":""}'), { ok: true, text: '' });
});

const errors: Array<[string, string]> = [
  ['not json', 'not_json'],
  ['{"type":"message"', 'not_json'],
  ['[1,2]', 'not_object'],
  ['"text"', 'not_object'],
  ['null', 'not_object'],
  ['{"text":"no type"}', 'unknown_type'],
  ['{"type":"shout","text":"x"}', 'unknown_type'],
  ['{"type":"message"}', 'missing_text'],
  ['{"type":"message","text":42}', 'missing_text'],
];
for (const [input, code] of errors) {
  test(`${input} -> error ${code}`, () => {
    const r = parseClientFrame(input);
    assert.is(r.ok, false);
    if (!r.ok) {
      assert.is(r.code, code);
      assert.ok(r.message.length > 0);
    }
  });
}

test('server frames have the fields CONTRACT.md lists', () => {
  assert.equal(JSON.parse(welcomeFrame('r', 'ada', ['bob', 'ada'])), { type: 'welcome', room: 'r', you: 'ada', members: ['bob', 'ada'] });
  assert.equal(JSON.parse(presenceFrame('joined', 'ada')), { type: 'joined', name: 'ada' });
  assert.equal(JSON.parse(presenceFrame('left', 'ada')), { type: 'left', name: 'ada' });
  assert.equal(JSON.parse(messageFrame('ada', 'hi "there"', 5)), { type: 'message', from: 'ada', text: 'hi "there"', ts: 5 });
  assert.equal(JSON.parse(errorFrame('not_json', 'x')), { type: 'error', code: 'not_json', message: 'x' });
});

test.run();
