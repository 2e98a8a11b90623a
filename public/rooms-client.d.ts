// Types of rooms-client.js (served at /rooms-client.js): a client for the rooms
// server's JSON mode with reconnect, backoff and resume (?since=&epoch=).

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
}

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
  connecting: { url: string; attempt: number; resuming: boolean };
  open: { protocol: string; extensions: string };
  welcome: WelcomeEvent;
  /** after every reconnect's welcome: false means messages may have been missed */
  recovered: { recovered: boolean };
  message: MessageEvent;
  joined: { name: string };
  left: { name: string };
  error: { code: string; message: string };
  close: { code: number; reason: string; wasClean: boolean; willRetry: boolean };
  reconnecting: { delay: number; attempt: number; code: number };
  state: { state: RoomsClientState };
  /** every frame in and out, for protocol panels */
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
  close(code?: number, reason?: string): void;
  retryNow(): void;
}
