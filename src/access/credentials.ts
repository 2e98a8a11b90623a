// Where a join's credential comes from (CONTRACT.md, "Access control"): an
// `Authorization: Bearer` header, or one offered subprotocol `rooms.auth.BASE64URL`
// for browsers; never the URL. Pure: reads a request head, touches nothing.

/** The offered subprotocol that carries a credential; the server never selects it. */
export const AUTH_SUBPROTOCOL_PREFIX = 'rooms.auth.';

/** Query parameters that look like credentials: refused before anything is logged. */
const CREDENTIAL_PARAMS = ['secret', 'password', 'token'];

/** A query that matches none of these cannot name a credential parameter, even percent-encoded. */
const MAY_NAME_A_CREDENTIAL = /secret|password|token|%/i;

/** A safety net only (the request head is bounded by MAX_HEADER_BYTES): secrets and tokens have their own, lower limits. */
export const MAX_CREDENTIAL_BYTES = 16384;

export type CredentialResult = { ok: true; credential: string | null } | { ok: false; reason: string };

/** True when the query names a parameter that would put a credential in the URL (and so in logs and history). */
export function queryCarriesCredential(params: ReadonlyMap<string, readonly string[]>): boolean {
  for (const name of params.keys()) if (CREDENTIAL_PARAMS.includes(name.toLowerCase())) return true;
  return false;
}

/** Same check on a query string not parsed yet (the /echo endpoint does not parse its query). */
export function rawQueryCarriesCredential(query: string): boolean {
  // Nearly every query names none of them and encodes nothing: answered without splitting it.
  if (!MAY_NAME_A_CREDENTIAL.test(query)) return false;
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    let name = eq === -1 ? pair : pair.slice(0, eq);
    try {
      name = decodeURIComponent(name.replaceAll('+', ' '));
    } catch {
      // A malformed name is refused elsewhere; as a name here it is just not a credential name.
    }
    if (CREDENTIAL_PARAMS.includes(name.toLowerCase())) return true;
  }
  return false;
}

/**
 * The credential of a join, from the Authorization header or the rooms.auth.
 * subprotocol offer. Two different credentials, a scheme other than Bearer, or a
 * subprotocol value that is not base64url of UTF-8 are refused (the reason never
 * quotes the value).
 */
export function extractCredential(authorization: string | undefined, protocolOffers: readonly string[]): CredentialResult {
  let fromHeader: string | null = null;
  if (authorization !== undefined) {
    const match = /^\s*Bearer +(\S+)\s*$/i.exec(authorization);
    if (match === null) return { ok: false, reason: 'Authorization must be "Bearer CREDENTIAL" (one credential, no other scheme)' };
    fromHeader = match[1]!;
  }
  let fromProtocol: string | null = null;
  for (const offer of protocolOffers) {
    if (!offer.startsWith(AUTH_SUBPROTOCOL_PREFIX)) continue;
    if (fromProtocol !== null) return { ok: false, reason: 'offer at most one rooms.auth. subprotocol' };
    const decoded = decodeBase64Url(offer.slice(AUTH_SUBPROTOCOL_PREFIX.length));
    if (decoded === null) return { ok: false, reason: 'the rooms.auth. subprotocol must carry base64url (no padding) of a UTF-8 credential' };
    fromProtocol = decoded;
  }
  if (fromHeader !== null && fromProtocol !== null && fromHeader !== fromProtocol) {
    return { ok: false, reason: 'two different credentials (Authorization header and rooms.auth. subprotocol)' };
  }
  const credential = fromHeader ?? fromProtocol;
  if (credential !== null && Buffer.byteLength(credential) > MAX_CREDENTIAL_BYTES) return { ok: false, reason: `credential longer than ${MAX_CREDENTIAL_BYTES} bytes` };
  return { ok: true, credential };
}

/** A subprotocol value names only base64url characters; decoding must give back valid UTF-8. */
export function decodeBase64Url(value: string): string | null {
  if (value.length === 0 || !/^[A-Za-z0-9_-]+$/.test(value) || value.length % 4 === 1) return null;
  const bytes = Buffer.from(value, 'base64url');
  const text = bytes.toString('utf8');
  // A round trip catches invalid UTF-8 (replaced by U+FFFD) without a second decoder.
  if (!Buffer.from(text, 'utf8').equals(bytes)) return null;
  return text;
}

export function encodeBase64Url(credential: string): string {
  return Buffer.from(credential, 'utf8').toString('base64url');
}

/** Three base64url parts joined by dots: what the contract calls "shaped like a JWT". */
export function looksLikeJwt(credential: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(credential);
}
