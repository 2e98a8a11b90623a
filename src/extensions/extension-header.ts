// Reads a Sec-WebSocket-Extensions header (RFC 6455 section 9.1) into offers:
// extension = token *( ";" param ), param = token [ "=" (token | quoted-string) ].
// A malformed offer is kept as "malformed" so the caller can decline just that one.

export interface ExtensionOffer {
  name: string;
  /** In order; a value of `true` means the parameter had no value. */
  params: Array<[string, string | true]>;
  malformed: boolean;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Splits on `sep` outside quoted strings. */
function splitOutsideQuotes(text: string, sep: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted && ch === '\\' && i + 1 < text.length) {
      current += ch + text[++i];
      continue;
    }
    if (ch === '"') quoted = !quoted;
    if (ch === sep && !quoted) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts;
}

export function parseExtensionOffers(header: string | undefined): ExtensionOffer[] {
  if (header === undefined) return [];
  const offers: ExtensionOffer[] = [];
  for (const rawOffer of splitOutsideQuotes(header, ',')) {
    if (rawOffer.trim() === '') continue;
    const [rawName, ...rawParams] = splitOutsideQuotes(rawOffer, ';').map((part) => part.trim());
    const offer: ExtensionOffer = { name: rawName!.toLowerCase(), params: [], malformed: !TOKEN.test(rawName!) };
    for (const rawParam of rawParams) {
      const eq = rawParam.indexOf('=');
      const name = (eq === -1 ? rawParam : rawParam.slice(0, eq)).trim();
      let value: string | true = true;
      if (eq !== -1) {
        value = rawParam.slice(eq + 1).trim();
        if (value.startsWith('"')) {
          // RFC 6455 section 9.1: a quoted value must still be a token once unquoted.
          value = value.length >= 2 && value.endsWith('"') ? value.slice(1, -1).replace(/\\(.)/g, '$1') : '';
        }
        if (!TOKEN.test(value)) offer.malformed = true;
      }
      if (!TOKEN.test(name)) offer.malformed = true;
      offer.params.push([name.toLowerCase(), value]);
    }
    offers.push(offer);
  }
  return offers;
}
