// An incremental HTTP/1.1 request-head parser (RFC 9112 sections 2-5): bytes in,
// one request head out, plus whatever bytes followed it (a client may send its
// first WebSocket frame in the same packet). Bounded in size; never throws.

export interface HttpRequestHead {
  method: string;
  target: string;
  /** "1.1" or "1.0" */
  version: string;
  /** Lower-cased names; repeated fields joined with ", " (RFC 9110 section 5.3). */
  headers: Map<string, string>;
}

export type HeadParse =
  | { kind: 'need-more' }
  | { kind: 'head'; head: HttpRequestHead; rest: Buffer }
  | { kind: 'error'; status: 400 | 431 | 505; reason: string };

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) HTTP\/(\d)\.(\d)$/;
// Field values are visible ASCII, obs-text, spaces and tabs (RFC 9110 section 5.5); no other control bytes.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

export class HttpRequestParser {
  /** The head so far, in a buffer that doubles: a head sent a byte at a time costs linear copying. */
  private buffer: Buffer | null = null;
  private size = 0;
  private done = false;

  constructor(private readonly maxHeadBytes: number) {}

  /** True until a head (or an error) has been returned. */
  get waiting(): boolean {
    return !this.done;
  }

  push(chunk: Buffer): HeadParse {
    if (this.done) return { kind: 'error', status: 400, reason: 'request already parsed' };
    const before = this.size;
    const all = this.append(chunk);
    // Search only the new bytes (and 3 before them) for the blank line that ends the head.
    const end = findHeadEnd(all, Math.max(0, before - 3));
    if (end === null) {
      if (this.size > this.maxHeadBytes) return this.finish({ kind: 'error', status: 431, reason: `request head over ${this.maxHeadBytes} bytes` });
      return { kind: 'need-more' };
    }
    if (end.headLength > this.maxHeadBytes) return this.finish({ kind: 'error', status: 431, reason: `request head over ${this.maxHeadBytes} bytes` });
    const parsed = parseHead(all.subarray(0, end.headLength).toString('latin1'));
    if ('status' in parsed) return this.finish({ kind: 'error', ...parsed });
    return this.finish({ kind: 'head', head: parsed, rest: all.subarray(end.headLength + end.terminatorLength) });
  }

  /** Everything received so far; the common case, a head in one chunk, is not copied. */
  private append(chunk: Buffer): Buffer {
    if (this.buffer === null) {
      this.size = chunk.length;
      this.buffer = chunk; // borrowed: it is exactly full, so the next chunk moves into our own buffer
      return chunk;
    }
    const needed = this.size + chunk.length;
    if (needed > this.buffer.length) {
      const grown = Buffer.allocUnsafe(Math.max(needed, 2 * this.size, 512));
      this.buffer.copy(grown, 0, 0, this.size);
      this.buffer = grown;
    }
    chunk.copy(this.buffer, this.size);
    this.size = needed;
    return this.buffer.subarray(0, this.size);
  }

  private finish(result: HeadParse): HeadParse {
    this.done = true;
    this.buffer = null;
    return result;
  }
}

/** Finds CRLF CRLF (or a bare LF LF, which RFC 9112 section 2.2 lets a recipient accept). */
function findHeadEnd(bytes: Buffer, from: number): { headLength: number; terminatorLength: number } | null {
  for (let i = bytes.indexOf(10, from); i !== -1; i = bytes.indexOf(10, i + 1)) {
    if (bytes[i + 1] === 10) return { headLength: i, terminatorLength: 2 };
    if (bytes[i + 1] === 13 && bytes[i + 2] === 10) return { headLength: i, terminatorLength: 3 };
    if (i + 2 >= bytes.length) return null;
  }
  return null;
}

/** The lines of a head: split at LF, one CR before it dropped; read in place, no array of lines. */
class Lines {
  private position = 0;
  constructor(private readonly text: string) {}

  get more(): boolean {
    return this.position <= this.text.length;
  }

  next(): string {
    const { text, position } = this;
    let lf = text.indexOf('\n', position);
    if (lf === -1) lf = text.length;
    this.position = lf + 1;
    return text.slice(position, lf > position && text.charCodeAt(lf - 1) === 13 ? lf - 1 : lf);
  }
}

function parseHead(text: string): HttpRequestHead | { status: 400 | 505; reason: string } {
  const lines = new Lines(text);
  let first = lines.next();
  // RFC 9112 section 2.2: a server SHOULD ignore at least one empty line before the request line.
  while (first === '' && lines.more) first = lines.next();
  const requestLine = REQUEST_LINE.exec(first);
  if (!requestLine) return { status: 400, reason: 'malformed request line' };
  const [, method, target, major, minor] = requestLine;
  if (major !== '1') return { status: 505, reason: 'only HTTP/1.x is served here' };
  const headers = new Map<string, string>();
  while (lines.more) {
    const line = lines.next();
    const colon = line.indexOf(':');
    // RFC 9112 section 5.2: obsolete line folding is refused rather than guessed at.
    if (line.startsWith(' ') || line.startsWith('\t')) return { status: 400, reason: 'obsolete header line folding' };
    if (colon <= 0) return { status: 400, reason: 'malformed header line' };
    const name = line.slice(0, colon);
    // RFC 9112 section 5.1: no whitespace between the field name and the colon.
    if (!TOKEN.test(name)) return { status: 400, reason: 'malformed header name' };
    const value = line.slice(colon + 1).trim();
    if (!FIELD_VALUE.test(value)) return { status: 400, reason: `control character in header ${name}` };
    const key = name.toLowerCase();
    const previous = headers.get(key);
    headers.set(key, previous === undefined ? value : `${previous}, ${value}`);
  }
  return { method: method!, target: target!, version: `${major}.${minor}`, headers };
}
