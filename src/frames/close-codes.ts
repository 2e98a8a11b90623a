// Close codes (RFC 6455 section 7.4) and the close frame body (section 5.5.1):
// which codes may appear on the wire, how a body is read, and how one is built.

import { isUtf8 } from 'node:buffer';
import { ProtocolError } from './protocol-error';

export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  UnsupportedData: 1003,
  NoStatusReceived: 1005, // never on the wire: "the close frame had no body"
  Abnormal: 1006, // never on the wire: "the TCP connection ended without a close frame"
  InvalidPayload: 1007,
  PolicyViolation: 1008,
  MessageTooBig: 1009,
  MandatoryExtension: 1010,
  InternalError: 1011,
  ServiceRestart: 1012,
  TryAgainLater: 1013,
  BadGateway: 1014,
} as const;

/**
 * Codes a peer may send (section 7.4.1 and the IANA registry): 1000-1003 and
 * 1007-1014 are defined; 1004 is reserved; 1005, 1006 and 1015 are for reporting
 * only and MUST NOT be sent; 1016-2999 are unassigned; 3000-3999 are registered
 * for libraries and 4000-4999 are private use. Everything else is invalid.
 */
export function isValidWireCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

export interface CloseBody {
  /** 1005 (NoStatusReceived) when the body was empty. */
  code: number;
  reason: string;
}

/** Reads a received close frame's body; every way it can be wrong is a typed error. */
export function parseCloseBody(payload: Buffer): CloseBody | ProtocolError {
  if (payload.length === 0) return { code: CloseCode.NoStatusReceived, reason: '' };
  // Section 5.5.1: if there is a body, its first two bytes are the code.
  if (payload.length === 1) return new ProtocolError(CloseCode.ProtocolError, 'close frame body of 1 byte', 'WS_ERR_CLOSE_BODY_LENGTH');
  const code = payload.readUInt16BE(0);
  if (!isValidWireCloseCode(code)) return new ProtocolError(CloseCode.ProtocolError, `invalid close code ${code}`, 'WS_ERR_INVALID_CLOSE_CODE');
  const reasonBytes = payload.subarray(2);
  // Section 5.5.1: the reason is UTF-8; section 8.1: invalid UTF-8 fails the connection with 1007.
  if (!isUtf8(reasonBytes)) return new ProtocolError(CloseCode.InvalidPayload, 'close reason is not valid UTF-8', 'WS_ERR_INVALID_UTF8');
  return { code, reason: reasonBytes.toString('utf8') };
}

/** A close body: the code, then as much of the reason as fits in a 125-byte control frame. */
export function buildCloseBody(code: number, reason = ''): Buffer {
  if (code === CloseCode.NoStatusReceived) return Buffer.alloc(0);
  const reasonBytes = truncateUtf8(Buffer.from(reason, 'utf8'), 123);
  const body = Buffer.allocUnsafe(2 + reasonBytes.length);
  body.writeUInt16BE(code, 0);
  reasonBytes.copy(body, 2);
  return body;
}

/** Cuts at most `max` bytes without splitting a UTF-8 sequence (a cut reason must still be valid UTF-8). */
function truncateUtf8(bytes: Buffer, max: number): Buffer {
  if (bytes.length <= max) return bytes;
  let end = max;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end);
}
