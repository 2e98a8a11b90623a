// How the page shows things: messages (mine, missed while away, from before
// joining), notices, the frame log, and the words for binary payloads and close
// codes. Every text from the network goes in with textContent, never as HTML.

/** Messages kept on screen; older ones are removed from the top. */
export const MAX_MESSAGES = 1000;
const MAX_FRAMES = 500;
const MAX_PAYLOAD_SHOWN = 4000;

const CLOSE_MEANINGS = {
  1000: 'normal closure',
  1001: 'going away',
  1002: 'protocol error',
  1003: 'unsupported data',
  1005: 'no status code',
  1006: 'abnormal closure',
  1007: 'invalid payload data',
  1008: 'policy violation',
  1009: 'message too big',
  1010: 'mandatory extension',
  1011: 'internal server error',
  1012: 'service restart',
  1013: 'try again later',
  1014: 'bad gateway',
  1015: 'TLS handshake failure',
};

function timeOf(ts) {
  const d = new Date(ts);
  return Number.isFinite(d.getTime()) ? d : new Date();
}

function hhmm(date) {
  return date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function hhmmssms(date) {
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return `${p(date.getHours())}:${p(date.getMinutes())}:${p(date.getSeconds())}.${p(date.getMilliseconds(), 3)}`;
}

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function nearBottom(list) {
  return list.scrollHeight - list.scrollTop - list.clientHeight < 60;
}

function appendCapped(list, item, max) {
  const stick = nearBottom(list);
  list.append(item);
  while (list.children.length > max) list.firstElementChild?.remove();
  if (stick) list.scrollTop = list.scrollHeight;
}

/** `tag`: 'missed' (sent while you were away, delivered on resume) or 'history' (from before you joined). */
export function addMessage(list, from, text, ts, mine, tag = '') {
  const date = timeOf(ts);
  const li = el('li', `${mine ? 'msg mine' : 'msg'}${tag ? ` ${tag}` : ''}`);
  const head = el('div', 'meta');
  const who = el('span', 'from', mine ? `${from} (you)` : from);
  const time = el('time', 'time', hhmm(date));
  time.dateTime = date.toISOString();
  time.title = date.toLocaleString();
  head.append(who, ' ', time);
  if (tag === 'missed') head.append(' ', el('span', 'tag missed-tag', 'missed while away'));
  if (tag === 'history') head.append(' ', el('span', 'tag history-tag', 'earlier'));
  const body = el('p', 'text', text);
  li.append(head, body);
  appendCapped(list, li, MAX_MESSAGES);
}

export function addNotice(list, text, kind = 'info') {
  const li = el('li', `notice ${kind}`);
  const time = el('time', 'time', hhmm(new Date()));
  time.dateTime = new Date().toISOString();
  li.append(el('span', 'notice-text', text), ' ', time);
  appendCapped(list, li, MAX_MESSAGES);
}

export function logFrame(list, direction, type, payload) {
  const li = el('li', `frame ${direction === '→' ? 'out' : direction === '←' ? 'in' : 'event'}`);
  li.append(
    el('span', 'dir', direction),
    el('time', 'time', hhmmssms(new Date())),
    el('span', 'type', type),
  );
  const shown = payload.length > MAX_PAYLOAD_SHOWN ? `${payload.slice(0, MAX_PAYLOAD_SHOWN)}… (${payload.length} characters)` : payload;
  li.append(el('code', 'payload', shown));
  appendCapped(list, li, MAX_FRAMES);
}

export function describeBinary(base64) {
  let bytes;
  try {
    bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  } catch {
    return `[binary message, not valid base64: ${base64.slice(0, 64)}]`;
  }
  const hex = Array.from(bytes.slice(0, 32), (b) => b.toString(16).padStart(2, '0')).join(' ');
  return `[binary message, ${bytes.length} bytes] ${hex}${bytes.length > 32 ? ' …' : ''}`;
}

export function describeClose(code, reason) {
  const meaning = CLOSE_MEANINGS[code] ?? (code >= 4000 ? 'application code' : code >= 3000 ? 'registered code' : 'unknown code');
  return `${code} ${meaning}${reason ? `: “${reason}”` : ''}`;
}
