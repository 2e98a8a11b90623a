// The rooms browser client: plain ES module, no build step, no dependencies.
// Speaks the JSON mode of the server (subprotocol rooms.v1.json):
//   server → client: welcome {room, you, members}, joined/left {name},
//                    message {from, text, ts}, error {code, message}
//   client → server: message {text}
// All text from the network is inserted with textContent, never as HTML.
// Room secrets and the owner's controls: access.js.

import {
  OWNER_CLOSES, explainRefusal, forgetOwnerToken, generateSecret, protocolsFor, redactForPanel, saveOwnerToken, savedOwnerToken,
  secretFromLocation, serverReachable, shareLinkWithSecret,
} from './access.js';

const SUBPROTOCOL = 'rooms.v1.json';
const ROOM_RE = /^[A-Za-z0-9_.~-]{1,128}$/;
const CONTROL_RE = /\p{Cc}/u;
const NAME_STORAGE = 'rooms.name';

// Reconnect policy: exponential backoff with "equal jitter", capped.
const BACKOFF_BASE_MS = 1000;
const BACKOFF_CAP_MS = 30_000;
// Close codes after which trying again may help: going away (restart, deploy),
// abnormal (network, refused handshake), no status, server error, service
// restart, try again later, bad gateway.
const RETRY_CODES = new Set([1001, 1005, 1006, 1011, 1012, 1013, 1014]);

const MAX_MESSAGE_BYTES = 1024 * 1024;
const MAX_MESSAGES = 1000;
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

const $ = (id) => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el;
};

const ui = {
  joinView: $('join-view'),
  chatView: $('chat-view'),
  joinForm: $('join-form'),
  room: $('room'),
  roomError: $('room-error'),
  name: $('name'),
  nameError: $('name-error'),
  generate: $('generate'),
  shareLink: $('share-link'),
  copyLink: $('copy-link'),
  copyStatus: $('copy-status'),
  where: $('where'),
  whereRoom: $('where-room'),
  whereName: $('where-name'),
  stateBox: $('state-box'),
  status: $('status'),
  countdown: $('countdown'),
  messages: $('messages'),
  sendForm: $('send-form'),
  text: $('text'),
  send: $('send'),
  reconnect: $('reconnect'),
  leave: $('leave'),
  members: $('members'),
  memberCount: $('member-count'),
  frames: $('frames'),
  clearLog: $('clear-log'),
  secret: $('secret'),
  generateSecret: $('generate-secret'),
  accessError: $('access-error'),
  secretOnce: $('secret-once'),
  secretOnceValue: $('secret-once-value'),
  secretOnceLink: $('secret-once-link'),
  copySecret: $('copy-secret'),
  copySecretLink: $('copy-secret-link'),
  ownerControls: $('owner-controls'),
  roomState: $('room-state'),
  lockRoom: $('lock-room'),
  rotateSecret: $('rotate-secret'),
  removeSecret: $('remove-secret'),
  closeRoom: $('close-room'),
};

/** Everything about the current session; one object so state changes are easy to follow. */
const session = {
  room: '',
  name: '',
  /** @type {WebSocket | null} */
  ws: null,
  /** 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed' */
  state: 'idle',
  attempt: 0,
  welcomed: false,
  everWelcomed: false,
  /** Names in the room as the server tells it; a multiset (names may repeat). */
  members: /** @type {string[]} */ ([]),
  you: '',
  retryTimer: 0,
  countdownTimer: 0,
  retryAt: 0,
  /** The secret typed or generated for this room (memory only, never in a URL the server sees). */
  secret: '',
  /** A secret this page generated: shown once, when the room it protects is created. */
  secretToShow: '',
  role: 'member',
  locked: false,
  protected: false,
  /** This attempt got its 101; refusals never do. */
  opened: false,
  usedOwnerToken: false,
  /** Refused joins in a row (the browser cannot tell which refusal: access.js explainRefusal). */
  refusals: 0,
};

// ---------------------------------------------------------------- room key & link

function generateRoomKey() {
  const bytes = new Uint8Array(16); // 128 bits -> 22 base64url characters
  crypto.getRandomValues(bytes);
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function roomFromLocation() {
  const hash = new URLSearchParams(location.hash.replace(/^#/, ''));
  const fromHash = hash.get('room');
  if (fromHash) return fromHash;
  // Old-style links with ?room= still work, but the key is moved out of the query.
  const query = new URLSearchParams(location.search);
  return query.get('room') ?? '';
}

function linkFor(room) {
  const base = `${location.origin}${location.pathname}`;
  return room ? `${base}#room=${encodeURIComponent(room)}` : base;
}

function updateLink() {
  const room = ui.room.value.trim();
  ui.shareLink.value = linkFor(ROOM_RE.test(room) ? room : '');
  const target = ROOM_RE.test(room) ? `#room=${encodeURIComponent(room)}` : '';
  if (location.hash !== target || location.search) {
    history.replaceState(null, '', `${location.pathname}${target}`);
  }
  ui.copyStatus.textContent = '';
}

async function copyLink() {
  const link = ui.shareLink.value;
  try {
    if (!navigator.clipboard || !window.isSecureContext) throw new Error('no clipboard');
    await navigator.clipboard.writeText(link);
    ui.copyStatus.textContent = 'Link copied.';
  } catch {
    // Plain http on a LAN address has no clipboard API: select the text instead.
    ui.shareLink.focus();
    ui.shareLink.select();
    let copied = false;
    try {
      copied = document.execCommand('copy');
    } catch {
      copied = false;
    }
    ui.copyStatus.textContent = copied ? 'Link copied.' : 'Link selected: press Ctrl+C (or ⌘C) to copy it.';
  }
}

// ---------------------------------------------------------------- validation

function validRoom(room) {
  if (!room) return 'Enter a room key, or generate one.';
  if (room.length > 128) return 'The room key is longer than 128 characters.';
  if (!ROOM_RE.test(room)) return 'Use only letters, digits and _ - . ~ in the room key.';
  return '';
}

function validName(name) {
  if (!name) return 'Enter your name.';
  if ([...name].length > 64) return 'The name is longer than 64 characters.';
  if (CONTROL_RE.test(name)) return 'The name cannot contain control characters.';
  return '';
}

function showFieldError(input, box, message) {
  box.textContent = message;
  box.hidden = !message;
  if (message) input.setAttribute('aria-invalid', 'true');
  else input.removeAttribute('aria-invalid');
}

// ---------------------------------------------------------------- rendering

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

function el(tag, className, text) {
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

function addMessage(from, text, ts, mine) {
  const date = timeOf(ts);
  const li = el('li', mine ? 'msg mine' : 'msg');
  const head = el('div', 'meta');
  const who = el('span', 'from', mine ? `${from} (you)` : from);
  const time = el('time', 'time', hhmm(date));
  time.dateTime = date.toISOString();
  time.title = date.toLocaleString();
  head.append(who, ' ', time);
  const body = el('p', 'text', text);
  li.append(head, body);
  appendCapped(ui.messages, li, MAX_MESSAGES);
}

function addNotice(text, kind = 'info') {
  const li = el('li', `notice ${kind}`);
  const time = el('time', 'time', hhmm(new Date()));
  time.dateTime = new Date().toISOString();
  li.append(el('span', 'notice-text', text), ' ', time);
  appendCapped(ui.messages, li, MAX_MESSAGES);
}

function renderMembers() {
  ui.members.replaceChildren();
  const sorted = [...session.members].sort((a, b) => a.localeCompare(b));
  let youMarked = false;
  for (const name of sorted) {
    const li = el('li', 'member');
    li.append(el('span', 'member-name', name));
    if (!youMarked && name === session.you) {
      youMarked = true;
      li.classList.add('you');
      li.append(' ', el('span', 'tag', '(you)'));
    } else if (session.role === 'owner' && name !== session.you) {
      const kick = el('button', 'kick', 'Remove');
      kick.type = 'button';
      kick.setAttribute('aria-label', `Remove ${name} from the room`);
      kick.addEventListener('click', () => sendCommand({ type: 'kick', name }));
      li.append(' ', kick);
    }
    ui.members.append(li);
  }
  ui.memberCount.textContent = `(${session.members.length})`;
}

function logFrame(direction, type, payload) {
  const li = el('li', `frame ${direction === '→' ? 'out' : direction === '←' ? 'in' : 'event'}`);
  li.append(
    el('span', 'dir', direction),
    el('time', 'time', hhmmssms(new Date())),
    el('span', 'type', type),
  );
  const shown = payload.length > MAX_PAYLOAD_SHOWN ? `${payload.slice(0, MAX_PAYLOAD_SHOWN)}… (${payload.length} characters)` : payload;
  li.append(el('code', 'payload', shown));
  appendCapped(ui.frames, li, MAX_FRAMES);
}

function describeBinary(base64) {
  let bytes;
  try {
    bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  } catch {
    return `[binary message, not valid base64: ${base64.slice(0, 64)}]`;
  }
  const hex = Array.from(bytes.slice(0, 32), (b) => b.toString(16).padStart(2, '0')).join(' ');
  return `[binary message, ${bytes.length} bytes] ${hex}${bytes.length > 32 ? ' …' : ''}`;
}

function describeClose(code, reason) {
  const meaning = CLOSE_MEANINGS[code] ?? (code >= 4000 ? 'application code' : code >= 3000 ? 'registered code' : 'unknown code');
  return `${code} ${meaning}${reason ? `: “${reason}”` : ''}`;
}

// ---------------------------------------------------------------- connection state

function setState(state, text) {
  session.state = state;
  ui.stateBox.dataset.state = state;
  ui.status.textContent = text;
  const open = state === 'open' && session.welcomed;
  ui.send.disabled = !open;
  ui.text.setAttribute('aria-disabled', String(!open));
  ui.reconnect.hidden = !(state === 'closed' || state === 'reconnecting');
  if (state !== 'reconnecting') ui.countdown.textContent = '';
}

function clearTimers() {
  clearTimeout(session.retryTimer);
  clearInterval(session.countdownTimer);
  session.retryTimer = 0;
  session.countdownTimer = 0;
}

function backoffDelay(attempt) {
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

function tickCountdown() {
  const left = Math.max(0, Math.ceil((session.retryAt - Date.now()) / 1000));
  ui.countdown.textContent = `in ${left} s`;
}

function scheduleReconnect(why) {
  clearTimers();
  const delay = backoffDelay(session.attempt);
  session.attempt += 1;
  session.retryAt = Date.now() + delay;
  const prefix = session.everWelcomed ? 'Reconnecting' : 'Could not connect, trying again';
  setState('reconnecting', `${prefix} (${why})`);
  tickCountdown();
  session.countdownTimer = setInterval(tickCountdown, 250);
  session.retryTimer = setTimeout(() => {
    clearTimers();
    connect();
  }, delay);
}

function socketUrl(room, name) {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${location.host}/?room=${encodeURIComponent(room)}&name=${encodeURIComponent(name)}`;
}

function connect() {
  clearTimers();
  session.welcomed = false;
  const url = socketUrl(session.room, session.name);
  setState('connecting', session.everWelcomed ? 'Reconnecting…' : 'Connecting…');
  // The owner token (kept from this room's creation) opens the room as its owner; else the secret, if any.
  const ownerToken = savedOwnerToken(session.room);
  const credential = ownerToken || session.secret;
  session.usedOwnerToken = Boolean(ownerToken);
  session.opened = false;
  logFrame('•', 'connect', `${url}  (subprotocol ${SUBPROTOCOL}${credential ? `, ${ownerToken ? 'owner key' : 'secret'} offered as rooms.auth.…` : ''})`);
  let ws;
  try {
    ws = new WebSocket(url, protocolsFor(SUBPROTOCOL, credential));
  } catch (err) {
    logFrame('•', 'error', String(err));
    setState('closed', `Closed: ${String(err)}`);
    return;
  }
  ws.binaryType = 'arraybuffer';
  session.ws = ws;

  ws.addEventListener('open', () => {
    if (session.ws !== ws) return;
    session.opened = true;
    logFrame('•', 'open', `subprotocol: ${ws.protocol || '(none)'}; extensions: ${ws.extensions || '(none)'}`);
    setState('open', 'Open, waiting for welcome…');
  });

  ws.addEventListener('message', (event) => {
    if (session.ws !== ws) return;
    if (typeof event.data !== 'string') {
      logFrame('←', 'binary', `${event.data.byteLength} bytes (not expected in JSON mode)`);
      return;
    }
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      logFrame('←', 'text (not JSON)', event.data);
      return;
    }
    const type = frame && typeof frame === 'object' && typeof frame.type === 'string' ? frame.type : '(no type)';
    logFrame('←', type, redactForPanel(event.data));
    handleFrame(frame);
  });

  ws.addEventListener('error', () => {
    if (session.ws !== ws) return;
    // The browser gives no details here on purpose; the close event follows.
    logFrame('•', 'error', 'the browser reports a connection error (details are hidden from pages)');
  });

  ws.addEventListener('close', (event) => {
    const text = describeClose(event.code, event.reason);
    // 1006 means no close frame arrived at all: the connection just dropped.
    logFrame(event.code === 1006 ? '•' : '←', 'close', `${text}${event.wasClean ? '' : ' (not clean)'}`);
    if (session.ws !== ws) return; // a socket the user already left
    session.ws = null;
    session.welcomed = false;
    if (OWNER_CLOSES[event.code]) {
      if (event.code === 4002) forgetOwnerToken(session.room);
      setState('closed', `Closed (${text})`);
      addNotice(OWNER_CLOSES[event.code], 'error');
      return;
    }
    if (event.code === 1006 && !session.opened) {
      void refusedOrUnreachable(text);
      return;
    }
    if (RETRY_CODES.has(event.code)) {
      if (session.everWelcomed && session.attempt === 0) addNotice(`Disconnected (${text}).`, 'warn');
      scheduleReconnect(text);
    } else {
      setState('closed', `Closed (${text})`);
      addNotice(`The server closed the connection (${text}).`, event.code === 1000 ? 'info' : 'error');
    }
  });
}

/** A connection that never opened: a refusal if the server answers /healthz, else the network (retry). */
async function refusedOrUnreachable(text) {
  const room = session.room;
  if (!(await serverReachable())) return scheduleReconnect(text);
  if (session.room !== room || session.state === 'idle') return;
  session.refusals += 1;
  const sentSecret = Boolean(session.secret) && !session.usedOwnerToken;
  const why = explainRefusal({ sentSecret, usedOwnerToken: session.usedOwnerToken, failures: session.refusals });
  // A stale owner key must not be offered again and again: it counts as a wrong credential.
  if (session.usedOwnerToken) forgetOwnerToken(room);
  leave();
  ui.accessError.textContent = why;
  ui.accessError.hidden = false;
  ui.secret.focus();
}

function renderAccess() {
  const owner = session.role === 'owner';
  ui.ownerControls.hidden = !owner;
  ui.roomState.textContent = `${session.protected ? 'Protected by a secret' : 'Open to anyone with the key'}${session.locked ? ' · locked: no one new can join' : ''}`;
  ui.lockRoom.textContent = session.locked ? 'Unlock the room' : 'Lock the room';
  ui.removeSecret.disabled = !session.protected;
  ui.rotateSecret.textContent = session.protected ? 'Change the secret' : 'Protect with a secret';
  renderMembers();
}

function showSecretOnce(secret) {
  ui.secretOnceValue.value = secret;
  ui.secretOnceLink.value = shareLinkWithSecret(session.room, secret);
  ui.secretOnce.hidden = false;
}

function sendCommand(command) {
  const ws = session.ws;
  if (!ws || ws.readyState !== WebSocket.OPEN) return addNotice('Not connected: try again once the room is open.', 'warn');
  const payload = JSON.stringify(command);
  ws.send(payload);
  logFrame('→', command.type, redactForPanel(payload));
}

function handleFrame(frame) {
  if (!frame || typeof frame !== 'object') return;
  switch (frame.type) {
    case 'welcome': {
      const members = Array.isArray(frame.members) ? frame.members.filter((m) => typeof m === 'string') : [];
      session.you = typeof frame.you === 'string' ? frame.you : session.name;
      session.members = members;
      if (!members.includes(session.you)) session.members.push(session.you);
      const again = session.everWelcomed;
      session.welcomed = true;
      session.everWelcomed = true;
      session.attempt = 0;
      ui.whereName.textContent = session.you;
      if (typeof frame.room === 'string') ui.whereRoom.textContent = frame.room;
      session.role = frame.role === 'owner' ? 'owner' : 'member';
      session.protected = frame.protected === true;
      session.refusals = 0;
      if (typeof frame.ownerToken === 'string') {
        // This join created the room: keep the owner key in this browser, show a generated secret once.
        saveOwnerToken(session.room, frame.ownerToken);
        if (session.usedOwnerToken) {
          // An owner key kept from a room since closed created this one, as its secret: put the
          // secret the user meant (or none) in its place.
          sendCommand({ type: 'set_secret', secret: session.secret || null });
          session.protected = Boolean(session.secret);
        }
        if (session.secretToShow && session.protected) showSecretOnce(session.secretToShow);
      } else if (!session.protected && session.secret && !again) {
        addNotice('This room is not protected: the secret you gave protects nothing.', 'warn');
      }
      // A kept owner key that no longer makes us the owner belongs to a room since closed.
      if (session.usedOwnerToken && session.role !== 'owner') forgetOwnerToken(session.room);
      session.secretToShow = '';
      renderAccess();
      setState('open', 'Open');
      addNotice(again ? 'Reconnected.' : `You joined as ${session.you}.`, 'ok');
      break;
    }
    case 'joined': {
      if (typeof frame.name !== 'string') return;
      session.members.push(frame.name);
      renderMembers();
      addNotice(`${frame.name} joined.`);
      break;
    }
    case 'left': {
      if (typeof frame.name !== 'string') return;
      // Remove one occurrence of that name; never yourself (the server will not send it).
      const i = session.members.lastIndexOf(frame.name);
      if (i !== -1) session.members.splice(i, 1);
      renderMembers();
      addNotice(`${frame.name} left.`);
      break;
    }
    case 'message': {
      const from = typeof frame.from === 'string' ? frame.from : '(unknown)';
      let text = typeof frame.text === 'string' ? frame.text : String(frame.text ?? '');
      // A binary message from a raw-mode member travels base64-encoded.
      if (frame.encoding === 'base64') text = describeBinary(text);
      addMessage(from, text, typeof frame.ts === 'number' ? frame.ts : Date.now(), false);
      break;
    }
    case 'room': {
      session.locked = frame.locked === true;
      session.protected = frame.protected === true;
      renderAccess();
      addNotice(`The room is now ${session.locked ? 'locked' : 'unlocked'} and ${session.protected ? 'protected by a secret' : 'open to anyone with the key'}.`);
      break;
    }
    case 'error': {
      const code = typeof frame.code === 'string' ? frame.code : 'error';
      const message = typeof frame.message === 'string' ? frame.message : '';
      addNotice(`Server error ${code}${message ? `: ${message}` : ''}`, 'error');
      break;
    }
    default:
      break; // unknown types are shown in the protocol panel only
  }
}

function sendText(text) {
  const ws = session.ws;
  if (!ws || ws.readyState !== WebSocket.OPEN || !session.welcomed) return 'offline';
  const payload = JSON.stringify({ type: 'message', text });
  // The server's default limit (MAX_MESSAGE_BYTES); a bigger message would close the connection with 1009.
  if (new TextEncoder().encode(payload).length > MAX_MESSAGE_BYTES) return 'too-big';
  ws.send(payload);
  logFrame('→', 'message', payload);
  return 'sent';
}

// ---------------------------------------------------------------- join / leave

function join(room, name) {
  session.room = room;
  session.name = name;
  session.secret = ui.secret.value;
  session.role = 'member';
  session.locked = false;
  session.protected = false;
  ui.accessError.hidden = true;
  ui.secretOnce.hidden = true;
  ui.ownerControls.hidden = true;
  session.attempt = 0;
  session.everWelcomed = false;
  session.members = [];
  session.you = name;
  ui.messages.replaceChildren();
  renderMembers();
  ui.whereRoom.textContent = room;
  ui.whereName.textContent = name;
  ui.where.hidden = false;
  ui.joinView.hidden = true;
  ui.chatView.hidden = false;
  document.title = `${room} · rooms`;
  connect();
  ui.text.focus();
}

function leave() {
  clearTimers();
  const ws = session.ws;
  if (ws && (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING)) {
    logFrame('→', 'close', describeClose(1000, 'leaving'));
    ws.close(1000, 'leaving');
  }
  session.ws = null;
  session.welcomed = false;
  setState('idle', 'Not connected');
  ui.where.hidden = true;
  ui.chatView.hidden = true;
  ui.joinView.hidden = false;
  document.title = 'rooms';
  ui.room.focus();
}

// ---------------------------------------------------------------- wiring

ui.generate.addEventListener('click', () => {
  ui.room.value = generateRoomKey();
  // A new room is protected by a generated secret unless the user clears the field.
  if (!ui.secret.value) {
    ui.secret.value = generateSecret();
    session.secretToShow = ui.secret.value;
  }
  showFieldError(ui.room, ui.roomError, '');
  updateLink();
});

ui.room.addEventListener('input', updateLink);
ui.generateSecret.addEventListener('click', () => {
  ui.secret.value = generateSecret();
  session.secretToShow = ui.secret.value;
});
ui.secret.addEventListener('input', () => {
  session.secretToShow = '';
});
ui.copySecret.addEventListener('click', () => void copyField(ui.secretOnceValue));
ui.copySecretLink.addEventListener('click', () => void copyField(ui.secretOnceLink));
ui.lockRoom.addEventListener('click', () => sendCommand({ type: session.locked ? 'unlock' : 'lock' }));
ui.rotateSecret.addEventListener('click', () => {
  const secret = generateSecret();
  session.secret = secret;
  sendCommand({ type: 'set_secret', secret });
  showSecretOnce(secret);
});
ui.removeSecret.addEventListener('click', () => {
  session.secret = '';
  sendCommand({ type: 'set_secret', secret: null });
  ui.secretOnce.hidden = true;
});
ui.closeRoom.addEventListener('click', () => {
  if (confirm('Close this room for everyone? Its members are disconnected and the room is deleted.')) sendCommand({ type: 'close_room' });
});

async function copyField(input) {
  try {
    if (!navigator.clipboard || !window.isSecureContext) throw new Error('no clipboard');
    await navigator.clipboard.writeText(input.value);
  } catch {
    input.focus();
    input.select();
    try {
      document.execCommand('copy');
    } catch {
      /* selected: the user copies it */
    }
  }
}
ui.copyLink.addEventListener('click', () => void copyLink());

ui.joinForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const room = ui.room.value.trim();
  const name = ui.name.value.trim();
  const roomProblem = validRoom(room);
  const nameProblem = validName(name);
  showFieldError(ui.room, ui.roomError, roomProblem);
  showFieldError(ui.name, ui.nameError, nameProblem);
  if (roomProblem) return ui.room.focus();
  if (nameProblem) return ui.name.focus();
  try {
    localStorage.setItem(NAME_STORAGE, name);
  } catch {
    /* private mode: fine */
  }
  ui.room.value = room;
  updateLink();
  join(room, name);
});

ui.sendForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const text = ui.text.value;
  if (!text.trim()) return;
  const result = sendText(text);
  if (result === 'offline') {
    addNotice('Not connected: your message was not sent. It is still in the box.', 'warn');
    return;
  }
  if (result === 'too-big') {
    addNotice('That message is too long to send (over 1 MiB). It is still in the box.', 'warn');
    return;
  }
  addMessage(session.you, text, Date.now(), true);
  ui.text.value = '';
  fitTextBox();
  ui.text.focus();
});

ui.reconnect.addEventListener('click', () => {
  session.attempt = 0;
  connect();
});

ui.leave.addEventListener('click', leave);
ui.clearLog.addEventListener('click', () => ui.frames.replaceChildren());

// In the message box: Enter sends, Shift+Enter is a new line, Escape clears.
// (Nothing else on the page captures keys.)
ui.text.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.altKey && !event.ctrlKey && !event.metaKey && !event.isComposing) {
    event.preventDefault();
    ui.sendForm.requestSubmit();
  } else if (event.key === 'Escape') {
    ui.text.value = '';
    fitTextBox();
  }
});

/** Grows the message box with its content, up to a few lines (CSS caps the height). */
function fitTextBox() {
  ui.text.style.height = 'auto';
  ui.text.style.height = `${ui.text.scrollHeight + 2}px`;
}
ui.text.addEventListener('input', fitTextBox);

// Back online, or back to a tab whose timers the browser throttled while it
// was hidden (phones do this): do not wait out the backoff.
function retryNow() {
  if (session.state === 'reconnecting') {
    session.attempt = 0;
    connect();
  }
}
window.addEventListener('online', retryNow);
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') retryNow();
});

window.addEventListener('hashchange', () => {
  if (session.state !== 'idle') return;
  const room = roomFromLocation();
  if (room) {
    ui.room.value = room;
    updateLink();
  }
});

// ---------------------------------------------------------------- start

(function start() {
  const room = roomFromLocation();
  if (room) ui.room.value = room;
  // A share link may carry the secret after the #; updateLink() below takes it out of the address bar.
  const secret = secretFromLocation();
  if (secret) ui.secret.value = secret;
  try {
    const saved = localStorage.getItem(NAME_STORAGE);
    if (saved && !ui.name.value) ui.name.value = saved;
  } catch {
    /* no storage */
  }
  updateLink();
  setState('idle', 'Not connected');
  document.documentElement.dataset.ready = 'true';
})();
