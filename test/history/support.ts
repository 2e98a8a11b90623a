// Helpers for the history tests: JSON-mode members over raw sockets (the exact
// bytes), reading the welcome, the replay and live messages in arrival order.

import { RawClient, text } from '../helpers/raw-client';

export type Json = Record<string, unknown>;

export interface JsonMember {
  client: RawClient;
  welcome: Json;
  /** The next JSON frame, whatever its type. */
  next(timeoutMs?: number): Promise<Json>;
  /** The next `message` frames, skipping joined/left. */
  messages(count: number, timeoutMs?: number): Promise<Json[]>;
  say(words: string): void;
}

export function joinPath(room: string, name: string, extra = ''): string {
  return `/?room=${encodeURIComponent(room)}&name=${encodeURIComponent(name)}${extra}`;
}

export async function joinJson(port: number, room: string, name: string, extra = ''): Promise<JsonMember> {
  const client = await RawClient.upgrade(port, { path: joinPath(room, name, extra), protocol: 'rooms.v1.json' });
  const next = async (timeoutMs = 3000): Promise<Json> => JSON.parse((await client.message(timeoutMs)).payload.toString('utf8')) as Json;
  const welcome = await next();
  if (welcome.type !== 'welcome') throw new Error(`first frame is not a welcome: ${JSON.stringify(welcome)}`);
  return {
    client,
    welcome,
    next,
    async messages(count, timeoutMs = 3000) {
      const out: Json[] = [];
      while (out.length < count) {
        const frame = await next(timeoutMs);
        if (frame.type === 'message') out.push(frame);
      }
      return out;
    },
    say(words) {
      client.send(text(JSON.stringify({ type: 'message', text: words })));
    },
  };
}

/** Raw-mode member: the bare payloads, in order. */
export async function joinRaw(port: number, room: string, name: string, extra = ''): Promise<RawClient> {
  return RawClient.upgrade(port, { path: joinPath(room, name, extra) });
}

/** True when nothing more arrives within `ms` (no data frame). */
export async function quiet(client: RawClient, ms = 150): Promise<boolean> {
  try {
    await client.message(ms);
    return false;
  } catch (error) {
    if (/no frame within/.test(String(error))) return true;
    throw error;
  }
}
