// Who the client is behind a reverse proxy, sans-I/O: the direct peer's address and the
// request headers in, the client's address out. Only a peer listed in TRUST_PROXY may name
// the client (X-Forwarded-For, else RFC 7239 Forwarded); anything malformed is ignored.

import { BlockList, isIP } from 'node:net';

/** The proxies whose forwarding headers are believed: addresses and CIDR ranges. */
export class ProxyTrust {
  private readonly list = new BlockList();

  /** `entries` as validated by the settings ("10.0.0.1", "10.0.0.0/8", "::1", "fd00::/8"). */
  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      const [address, bits] = entry.split('/') as [string, string | undefined];
      const plain = normalizeAddress(address);
      const family = isIP(plain) === 6 ? 'ipv6' : 'ipv4';
      if (bits === undefined) this.list.addAddress(plain, family);
      else this.list.addSubnet(plain, Number(bits), family);
    }
  }

  trusts(address: string): boolean {
    const plain = normalizeAddress(address);
    const family = isIP(plain);
    return family !== 0 && this.list.check(plain, family === 6 ? 'ipv6' : 'ipv4');
  }
}

/** An IPv4 address reached over an IPv6 socket ("::ffff:1.2.3.4") is that IPv4 address. */
export function normalizeAddress(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  return mapped ? mapped[1]! : address;
}

/**
 * The client's address: the direct peer's, unless that peer is a trusted proxy and its
 * header names someone else. Walking the hops from the right, trusted proxies are
 * skipped and the first untrusted hop is the client (what is left of it may be forged
 * by the client itself). A header that cannot be read, or hops that are all trusted
 * proxies, leave the answer at the leftmost hop read, or at the peer.
 */
export function clientAddress(peer: string, headers: ReadonlyMap<string, string>, trust: ProxyTrust | null): string {
  const direct = normalizeAddress(peer);
  if (trust === null || !trust.trusts(direct)) return direct;
  const xff = headers.get('x-forwarded-for');
  const forwarded = headers.get('forwarded');
  // X-Forwarded-For first: it is what nginx, Caddy and cloud balancers append to.
  const hops = xff !== undefined ? parseXForwardedFor(xff) : forwarded !== undefined ? parseForwardedFor(forwarded) : null;
  if (hops === null || hops.length === 0) return direct;
  for (let i = hops.length - 1; i >= 0; i--) {
    if (!trust.trusts(hops[i]!)) return hops[i]!;
  }
  return hops[0]!;
}

/** "203.0.113.7, 10.0.0.2" -> addresses, or null when any entry is not an address. */
export function parseXForwardedFor(value: string): string[] | null {
  const hops: string[] = [];
  for (const entry of value.split(',')) {
    const address = hostOf(entry.trim());
    if (address === null) return null;
    hops.push(address);
  }
  return hops;
}

/**
 * RFC 7239 section 4: `for=` of each element, in order, or null when the header does
 * not parse or a `for` is not an address ("unknown" and obfuscated "_names" included:
 * such a hop cannot be counted apart, so the header is not used).
 */
export function parseForwardedFor(value: string): string[] | null {
  const hops: string[] = [];
  let i = 0;
  let sawFor = false;
  const n = value.length;
  const skipSpace = () => {
    while (i < n && (value[i] === ' ' || value[i] === '\t')) i++;
  };
  while (i <= n) {
    skipSpace();
    // One forwarded-pair: token "=" ( token / quoted-string )
    const nameStart = i;
    while (i < n && /[!#$%&'*+.^_`|~0-9A-Za-z-]/.test(value[i]!)) i++;
    const name = value.slice(nameStart, i).toLowerCase();
    if (name === '' || value[i] !== '=') return null;
    i++;
    let pairValue: string;
    if (value[i] === '"') {
      i++;
      let text = '';
      while (i < n && value[i] !== '"') {
        if (value[i] === '\\' && i + 1 < n) i++;
        text += value[i];
        i++;
      }
      if (value[i] !== '"') return null;
      i++;
      pairValue = text;
    } else {
      const start = i;
      while (i < n && /[!#$%&'*+.^_`|~0-9A-Za-z:-]/.test(value[i]!)) i++;
      pairValue = value.slice(start, i);
      if (pairValue === '') return null;
    }
    if (name === 'for') {
      if (sawFor) return null; // one for= per element
      sawFor = true;
      const address = hostOf(pairValue);
      if (address === null) return null;
      hops.push(address);
    }
    skipSpace();
    if (i >= n) break;
    if (value[i] === ';') {
      i++;
    } else if (value[i] === ',') {
      i++;
      sawFor = false;
    } else {
      return null;
    }
  }
  return hops;
}

/** "1.2.3.4", "1.2.3.4:80", "::1", "[::1]", "[::1]:80" -> the address; anything else -> null. */
function hostOf(text: string): string | null {
  let host = text;
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(text);
  if (bracketed) host = bracketed[1]!;
  else if (/^[\d.]+:\d{1,5}$/.test(text)) host = text.slice(0, text.indexOf(':'));
  const family = isIP(host);
  if (family === 0) return null;
  // A bare IPv6 address is only valid unbracketed in X-Forwarded-For, where it has no port.
  return normalizeAddress(host.toLowerCase());
}
