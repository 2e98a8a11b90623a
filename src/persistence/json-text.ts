// Reading the store's own JSON files (rooms.json, pending-writes.json) so that
// whatever is wrong with them can be told to an operator in one printable line:
// where (byte offset, line, column) and what, never the file's bytes themselves.
// V8's JSON.parse messages quote the text around the error, control characters
// and broken bytes included, so they are never passed on.

/** Parses bytes or text as JSON; throws an Error whose message is safe to print (starts "it is not valid JSON"). */
export function parseJsonText(input: string | Uint8Array): unknown {
  let text: string;
  if (typeof input === 'string') {
    text = input;
  } else {
    const bad = firstInvalidUtf8(input);
    if (bad !== -1) {
      const line = countLines(input, bad);
      throw new Error(`it is not valid JSON: byte 0x${hex2(input[bad]!)} at byte offset ${bad} (line ${line}) is not UTF-8 text`);
    }
    text = Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('utf8');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    const found = findJsonError(text);
    if (found === null) throw new Error('it is not valid JSON');
    throw new Error(`it is not valid JSON: ${found.what} at ${where(text, found.index)}`);
  }
}

/**
 * A value taken from a file, for a message: JSON-quoted, everything outside
 * printable ASCII escaped as \uXXXX, cut to max characters.
 */
export function printable(value: unknown, max = 64): string {
  if (typeof value === 'string') return `"${escapeAll(value, max)}"`;
  let s: string;
  try {
    s = JSON.stringify(value) ?? String(value);
  } catch {
    s = String(value);
  }
  return escapeAll(s, max);
}

function escapeAll(s: string, max: number): string {
  const cut = s.length > max ? s.slice(0, max) : s;
  let out = '';
  for (let i = 0; i < cut.length; i++) {
    const c = cut.charCodeAt(i);
    if (c === 0x22 || c === 0x5c) out += `\\${cut[i]}`;
    else if (c >= 0x20 && c < 0x7f) out += cut[i];
    else out += `\\u${c.toString(16).padStart(4, '0')}`;
  }
  return s.length > max ? `${out}...` : out;
}

function hex2(n: number): string {
  return n.toString(16).toUpperCase().padStart(2, '0');
}

function countLines(bytes: Uint8Array, end: number): number {
  let line = 1;
  for (let i = 0; i < end; i++) if (bytes[i] === 0x0a) line++;
  return line;
}

function where(text: string, index: number): string {
  const before = text.slice(0, index);
  const line = before.split('\n').length;
  const column = index - before.lastIndexOf('\n');
  return `byte offset ${Buffer.byteLength(before, 'utf8')} (line ${line}, column ${column})`;
}

/** Offset of the first byte that does not start a well-formed UTF-8 sequence, or -1. */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    let cp: number;
    if (c >= 0xc2 && c <= 0xdf) [need, min, cp] = [1, 0x80, c & 0x1f];
    else if (c >= 0xe0 && c <= 0xef) [need, min, cp] = [2, 0x800, c & 0x0f];
    else if (c >= 0xf0 && c <= 0xf4) [need, min, cp] = [3, 0x10000, c & 0x07];
    else return i;
    if (i + need >= b.length) return i; // cut off at the end
    for (let k = 1; k <= need; k++) {
      const x = b[i + k]!;
      if ((x & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (x & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}

/**
 * Where JSON.parse failed and why, found by a small validating scanner (RFC 8259
 * grammar, iterative so deep nesting cannot overflow the stack). null if it finds
 * nothing wrong (it then agrees with JSON.parse).
 */
export function findJsonError(text: string): { index: number; what: string } | null {
  const n = text.length;
  const stack: Array<'{' | '['> = [];
  let i = 0;
  type Expect = 'value' | 'value-or-close' | 'key' | 'key-or-close' | 'colon' | 'comma-or-close' | 'end';
  let expect: Expect = 'value';
  const afterValue = (): Expect => (stack.length === 0 ? 'end' : 'comma-or-close');
  const unexpected = (at: number) => ({ index: at, what: `unexpected character U+${text.charCodeAt(at).toString(16).toUpperCase().padStart(4, '0')}` });
  const ended = { index: n, what: 'the file ends in the middle of the JSON (a cut-off write?)' };

  const scanString = (): { index: number; what: string } | null => {
    i++; // the opening quote
    for (;;) {
      if (i >= n) return ended;
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return null;
      }
      if (c === 0x5c) {
        const e = text[i + 1];
        if (e === undefined) return ended;
        if ('"\\/bfnrt'.includes(e)) i += 2;
        else if (e === 'u') {
          if (!/^[0-9A-Fa-f]{4}$/.test(text.slice(i + 2, i + 6))) return { index: i, what: 'a bad \\u escape in a string' };
          i += 6;
        } else return { index: i, what: 'a bad escape in a string' };
        continue;
      }
      if (c < 0x20) return { index: i, what: `a control character U+${c.toString(16).toUpperCase().padStart(4, '0')} in a string` };
      i++;
    }
  };
  const isDigit = (at: number) => at < n && text.charCodeAt(at) >= 0x30 && text.charCodeAt(at) <= 0x39;
  const scanNumber = (): { index: number; what: string } | null => {
    if (text[i] === '-') i++;
    if (!isDigit(i)) return i >= n ? ended : { index: i, what: 'a malformed number' };
    if (text[i] === '0') i++;
    else while (isDigit(i)) i++;
    if (text[i] === '.') {
      i++;
      if (!isDigit(i)) return i >= n ? ended : { index: i, what: 'a malformed number' };
      while (isDigit(i)) i++;
    }
    if (text[i] === 'e' || text[i] === 'E') {
      i++;
      if (text[i] === '+' || text[i] === '-') i++;
      if (!isDigit(i)) return i >= n ? ended : { index: i, what: 'a malformed number' };
      while (isDigit(i)) i++;
    }
    return null;
  };

  for (;;) {
    while (i < n && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
    if (i >= n) return expect === 'end' ? null : ended;
    const c = text[i]!;
    if (expect === 'end') return { index: i, what: `${unexpected(i).what} after the end of the JSON` };
    if (expect === 'colon') {
      if (c !== ':') return unexpected(i);
      i++;
      expect = 'value';
      continue;
    }
    if (expect === 'comma-or-close') {
      const top = stack[stack.length - 1];
      if (c === ',') {
        i++;
        expect = top === '{' ? 'key' : 'value';
        continue;
      }
      if ((c === '}' && top === '{') || (c === ']' && top === '[')) {
        i++;
        stack.pop();
        expect = afterValue();
        continue;
      }
      return unexpected(i);
    }
    if ((expect === 'key-or-close' && c === '}') || (expect === 'value-or-close' && c === ']')) {
      i++;
      stack.pop();
      expect = afterValue();
      continue;
    }
    if (expect === 'key' || expect === 'key-or-close') {
      if (c !== '"') return unexpected(i);
      const err = scanString();
      if (err) return err;
      expect = 'colon';
      continue;
    }
    // a value
    if (c === '{' || c === '[') {
      stack.push(c);
      i++;
      expect = c === '{' ? 'key-or-close' : 'value-or-close';
      continue;
    }
    if (c === '"') {
      const err = scanString();
      if (err) return err;
    } else if (c === '-' || isDigit(i)) {
      const err = scanNumber();
      if (err) return err;
    } else {
      const word = ['true', 'false', 'null'].find((w) => w[0] === c);
      if (word === undefined) return unexpected(i);
      for (let k = 0; k < word.length; k++) {
        if (i + k >= n) return ended;
        if (text[i + k] !== word[k]) return unexpected(i + k);
      }
      i += word.length;
    }
    expect = afterValue();
  }
}
