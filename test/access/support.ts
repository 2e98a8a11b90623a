// Shared by the access-control tests: joining with a credential the two ways the
// contract allows (header, subprotocol), reading JSON frames, and the answers.

import { type HandshakeOptions, type HttpAnswer, RawClient, text } from '../helpers/raw-client';

export function roomPathOf(room: string, name: string): string {
  return `/?room=${encodeURIComponent(room)}&name=${encodeURIComponent(name)}`;
}

export interface JoinOptions {
  /** sent as Authorization: Bearer */
  bearer?: string;
  /** sent as the rooms.auth. subprotocol */
  subprotocolCredential?: string;
  json?: boolean;
  localAddress?: string;
  headers?: Record<string, string | null>;
  /** how long to wait for the answer (default 3 s; secret checks queue up under load) */
  timeoutMs?: number;
}

export function joinOptions(room: string, name: string, options: JoinOptions = {}): HandshakeOptions {
  const offers: string[] = [];
  if (options.json === true) offers.push('rooms.v1.json');
  if (options.subprotocolCredential !== undefined) offers.push(`rooms.auth.${Buffer.from(options.subprotocolCredential, 'utf8').toString('base64url')}`);
  return {
    path: roomPathOf(room, name),
    ...(offers.length > 0 ? { protocol: offers.join(', ') } : {}),
    headers: { ...(options.bearer !== undefined ? { Authorization: `Bearer ${options.bearer}` } : {}), ...options.headers },
    ...(options.localAddress !== undefined ? { localAddress: options.localAddress } : {}),
  };
}

/** The handshake answer; the client is destroyed unless it is a 101. */
export async function attempt(port: number, room: string, name: string, options: JoinOptions = {}): Promise<{ response: HttpAnswer; client: RawClient }> {
  const { client, response } = await RawClient.open(port, joinOptions(room, name, options), options.timeoutMs ?? 10_000);
  if (response.status !== 101) client.destroy();
  return { response, client };
}

export async function refusal(port: number, room: string, name: string, options: JoinOptions = {}): Promise<{ status: number; reason: string; headers: Map<string, string> }> {
  const { response } = await attempt(port, room, name, options);
  return { status: response.status, reason: response.body.toString('utf8').trim(), headers: response.headers };
}

export interface JsonMember {
  client: RawClient;
  welcome: Record<string, unknown>;
  next(): Promise<Record<string, unknown>>;
  /** The next frame of this type, skipping others (presence frames interleave). */
  nextOf(type: string): Promise<Record<string, unknown>>;
  send(value: unknown): void;
}

export async function jsonMember(port: number, room: string, name: string, options: JoinOptions = {}): Promise<JsonMember> {
  const { client, response } = await attempt(port, room, name, { ...options, json: true });
  if (response.status !== 101) throw new Error(`expected 101, got ${response.status}: ${response.body.toString('utf8').trim()}`);
  const next = async () => JSON.parse((await client.message()).payload.toString('utf8')) as Record<string, unknown>;
  const welcome = await next();
  const nextOf = async (type: string) => {
    for (;;) {
      const frame = await next();
      if (frame.type === type) return frame;
    }
  };
  return { client, welcome, next, nextOf, send: (value) => client.send(text(JSON.stringify(value))) };
}

export async function rawMember(port: number, room: string, name: string, options: JoinOptions = {}): Promise<RawClient> {
  const { client, response } = await attempt(port, room, name, options);
  if (response.status !== 101) throw new Error(`expected 101, got ${response.status}: ${response.body.toString('utf8').trim()}`);
  return client;
}
