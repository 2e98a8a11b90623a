// Types of rooms-client.js (served at /rooms-client.js): a client for the rooms
// server's JSON mode with reconnect, backoff and resume (?since=&epoch=), an
// optional credential (secret, owner key, join token), owner commands, and
// refused joins told apart from dropped connections.

export interface RoomsClientOptions {
  room: string;
  name: string;
  /** ws:// or wss:// base of the server, default: the page's own host. */
  url?: string;
  /** Recent messages to ask for on joining (?history=N); default 0. */
  history?: number;
  /** Reconnect delays: doubling from baseMs (default 1000) up to maxMs (default 30000), with jitter. */
  backoff?: { baseMs?: number; maxMs?: number };
  /** Drop the connection when the browser goes offline and reconnect when it is back (default true). */
  watchNetwork?: boolean;
  /**
   * A room secret, owner key or join token, offered as the subprotocol
   * `rooms.auth.BASE64URL(credential)` next to `rooms.v1.json` (never in the URL).
   * A function is asked at every connect and reconnect, so the page can offer the
   * owner key once it has one; '' / null / undefined offers none.
   */
  credential?: string | null | (() => string | null | undefined);
  /**
   * Asked when a connection closes (1006) before it ever opened: answered means
   * the server refused the join (a `refused` event, no retry); no answer means it
   * could not be reached (retry with backoff). After a welcome it takes two such
   * answered failures in a row (a server that restarted may answer by the time it
   * is asked). Default: http(s)://HOST/healthz of `url`; null never asks (every
   * such failure is retried).
   */
  healthUrl?: string | null;
}

export type RoomsClientState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface WelcomeEvent {
  room: string;
  you: string;
  members: string[];
  epoch: string | null;
  /** the room's latest seq */
  seq: number;
  /** only after a reconnect: true = nothing was missed (the missed messages follow), false = messages may have been missed */
  recovered: boolean | undefined;
  /** true from the second welcome on */
  reconnected: boolean;
  /** the room needs a secret to join */
  protected: boolean;
  /** 'owner' when the credential was the room's owner key (or this join created the room) */
  role: 'owner' | 'member';
  /** only to the member whose join created the room: keep it to be the owner again (as `credential`) */
  ownerToken?: string;
}

/** An owner command (JSON mode); from anyone but the owner the server answers an `error` with code `forbidden`. */
export type OwnerCommand =
  | { type: 'kick'; name: string }
  | { type: 'lock' }
  | { type: 'unlock' }
  | { type: 'set_secret'; secret: string | null }
  | { type: 'close_room' };

export interface MessageEvent {
  from: string;
  text: string;
  /** ms since the epoch, the server's clock */
  ts: number;
  seq: number;
  /** 'base64' for a binary message from a raw-mode member */
  encoding?: 'base64';
  /** sent before this connection's welcome: history or a missed message */
  replayed: boolean;
  /** replayed by a resume: a message this client missed while it was away */
  missed: boolean;
  /** a replayed message this client itself sent (already shown by the page) */
  own: boolean;
}

export interface RoomsClientEvents {
  /** `url` never carries the credential; `credentialOffered` says whether one was offered */
  connecting: { url: string; attempt: number; resuming: boolean; credentialOffered: boolean };
  open: { protocol: string; extensions: string };
  welcome: WelcomeEvent;
  /** after every reconnect's welcome: false means messages may have been missed */
  recovered: { recovered: boolean };
  message: MessageEvent;
  joined: { name: string };
  left: { name: string };
  /** the room's lock or protection changed (an owner command) */
  room: { locked: boolean; protected: boolean };
  error: { code: string; message: string };
  /**
   * `opened`: the connection got as far as its 101. `refused`: it never did and the
   * server answers /healthz, so the join was refused (a `refused` event follows).
   * Owner actions close with 4001 (removed) and 4002 (room closed): not retried.
   */
  close: { code: number; reason: string; wasClean: boolean; willRetry: boolean; opened: boolean; refused: boolean };
  /**
   * The server refused the join (401 no/wrong secret, 403, 423 locked, 429 too many
   * wrong tries: a browser is never told which). The client stops (state 'closed');
   * `connect()` tries again, e.g. with another credential.
   */
  refused: { credentialOffered: boolean; reconnect: boolean };
  reconnecting: { delay: number; attempt: number; code: number };
  state: { state: RoomsClientState };
  /** every frame in and out, for protocol panels; an `ownerToken` or `secret` field is shown as "(hidden)" */
  frame: { direction: 'in' | 'out'; type: string; data: string };
}

export declare class RoomsClient {
  constructor(options: RoomsClientOptions);
  readonly room: string;
  readonly name: string;
  readonly state: RoomsClientState;
  /** the room's epoch and the latest seq accounted for: what a resume sends */
  readonly epoch: string | null;
  readonly lastSeq: number;
  on<K extends keyof RoomsClientEvents>(type: K, listener: (event: RoomsClientEvents[K]) => void): () => void;
  connect(): void;
  send(text: string): 'sent' | 'offline' | 'too-big';
  /** Sends a command object as JSON once welcomed, e.g. `{ type: 'lock' }`. */
  command(command: OwnerCommand | { type: string; [field: string]: unknown }): 'sent' | 'offline' | 'too-big';
  /** Sends one JSON text as it is, once welcomed (a chat message sent this way is not tracked for resume: use send). */
  sendJson(json: string): 'sent' | 'offline' | 'too-big';
  close(code?: number, reason?: string): void;
  retryNow(): void;
}
