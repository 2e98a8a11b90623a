// The rooms browser client: plain ES module, no build step, no dependencies.
// Speaks the JSON mode of the server (subprotocol rooms.v1.json):
//   server → client: welcome {room, you, members}, joined/left {name},
//                    message {from, text, ts}, error {code, message}
//   client → server: message {text}
// All text from the network is inserted with textContent, never as HTML.
// Connecting, reconnecting with backoff and resuming (since/epoch) are the
// client library's (rooms-client.js); this file is the page around it.
// Room secrets and the owner's controls: access-page.js (helpers in access.js);
// how messages, notices and frames are shown: page-view.js; the room key, the
// share link and the join form's checks: page-link.js.

import { RoomsClient } from './rooms-client.js';
import { redactForPanel } from './access.js';
import { accessPage } from './access-page.js';
import { copyLink, generateRoomKey, roomFromLocation, showFieldError, updateLink, validName, validRoom } from './page-link.js';
import * as view from './page-view.js';

const SUBPROTOCOL = 'rooms.v1.json';
const NAME_STORAGE = 'rooms.name';

/** Recent messages shown on joining (?history=N). */
const HISTORY_ON_JOIN = 50;

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
};

// The page's lists, for page-view.js's helpers.
const { el, describeBinary, describeClose, MAX_MESSAGES } = view;
const addMessage = (from, text, ts, mine, tag) => view.addMessage(ui.messages, from, text, ts, mine, tag);
const addNotice = (text, kind) => view.addNotice(ui.messages, text, kind);
const logFrame = (direction, type, payload) => view.logFrame(ui.frames, direction, type, payload);

/** Everything about the current session; one object so state changes are easy to follow. */
const session = {
  room: '',
  name: '',
  /** @type {RoomsClient | null} */
  client: null,
  /** 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed' */
  state: 'idle',
  attempt: 0,
  welcomed: false,
  everWelcomed: false,
  /** Names in the room as the server tells it; a multiset (names may repeat). */
  members: /** @type {string[]} */ ([]),
  you: '',
  countdownTimer: 0,
  retryAt: 0,
  /** from, ts and text of messages on screen: history replayed after a failed resume is not shown twice */
  shown: new Set(),
};

const access = accessPage({
  room: () => session.room,
  client: () => session.client,
  addNotice: (text, kind) => addNotice(text, kind),
  leave: () => leave(),
  renderMembers: () => renderMembers(),
});

// ---------------------------------------------------------------- members

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
    } else if (access.isOwner() && name !== session.you) {
      const kick = el('button', 'kick', 'Remove');
      kick.type = 'button';
      kick.setAttribute('aria-label', `Remove ${name} from the room`);
      kick.addEventListener('click', () => access.kick(name));
      li.append(' ', kick);
    }
    ui.members.append(li);
  }
  ui.memberCount.textContent = `(${session.members.length})`;
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
  clearInterval(session.countdownTimer);
  session.countdownTimer = 0;
}

function tickCountdown() {
  const left = Math.max(0, Math.ceil((session.retryAt - Date.now()) / 1000));
  ui.countdown.textContent = `in ${left} s`;
}

function connect() {
  clearTimers();
  session.welcomed = false;
  session.client?.close();
  const client = new RoomsClient({ room: session.room, name: session.name, history: HISTORY_ON_JOIN, credential: () => access.credential() });
  session.client = client;
  const current = () => session.client === client;
  let lastClose = '';

  client.on('connecting', ({ url, resuming, credentialOffered }) => {
    if (!current()) return;
    session.welcomed = false;
    setState('connecting', session.everWelcomed ? 'Reconnecting…' : 'Connecting…');
    const offered = credentialOffered ? `, ${access.offered()} offered as rooms.auth.…` : '';
    logFrame('•', 'connect', `${url}  (subprotocol ${SUBPROTOCOL}${offered}${resuming ? '; resuming after the last message seen' : ''})`);
  });
  client.on('open', ({ protocol, extensions }) => {
    if (!current()) return;
    logFrame('•', 'open', `subprotocol: ${protocol || '(none)'}; extensions: ${extensions || '(none)'}`);
    setState('open', 'Open, waiting for welcome…');
  });
  client.on('frame', ({ direction, type, data }) => {
    if (current()) logFrame(direction === 'in' ? '←' : '→', type, redactForPanel(data));
  });
  client.on('close', ({ code, reason, wasClean, willRetry, refused }) => {
    const text = describeClose(code, reason);
    // 1006 means no close frame arrived at all: the connection just dropped.
    logFrame(code === 1006 ? '•' : '←', 'close', `${text}${wasClean ? '' : ' (not clean)'}${refused ? ' (the server refused the join)' : ''}`);
    if (!current()) return;
    session.welcomed = false;
    lastClose = text;
    if (refused) return; // explained by the 'refused' handler
    const byOwner = access.ownerClose(code);
    if (byOwner) {
      setState('closed', `Closed (${text})`);
      addNotice(byOwner, 'error');
      return;
    }
    if (willRetry) {
      if (session.everWelcomed && session.attempt === 0) addNotice(`Disconnected (${text}).`, 'warn');
    } else {
      setState('closed', `Closed (${text})`);
      addNotice(`The server closed the connection (${text}).`, code === 1000 ? 'info' : 'error');
    }
  });
  client.on('reconnecting', ({ delay, attempt }) => {
    if (!current()) return;
    clearTimers();
    session.attempt = attempt;
    session.retryAt = Date.now() + delay;
    const prefix = session.everWelcomed ? 'Reconnecting' : 'Could not connect, trying again';
    setState('reconnecting', `${prefix} (${lastClose})`);
    tickCountdown();
    session.countdownTimer = setInterval(tickCountdown, 250);
  });
  client.on('refused', () => {
    if (current()) access.refused();
  });
  client.on('room', (room) => {
    if (current()) access.roomChanged(room);
  });
  client.on('welcome', (welcome) => {
    if (!current()) return;
    clearTimers();
    const members = welcome.members.filter((m) => typeof m === 'string');
    session.you = typeof welcome.you === 'string' ? welcome.you : session.name;
    session.members = members;
    if (!members.includes(session.you)) session.members.push(session.you);
    const again = session.everWelcomed;
    session.welcomed = true;
    session.everWelcomed = true;
    session.attempt = 0;
    ui.whereName.textContent = session.you;
    if (typeof welcome.room === 'string') ui.whereRoom.textContent = welcome.room;
    access.welcome(welcome, again);
    setState('open', 'Open');
    if (!again) addNotice(`You joined as ${session.you}.`, 'ok');
    else if (welcome.recovered === true) addNotice('Reconnected. Nothing was lost: messages sent while you were away are shown, marked “missed while away”.', 'ok');
    else addNotice('Reconnected, but messages sent while you were away may be missing: the server could not send them all (too old, too many or too large). The latest ones are shown below.', 'warn');
  });
  client.on('message', (message) => {
    if (!current() || message.own) return;
    // A binary message from a raw-mode member travels base64-encoded.
    const text = message.encoding === 'base64' ? describeBinary(message.text) : message.text;
    const key = `${message.from}\u0000${message.ts}\u0000${text}`;
    if (message.replayed && !message.missed && session.shown.has(key)) return;
    addMessage(message.from, text, message.ts, false, message.missed ? 'missed' : message.replayed ? 'history' : '');
    remember(key);
  });
  client.on('joined', ({ name }) => {
    if (!current()) return;
    session.members.push(name);
    renderMembers();
    addNotice(`${name} joined.`);
  });
  client.on('left', ({ name }) => {
    if (!current()) return;
    // Remove one occurrence of that name; never yourself (the server will not send it).
    const i = session.members.lastIndexOf(name);
    if (i !== -1) session.members.splice(i, 1);
    renderMembers();
    addNotice(`${name} left.`);
  });
  client.on('error', ({ code, message }) => {
    if (!current()) return;
    if (code === 'connect_failed') {
      logFrame('•', 'error', message);
      setState('closed', `Closed: ${message}`);
      return;
    }
    addNotice(`Server error ${code}${message ? `: ${message}` : ''}`, 'error');
  });
  client.connect();
}

function remember(key) {
  session.shown.add(key);
  if (session.shown.size > MAX_MESSAGES) session.shown.delete(session.shown.values().next().value);
}

function sendText(text) {
  if (!session.client || !session.welcomed) return 'offline';
  return session.client.send(text);
}

// ---------------------------------------------------------------- join / leave

function join(room, name) {
  session.room = room;
  session.name = name;
  access.joining();
  session.attempt = 0;
  session.everWelcomed = false;
  session.members = [];
  session.you = name;
  session.shown.clear();
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
  const client = session.client;
  session.client = null;
  if (client && (client.state === 'open' || client.state === 'connecting')) logFrame('→', 'close', describeClose(1000, 'leaving'));
  client?.close(1000, 'leaving');
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
  access.roomGenerated();
  showFieldError(ui.room, ui.roomError, '');
  updateLink(ui);
});

ui.room.addEventListener('input', () => updateLink(ui));
ui.copyLink.addEventListener('click', () => void copyLink(ui));

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
  updateLink(ui);
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
  // Waiting to reconnect: the same client tries now, and resumes. Closed for good: a fresh start.
  if (session.client && session.state === 'reconnecting') session.client.retryNow();
  else connect();
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
  if (session.state === 'reconnecting' && session.client) {
    session.attempt = 0;
    session.client.retryNow();
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
    updateLink(ui);
  }
});

// ---------------------------------------------------------------- start

(function start() {
  const room = roomFromLocation();
  if (room) ui.room.value = room;
  access.prefill();
  try {
    const saved = localStorage.getItem(NAME_STORAGE);
    if (saved && !ui.name.value) ui.name.value = saved;
  } catch {
    /* no storage */
  }
  updateLink(ui);
  setState('idle', 'Not connected');
  document.documentElement.dataset.ready = 'true';
})();
