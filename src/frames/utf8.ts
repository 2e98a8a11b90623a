// An incremental UTF-8 validator (RFC 3629 section 4) that fails fast: it says
// "invalid" at the first byte after which no continuation could make the text
// valid, which is what RFC 6455 section 8.1 and the Autobahn "fail fast" cases ask.

/**
 * State between calls is just "how many continuation bytes are still owed" and
 * the range the next one must fall in. The narrow ranges after E0, ED, F0 and F4
 * are what reject overlong forms, UTF-16 surrogates and code points past U+10FFFF
 * at the second byte instead of the last.
 */
export class Utf8Validator {
  private pending = 0;
  private nextMin = 0x80;
  private nextMax = 0xbf;

  /** False once the bytes seen so far can no longer be the start of valid UTF-8. */
  feed(bytes: Uint8Array, start = 0, end = bytes.length): boolean {
    let pending = this.pending;
    let nextMin = this.nextMin;
    let nextMax = this.nextMax;
    for (let i = start; i < end; i++) {
      const byte = bytes[i]!;
      if (pending === 0) {
        if (byte < 0x80) continue;
        if (byte < 0xc2) return false; // a stray continuation byte, or C0/C1 (always overlong)
        if (byte < 0xe0) {
          pending = 1;
        } else if (byte < 0xf0) {
          pending = 2;
          if (byte === 0xe0) nextMin = 0xa0; // below would be overlong
          else if (byte === 0xed) nextMax = 0x9f; // above would be a surrogate
        } else if (byte < 0xf5) {
          pending = 3;
          if (byte === 0xf0) nextMin = 0x90; // below would be overlong
          else if (byte === 0xf4) nextMax = 0x8f; // above would pass U+10FFFF
        } else {
          return false; // F5-FF never appear in UTF-8
        }
      } else {
        if (byte < nextMin || byte > nextMax) return false;
        nextMin = 0x80;
        nextMax = 0xbf;
        pending--;
      }
    }
    this.pending = pending;
    this.nextMin = nextMin;
    this.nextMax = nextMax;
    return true;
  }

  /** True when no multi-byte sequence is left half-finished. */
  get atBoundary(): boolean {
    return this.pending === 0;
  }

  reset(): void {
    this.pending = 0;
    this.nextMin = 0x80;
    this.nextMax = 0xbf;
  }
}
