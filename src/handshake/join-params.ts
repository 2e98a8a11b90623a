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

export type JoinParams = { ok: true; room: string; name: string } | { ok: false; reason: string };

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
  return { ok: true, room, name };
}

function single(params: Map<string, string[]>, key: string): string | { ok: false; reason: string } {
  const values = params.get(key);
  if (values === undefined || values[0] === '') return { ok: false, reason: `missing ${key} parameter (use ?room=KEY&name=NAME)` };
  if (values.length > 1) return { ok: false, reason: `${key} given more than once` };
  return values[0]!;
}
