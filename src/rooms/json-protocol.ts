// The JSON mode of CONTRACT.md (subprotocol rooms.v1.json): what a client may
// send, how each mistake is answered, and the frames the server sends. Pure.

export type ClientFrame = { ok: true; text: string } | { ok: false; code: JsonErrorCode; message: string };

export type JsonErrorCode = 'not_json' | 'not_object' | 'unknown_type' | 'missing_text' | 'binary_not_supported';

/** The largest `text` is bounded by MAX_MESSAGE_BYTES already: the frame carrying it was. */
export function parseClientFrame(text: string): ClientFrame {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, code: 'not_json', message: 'frame is not valid JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, code: 'not_object', message: 'frame must be a JSON object with a "type"' };
  }
  const type = (value as { type?: unknown }).type;
  if (type !== 'message') return { ok: false, code: 'unknown_type', message: `unknown type ${JSON.stringify(type) ?? 'undefined'}; clients send {"type":"message","text":"..."}` };
  const body = (value as { text?: unknown }).text;
  if (typeof body !== 'string') return { ok: false, code: 'missing_text', message: 'a message needs "text" as a string' };
  return { ok: true, text: body };
}

/**
 * `history`: the room's epoch and latest seq; `recovered` only when the join asked to resume (since+epoch).
 * `extra`: fields other parts add (access control: protected, role, ownerToken).
 */
export function welcomeFrame(room: string, you: string, members: string[], history?: { epoch: string; seq: number; recovered?: boolean }, extra: Record<string, unknown> = {}): string {
  if (history === undefined) return JSON.stringify({ type: 'welcome', room, you, members, ...extra });
  const { epoch, seq, recovered } = history;
  return JSON.stringify(recovered === undefined ? { type: 'welcome', room, you, members, epoch, seq, ...extra } : { type: 'welcome', room, you, members, epoch, seq, recovered, ...extra });
}

export function presenceFrame(type: 'joined' | 'left', name: string): string {
  return JSON.stringify({ type, name });
}

/**
 * A relayed message for JSON members. A binary message from a raw member has no
 * text form, so it travels base64-encoded with `"encoding":"base64"` rather than
 * being dropped: every member hears every message.
 */
export function messageFrame(from: string, text: string, ts: number, encoding?: 'base64', seq?: number): string {
  if (seq === undefined) return JSON.stringify(encoding ? { type: 'message', from, text, ts, encoding } : { type: 'message', from, text, ts });
  return JSON.stringify(encoding ? { type: 'message', from, text, ts, encoding, seq } : { type: 'message', from, text, ts, seq });
}

export function errorFrame(code: JsonErrorCode | string, message: string): string {
  return JSON.stringify({ type: 'error', code, message });
}
