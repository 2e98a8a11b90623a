// Sec-WebSocket-Key and Sec-WebSocket-Accept (RFC 6455 sections 4.1 and 4.2.2):
// the proof that the server read the client's handshake.

import * as crypto from 'node:crypto';

/** The GUID of section 1.3, the same for every WebSocket server. */
export const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Section 4.2.2 step 5.4: base64 of the SHA-1 of the key followed by the GUID. */
export function computeAcceptKey(secWebSocketKey: string): string {
  return sha1Base64(secWebSocketKey + WEBSOCKET_GUID);
}

/** One-shot crypto.hash (Node 20.12+) skips building a Hash object per handshake; older Nodes take the long way. */
const sha1Base64: (data: string) => string =
  typeof crypto.hash === 'function' ? (data) => crypto.hash('sha1', data, 'base64') : (data) => crypto.createHash('sha1').update(data).digest('base64');

/**
 * Section 4.1: the key is the base64 of 16 bytes, which is always 24 characters ending "==".
 * 22 base64 characters and "==" always decode to exactly 16 bytes, so the pattern is the whole check.
 */
export function isValidWebSocketKey(key: string): boolean {
  return WEBSOCKET_KEY.test(key);
}
const WEBSOCKET_KEY = /^[A-Za-z0-9+/]{22}==$/;
