// rooms-client.js: a small client for the rooms server's JSON mode
// (subprotocol rooms.v1.json), served at /rooms-client.js. No build step, no
// dependencies; types in rooms-client.d.ts. It connects, reconnects with
// backoff, and resumes where it left off (?since=SEQ&epoch=EPOCH), telling the
// page whether nothing was missed (recovered) or messages may have been.
// A credential (room secret, owner key, join token) travels only as the offered
// subprotocol rooms.auth.BASE64URL, never in the URL; a join the server refuses
// is told apart from a dropped network (/healthz) and is not retried.

const SUBPROTOCOL = 'rooms.v1.json';
const AUTH_PREFIX = 'rooms.auth.';
/** Close codes after which trying again may help (going away, abnormal, server error, restart, try later...). */
const RETRY_CODES = new Set([1001, 1005, 1006, 1011, 1012, 1013, 1014]);
/** The server's default MAX_MESSAGE_BYTES; a bigger message would close the connection with 1009. */
const MAX_MESSAGE_BYTES = 1024 * 1024;

export class RoomsClient {
  /**
   * @param {import('./rooms-client').RoomsClientOptions} options
   */
  constructor(options) {
    if (!options || typeof options.room !== 'string' || typeof options.name !== 'string') throw new TypeError('RoomsClient needs { room, name }');
    this.room = options.room;
    this.name = options.name;
    this.url = options.url ?? defaultUrl();
    this.history = options.history ?? 0;
    this.baseDelayMs = options.backoff?.baseMs ?? 1000;
    this.maxDelayMs = options.backoff?.maxMs ?? 30_000;
    /** @type {WebSocket | null} */
    this.ws = null;
    /** 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed' */
    this.state = 'idle';
    /** The room's epoch and the latest seq this client has accounted for (heard, or its own). */
    this.epoch = null;
    this.lastSeq = 0;
    this.welcomed = false;
    this.everWelcomed = false;
    /** A reconnect was once not opened while /healthz answered: the next such one is a refusal. */
    this.refusedOnce = false;
    this.attempt = 0;
    this.retryTimer = 0;
    /** seq of the welcome: messages up to it were replayed (missed or history), later ones are live. */
    this.welcomeSeq = 0;
    this.resumedOk = false;
    /** Texts this client sent that no seq has accounted for yet (the server does not echo them back). */
    this.unconfirmed = [];
    /** @type {Map<string, Set<Function>>} */
    this.listeners = new Map();
    // The browser knows the network is gone before TCP does (a socket can look open for minutes):
    // drop the connection at once, and come back (resuming) as soon as the network does.
    this.onOffline = () => this.dropForOffline();
    this.onOnline = () => this.retryNow();
    this.watchNetwork = options.watchNetwork !== false && typeof window !== 'undefined';
    /** A string, or a function asked at every (re)connect (the page may switch from a secret to an owner key). */
    this.credential = options.credential ?? null;
    this.healthUrl = options.healthUrl === undefined ? healthUrlFor(this.url) : options.healthUrl;
    /** Counts connects, so a late /healthz answer for an old attempt changes nothing. */
    this.generation = 0;
  }

  /** Subscribes to an event; returns the function that unsubscribes. */
  on(type, listener) {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  emit(type, detail) {
    for (const listener of this.listeners.get(type) ?? []) {
      try {
        listener(detail);
      } catch (error) {
        setTimeout(() => {
          throw error;
        });
      }
    }
  }

  /** Opens the connection (again, at once, if it was waiting to reconnect). */
  connect() {
    if (this.watchNetwork && this.state === 'idle') {
      window.addEventListener('offline', this.onOffline);
      window.addEventListener('online', this.onOnline);
    }
    clearTimeout(this.retryTimer);
    this.retryTimer = 0;
    this.welcomed = false;
    const url = this.joinUrl();
    const generation = ++this.generation;
    const credential = this.currentCredential();
    this.setState('connecting');
    this.emit('connecting', { url, attempt: this.attempt, resuming: this.epoch !== null, credentialOffered: credential !== '' });
    let ws;
    let opened = false;
    try {
      ws = new WebSocket(url, credential ? [SUBPROTOCOL, AUTH_PREFIX + base64url(new TextEncoder().encode(credential))] : SUBPROTOCOL);
    } catch (error) {
      this.setState('closed');
      this.emit('error', { code: 'connect_failed', message: String(error) });
      return;
    }
    this.ws = ws;
    ws.addEventListener('open', () => {
      opened = true;
      if (this.ws === ws) this.emit('open', { protocol: ws.protocol, extensions: ws.extensions });
    });
    ws.addEventListener('message', (event) => {
      if (this.ws !== ws) return;
      if (typeof event.data !== 'string') return this.emit('frame', { direction: 'in', type: 'binary', data: '' });
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return this.emit('frame', { direction: 'in', type: 'text (not JSON)', data: event.data });
      }
      this.emit('frame', { direction: 'in', type: frame && typeof frame.type === 'string' ? frame.type : '(no type)', data: redact(event.data) });
      if (frame && typeof frame === 'object') this.handle(frame);
    });
    ws.addEventListener('close', (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.welcomed = false;
      // Never opened: the server refused the upgrade (401/403/423/429...) or could not be reached.
      // A browser hides which: the page's own server answering /healthz means a refusal.
      if (!opened && event.code === 1006) return void this.refusedOrUnreachable(event, generation, credential !== '');
      this.closed(event, RETRY_CODES.has(event.code), false, opened);
    });
  }

  closed(event, retry, refused, opened) {
    this.emit('close', { code: event.code, reason: event.reason, wasClean: event.wasClean, willRetry: retry, opened, refused });
    if (retry) this.scheduleReconnect(event.code);
    else this.setState('closed');
  }

  async refusedOrUnreachable(event, generation, credentialOffered) {
    const reachable = await this.serverReachable();
    // Left, or connecting again, meanwhile: that attempt's answer is old news.
    if (generation !== this.generation || this.state === 'idle') return;
    if (!reachable) {
      this.refusedOnce = false;
      return this.closed(event, true, false, false);
    }
    // A reconnect that failed while the server restarted can find /healthz answering by the time it asks:
    // the server came up after this attempt, it did not refuse it. A refusal is refused again, so after a
    // welcome it takes two never-opened attempts in a row, with the server answering, to count as one.
    if (this.everWelcomed && !this.refusedOnce) {
      this.refusedOnce = true;
      return this.closed(event, true, false, false);
    }
    this.refusedOnce = false;
    this.closed(event, false, true, false);
    this.emit('refused', { credentialOffered, reconnect: this.everWelcomed });
  }

  async serverReachable() {
    if (!this.healthUrl) return false;
    try {
      const answer = await fetch(this.healthUrl, { cache: 'no-store' });
      return answer.ok;
    } catch {
      return false;
    }
  }

  currentCredential() {
    const value = typeof this.credential === 'function' ? this.credential() : this.credential;
    return typeof value === 'string' ? value : '';
  }

  /** Sends one chat message: 'sent', 'offline' (not connected) or 'too-big'. */
  send(text) {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || !this.welcomed) return 'offline';
    const payload = JSON.stringify({ type: 'message', text });
    if (new TextEncoder().encode(payload).length > MAX_MESSAGE_BYTES) return 'too-big';
    ws.send(payload);
    this.unconfirmed.push(text);
    this.emit('frame', { direction: 'out', type: 'message', data: payload });
    return 'sent';
  }

  /** Sends a command object, e.g. an owner's {type: 'lock'}: 'sent', 'offline' or 'too-big'. */
  command(command) {
    if (!command || typeof command !== 'object' || typeof command.type !== 'string') throw new TypeError('a command is an object with a string type');
    return this.sendJson(JSON.stringify(command));
  }

  /** Sends one JSON text as it is (for frames this library does not know yet). */
  sendJson(json) {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || !this.welcomed) return 'offline';
    if (new TextEncoder().encode(json).length > MAX_MESSAGE_BYTES) return 'too-big';
    let type = '(no type)';
    try {
      const value = JSON.parse(json);
      if (value && typeof value.type === 'string') type = value.type;
    } catch {
      type = 'text (not JSON)';
    }
    ws.send(json);
    this.emit('frame', { direction: 'out', type, data: redact(json) });
    return 'sent';
  }

  /** Leaves for good: no reconnect. */
  close(code = 1000, reason = 'leaving') {
    clearTimeout(this.retryTimer);
    const ws = this.ws;
    this.ws = null;
    if (ws && (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING)) ws.close(code, reason);
    this.welcomed = false;
    this.generation += 1;
    if (this.watchNetwork) {
      window.removeEventListener('offline', this.onOffline);
      window.removeEventListener('online', this.onOnline);
    }
    this.setState('idle');
  }

  dropForOffline() {
    const ws = this.ws;
    if (!ws) return;
    this.ws = null;
    this.welcomed = false;
    try {
      ws.close(4000, 'offline');
    } catch {
      /* already closing */
    }
    this.emit('close', { code: 4000, reason: 'the network went offline', wasClean: false, willRetry: true, opened: true, refused: false });
    this.scheduleReconnect(4000);
  }

  /** While waiting to reconnect: try now (back online, tab visible again). */
  retryNow() {
    if (this.state !== 'reconnecting') return;
    this.attempt = 0;
    this.connect();
  }

  joinUrl() {
    const params = new URLSearchParams({ room: this.room, name: this.name });
    if (this.epoch !== null) {
      params.set('since', String(this.lastSeq));
      params.set('epoch', this.epoch);
    }
    // Recent history on joining; after a resume that fails, the same latest N show what is there now.
    if (this.history > 0) params.set('history', String(this.history));
    return `${this.url}/?${params}`;
  }

  setState(state) {
    this.state = state;
    this.emit('state', { state });
  }

  scheduleReconnect(code) {
    const ceiling = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** this.attempt);
    // "Equal jitter": members dropped together do not all come back in the same instant.
    const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    this.attempt += 1;
    this.setState('reconnecting');
    this.emit('reconnecting', { delay, attempt: this.attempt, code });
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  handle(frame) {
    switch (frame.type) {
      case 'welcome': {
        const resumed = this.epoch !== null;
        const sameEpoch = frame.epoch === this.epoch;
        const recovered = resumed ? frame.recovered === true : undefined;
        if (!sameEpoch || !recovered) this.unconfirmed = [];
        this.epoch = typeof frame.epoch === 'string' ? frame.epoch : null;
        const seq = Number.isSafeInteger(frame.seq) ? frame.seq : 0;
        this.welcomeSeq = seq;
        /** The messages up to seq that follow are ones missed while away (not just recent history). */
        this.resumedOk = recovered === true;
        // Recovered: the missed messages follow. Otherwise nothing before seq will come: start from it.
        if (!recovered) this.lastSeq = seq;
        this.welcomed = true;
        const again = this.everWelcomed;
        this.everWelcomed = true;
        this.refusedOnce = false;
        this.attempt = 0;
        this.setState('open');
        this.emit('welcome', {
          room: frame.room,
          you: frame.you,
          members: Array.isArray(frame.members) ? frame.members : [],
          epoch: this.epoch,
          seq,
          recovered,
          reconnected: again,
          protected: frame.protected === true,
          role: frame.role === 'owner' ? 'owner' : 'member',
          ...(typeof frame.ownerToken === 'string' ? { ownerToken: frame.ownerToken } : {}),
        });
        if (resumed) this.emit('recovered', { recovered: recovered === true });
        break;
      }
      case 'message': {
        const seq = Number.isSafeInteger(frame.seq) ? frame.seq : 0;
        const replayed = seq !== 0 && seq <= this.welcomeSeq;
        // History shown on joining (or after a failed resume) is for display: it moves nothing.
        // Missed messages of a recovered resume and live ones carry the count on.
        const counts = !replayed || this.resumedOk;
        let own = false;
        if (counts) {
          // Never one message twice.
          if (seq !== 0 && seq <= this.lastSeq) return;
          // Seqs skipped were our own messages (the server does not send them back to us).
          if (seq > this.lastSeq + 1) this.unconfirmed.splice(0, seq - this.lastSeq - 1);
          if (replayed && frame.from === this.name && this.unconfirmed[0] === frame.text) {
            this.unconfirmed.shift();
            own = true;
          }
          if (seq > this.lastSeq) this.lastSeq = seq;
        }
        this.emit('message', { from: String(frame.from ?? ''), text: String(frame.text ?? ''), ts: typeof frame.ts === 'number' ? frame.ts : Date.now(), seq, encoding: frame.encoding, replayed, missed: replayed && this.resumedOk, own });
        break;
      }
      case 'joined':
      case 'left':
        if (typeof frame.name === 'string') this.emit(frame.type, { name: frame.name });
        break;
      case 'room':
        this.emit('room', { locked: frame.locked === true, protected: frame.protected === true });
        break;
      case 'error':
        this.emit('error', { code: String(frame.code ?? 'error'), message: String(frame.message ?? '') });
        break;
      default:
        break;
    }
  }
}

/** A copy of a frame's text for display, with the owner key and any secret hidden. */
function redact(text) {
  if (!text.includes('"ownerToken"') && !text.includes('"secret"')) return text;
  try {
    const value = JSON.parse(text);
    if (value && typeof value === 'object') {
      if (typeof value.ownerToken === 'string') value.ownerToken = '(hidden)';
      if (typeof value.secret === 'string') value.secret = '(hidden)';
      return JSON.stringify(value);
    }
  } catch {
    /* not JSON: no fields to hide */
  }
  return text;
}

function base64url(bytes) {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** http(s)://host/healthz of a ws(s):// base, for telling a refusal from an unreachable server. */
function healthUrlFor(url) {
  try {
    const parsed = new URL(url);
    parsed.protocol = parsed.protocol === 'wss:' ? 'https:' : 'http:';
    return `${parsed.origin}/healthz`;
  } catch {
    return null;
  }
}

function defaultUrl() {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${location.host}`;
}
