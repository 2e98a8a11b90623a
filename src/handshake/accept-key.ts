// Sec-WebSocket-Key and Sec-WebSocket-Accept (RFC 6455 sections 4.1 and 4.2.2):
// the proof that the server read the client's handshake.

import { createHash } from 'node:crypto';

/** The GUID of section 1.3, the same for every WebSocket server. */
export const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Section 4.2.2 step 5.4: base64 of the SHA-1 of the key followed by the GUID. */
export function computeAcceptKey(secWebSocketKey: string): string {
  return createHash('sha1').update(secWebSocketKey + WEBSOCKET_GUID).digest('base64');
}

/** Section 4.1: the key is the base64 of 16 bytes, which is always 24 characters ending "==". */
export function isValidWebSocketKey(key: string): boolean {
  return /^[A-Za-z0-9+/]{22}==$/.test(key) && Buffer.from(key, 'base64').length === 16;
}
