// The join parameters of CONTRACT.md ("Joining a room"): the room key and the
// member's name from the request's query string, validated or refused with a reason.

export const ROOM_KEY_PATTERN = /^[A-Za-z0-9_.~-]{1,128}$/;
const MAX_NAME_CHARS = 64;
// Control characters, lone surrogates, line/paragraph separators and unassigned code points are not printable.
const NON_PRINTABLE = /[\p{Cc}\p{Cs}\p{Zl}\p{Zp}\p{Cn}]/u;
/** Names in printable ASCII (most of them) pass without the Unicode property check. */
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

export type QueryParse = { ok: true; params: Map<string, string[]> } | { ok: false; reason: string };

/** application/x-www-form-urlencoded, strictly: malformed percent-encoding is an error, not a guess. */
export function parseQuery(query: string): QueryParse {
  const params = new Map<string, string[]>();
  if (query === '') return { ok: true, params };
  for (const pair of query.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const rawName = eq === -1 ? pair : pair.slice(0, eq);
    const rawValue = eq === -1 ? '' : pair.slice(eq + 1);
    let name: string;
    let value: string;
    try {
      name = formDecode(rawName);
      value = formDecode(rawValue);
    } catch {
      return { ok: false, reason: 'query string has malformed percent-encoding or invalid UTF-8' };
    }
    const list = params.get(name);
    if (list) list.push(value);
    else params.set(name, [value]);
  }
  return { ok: true, params };
}

/** '+' is a space and %XX a byte; a component with neither (the usual room key and name) is already decoded. */
function formDecode(raw: string): string {
  if (!raw.includes('%') && !raw.includes('+')) return raw;
  return decodeURIComponent(raw.replaceAll('+', ' '));
}

/** `?since=SEQ&epoch=EPOCH`: resume after the message `since` of history `epoch` (CONTRACT.md, "History and resume"). */
export interface ResumePoint {
  since: number;
  epoch: string;
}

export type JoinParams = { ok: true; room: string; name: string; resume: ResumePoint | null; history: number | null } | { ok: false; reason: string };

export function readJoinParams(params: Map<string, string[]>): JoinParams {
  const room = single(params, 'room');
  if (typeof room !== 'string') return room;
  if (!ROOM_KEY_PATTERN.test(room)) return { ok: false, reason: 'room must be 1-128 characters from A-Z a-z 0-9 _ - . ~' };
  const name = single(params, 'name');
  if (typeof name !== 'string') return name;
  // Code points, not UTF-16 units; at most 64 units is at most 64 code points, so only longer names are counted.
  const chars = name.length <= MAX_NAME_CHARS ? name.length : [...name].length;
  if (chars < 1 || chars > MAX_NAME_CHARS) return { ok: false, reason: `name must be 1-${MAX_NAME_CHARS} characters` };
  if (!PRINTABLE_ASCII.test(name) && NON_PRINTABLE.test(name)) return { ok: false, reason: 'name must be printable (no control characters)' };
  const history = readHistoryParams(params);
  if (!history.ok) return history;
  return { ok: true, room, name, resume: history.resume, history: history.history };
}

/** An epoch is opaque to clients, but it is echoed into logs and tests: keep it to a safe alphabet. */
export const EPOCH_PATTERN = /^[A-Za-z0-9_.~-]{1,64}$/;
const WHOLE_NUMBER = /^[0-9]{1,16}$/;

type HistoryParams = { ok: true; resume: ResumePoint | null; history: number | null } | { ok: false; reason: string };

/** since + epoch (both or neither) and history=N; each at most once. */
function readHistoryParams(params: Map<string, string[]>): HistoryParams {
  const since = optional(params, 'since');
  const epoch = optional(params, 'epoch');
  const history = optional(params, 'history');
  for (const value of [since, epoch, history]) if (typeof value === 'object' && value !== null) return value;
  let resume: ResumePoint | null = null;
  if (since !== null || epoch !== null) {
    if (since === null || epoch === null) return { ok: false, reason: 'since and epoch go together: give both or neither' };
    const seq = wholeNumber(since as string);
    if (seq === null) return { ok: false, reason: `since must be an integer from 0 to ${Number.MAX_SAFE_INTEGER}` };
    if (!EPOCH_PATTERN.test(epoch as string)) return { ok: false, reason: 'epoch must be 1-64 characters from A-Z a-z 0-9 _ - . ~ (the epoch of a welcome)' };
    resume = { since: seq, epoch: epoch as string };
  }
  let count: number | null = null;
  if (history !== null) {
    count = wholeNumber(history as string);
    if (count === null) return { ok: false, reason: `history must be an integer from 0 to ${Number.MAX_SAFE_INTEGER}` };
  }
  return { ok: true, resume, history: count };
}

function wholeNumber(text: string): number | null {
  if (!WHOLE_NUMBER.test(text)) return null;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : null;
}

/** A parameter given at most once: its value (possibly ''), null when absent, or the refusal. */
function optional(params: Map<string, string[]>, key: string): string | null | { ok: false; reason: string } {
  const values = params.get(key);
  if (values === undefined) return null;
  if (values.length > 1) return { ok: false, reason: `${key} given more than once` };
  return values[0]!;
}

function single(params: Map<string, string[]>, key: string): string | { ok: false; reason: string } {
  const values = params.get(key);
  if (values === undefined || values[0] === '') return { ok: false, reason: `missing ${key} parameter (use ?room=KEY&name=NAME)` };
  if (values.length > 1) return { ok: false, reason: `${key} given more than once` };
  return values[0]!;
}
