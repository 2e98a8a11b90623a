// Decides what an HTTP request head is (RFC 6455 section 4.2.1): a WebSocket
// upgrade to a room or to /echo, a plain HTTP request for the router, or a refusal
// with the status and one-line reason CONTRACT.md promises. Pure: no sockets.

import { extractCredential, rawQueryCarriesCredential } from '../access/credentials';
import { isValidWebSocketKey } from './accept-key';
import type { HttpRequestHead } from './http-request-parser';
import { type HttpResponse, textResponse } from './http-response';
import { parseQuery, readJoinParams, type ResumePoint } from './join-params';

export const JSON_SUBPROTOCOL = 'rooms.v1.json';

export interface UpgradePolicy {
  echoEnabled: boolean;
  /** '*' for any origin; [] for "same host as the request"; else the allowed origins, lower case. */
  allowedOrigins: readonly string[] | '*';
}

export type RequestDecision =
  | { kind: 'http'; method: string; path: string; query: string; head: HttpRequestHead }
  | { kind: 'refuse'; response: HttpResponse; why: string }
  | {
      kind: 'upgrade';
      endpoint: 'room' | 'echo';
      room: string;
      name: string;
      key: string;
      /** The subprotocol chosen, or null: then the response carries no Sec-WebSocket-Protocol (section 4.2.2). */
      protocol: typeof JSON_SUBPROTOCOL | null;
      /** The raw Sec-WebSocket-Extensions offer, for the extension negotiation. */
      extensions: string | undefined;
      /** Authorization: Bearer or the rooms.auth. subprotocol (src/access); never logged. Null for /echo. */
      credential: string | null;
      /** ?since=&epoch= (JSON mode only) and ?history=N; null when not asked. */
      resume?: ResumePoint | null;
      history?: number | null;
    };

/** Whether a comma-separated header holds `token` (lower case); the common single-token value is checked without splitting. */
function hasToken(value: string | undefined, token: string): boolean {
  if (value === undefined) return false;
  if (value.length === token.length && value.toLowerCase() === token) return true;
  return headerTokens(value).includes(token);
}

/** A comma-separated header as lower-case tokens (RFC 9110 section 5.6.1). */
export function headerTokens(value: string | undefined): string[] {
  return value === undefined ? [] : value.split(',').map((token) => token.trim().toLowerCase()).filter(Boolean);
}

function refuse(status: number, reason: string, headers: Record<string, string> = {}): RequestDecision {
  return { kind: 'refuse', response: textResponse(status, reason, headers), why: reason };
}

export function decideRequest(head: HttpRequestHead, policy: UpgradePolicy): RequestDecision {
  const { headers } = head;
  const questionMark = head.target.indexOf('?');
  const path = questionMark === -1 ? head.target : head.target.slice(0, questionMark);
  const query = questionMark === -1 ? '' : head.target.slice(questionMark + 1);

  // Anything that mentions an upgrade or a WebSocket key is treated as a WebSocket attempt, so a
  // half-formed handshake gets the reason it failed instead of a web page.
  const attempt = headers.has('upgrade') || headers.has('sec-websocket-key') || headers.has('sec-websocket-version');
  if (!attempt) return { kind: 'http', method: head.method, path, query, head };

  // Section 4.2.1, in the order of its list.
  if (head.method !== 'GET') return refuse(400, 'a WebSocket handshake must be a GET request');
  if (head.version !== '1.1') return refuse(400, 'a WebSocket handshake needs HTTP/1.1');
  if (!headers.has('host')) return refuse(400, 'missing Host header');
  if (!hasToken(headers.get('upgrade'), 'websocket')) return refuse(400, 'Upgrade header must be "websocket"');
  if (!hasToken(headers.get('connection'), 'upgrade')) return refuse(400, 'Connection header must include "Upgrade"');
  const key = headers.get('sec-websocket-key');
  if (key === undefined) return refuse(400, 'missing Sec-WebSocket-Key header');
  if (!isValidWebSocketKey(key)) return refuse(400, 'Sec-WebSocket-Key must be base64 of 16 bytes');
  // Section 4.4: a version we do not speak gets 426 and the versions we do.
  if (headers.get('sec-websocket-version') !== '13') {
    return refuse(426, 'unsupported Sec-WebSocket-Version: only 13 is supported', { 'Sec-WebSocket-Version': '13' });
  }

  const origin = headers.get('origin');
  if (origin !== undefined && !originAllowed(origin, headers.get('host')!, policy.allowedOrigins)) {
    return refuse(403, 'origin not allowed (see ALLOWED_ORIGINS)');
  }

  const extensions = headers.get('sec-websocket-extensions');
  // A credential in the URL ends up in logs, proxies and browser history: refused, never read.
  if (rawQueryCarriesCredential(query)) return refuse(400, 'credentials never go in the URL: send Authorization: Bearer CREDENTIAL or the rooms.auth. subprotocol');

  if (path === '/echo') {
    if (!policy.echoEnabled) return refuse(404, 'the echo endpoint is disabled (ECHO=off)');
    return { kind: 'upgrade', endpoint: 'echo', room: '', name: '', key, protocol: null, extensions, credential: null };
  }
  if (path !== '/') return refuse(404, `no WebSocket endpoint at ${path}; join rooms at /?room=KEY&name=NAME`);

  const parsed = parseQuery(query);
  if (!parsed.ok) return refuse(400, parsed.reason);
  const join = readJoinParams(parsed.params);
  if (!join.ok) return refuse(400, join.reason);
  // Subprotocol names are case-sensitive tokens (section 4.1); compare exactly.
  const rawOffers = (headers.get('sec-websocket-protocol') ?? '').split(',').map((p) => p.trim());
  const protocol = rawOffers.includes(JSON_SUBPROTOCOL) ? JSON_SUBPROTOCOL : null;
  // The rooms.auth. offer is read here and never selected: the answer names rooms.v1.json or nothing.
  const credential = extractCredential(headers.get('authorization'), rawOffers);
  if (!credential.ok) return refuse(400, credential.reason);
  return { kind: 'upgrade', endpoint: 'room', room: join.room, name: join.name, key, protocol, extensions, credential: credential.credential, resume: join.resume, history: join.history };
}

/**
 * Browsers always send Origin on a WebSocket handshake, and they send the page's
 * cookies with it: accepting any origin would let any web site act as the user
 * (cross-site WebSocket hijacking). Clients without Origin (wscat, scripts) are not browsers.
 */
function originAllowed(origin: string, host: string, allowed: readonly string[] | '*'): boolean {
  if (allowed === '*') return true;
  const normalised = origin.trim().toLowerCase().replace(/\/$/, '');
  if (allowed.length > 0) return allowed.includes(normalised);
  if (normalised === 'null') return false;
  try {
    return new URL(normalised).host === host.trim().toLowerCase();
  } catch {
    return false;
  }
}
