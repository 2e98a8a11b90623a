// permessage-deflate (RFC 7692): negotiation, and the codec as pure functions.
//
// The server always answers with server_no_context_takeover (section 7.1.1.1 lets it):
// each message it sends is compressed on its own, so a relay compresses a message
// once and sends the same bytes to every compressing receiver, and no connection
// keeps a compressor's state. What a connection keeps is only the client's sliding
// window (at most 32 KiB, and only while the client uses context takeover), given to
// zlib as a preset dictionary when the next message is inflated.

import { constants, deflateRawSync, inflateRawSync } from 'node:zlib';
import { parseExtensionOffers } from './extension-header';

export interface DeflateParams {
  /** The client keeps its compression context between messages: we keep its window. */
  clientContextTakeover: boolean;
  /** Largest LZ77 window our messages may use (server_max_window_bits, default 15). */
  serverMaxWindowBits: number;
}

export interface DeflateNegotiation {
  params: DeflateParams;
  /** The Sec-WebSocket-Extensions response value. */
  response: string;
}

const WINDOW_BITS = /^(?:8|9|1[0-5])$/;

/**
 * Picks the first acceptable permessage-deflate offer, or null. Section 7: an offer
 * with an unknown parameter, a repeated parameter or an invalid value is declined,
 * and the next offer is considered; declining all of them just means no compression.
 */
export function negotiateDeflate(header: string | undefined): DeflateNegotiation | null {
  for (const offer of parseExtensionOffers(header)) {
    if (offer.name !== 'permessage-deflate' || offer.malformed) continue;
    const seen = new Set<string>();
    let acceptable = true;
    let clientNoContextTakeover = false;
    let serverMaxWindowBits: number | null = null;
    for (const [name, value] of offer.params) {
      if (seen.has(name)) acceptable = false;
      seen.add(name);
      switch (name) {
        case 'server_no_context_takeover':
          if (value !== true) acceptable = false;
          break;
        case 'client_no_context_takeover':
          if (value !== true) acceptable = false;
          clientNoContextTakeover = true;
          break;
        case 'server_max_window_bits':
          if (value === true || !WINDOW_BITS.test(value)) acceptable = false;
          else serverMaxWindowBits = Number(value);
          break;
        case 'client_max_window_bits':
          // With or without a value: the client can limit its window if asked; we do not ask.
          if (value !== true && !WINDOW_BITS.test(value)) acceptable = false;
          break;
        default:
          acceptable = false; // section 7: a parameter not defined for offers
      }
    }
    if (!acceptable) continue;
    const response = ['permessage-deflate', 'server_no_context_takeover'];
    if (clientNoContextTakeover) response.push('client_no_context_takeover');
    if (serverMaxWindowBits !== null) response.push(`server_max_window_bits=${serverMaxWindowBits}`);
    return {
      params: { clientContextTakeover: !clientNoContextTakeover, serverMaxWindowBits: serverMaxWindowBits ?? 15 },
      response: response.join('; '),
    };
  }
  return null;
}

/** Section 7.2.1: the 4 octets every sync-flushed message ends with, removed on the wire. */
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const MAX_WINDOW = 1 << 15;

/** Messages smaller than this are sent uncompressed: deflate's framing would eat the gain. */
export const COMPRESS_THRESHOLD = 1024;

/**
 * The longest compressed payload a message of `maxMessageBytes` can take on the wire,
 * with any deflate encoder's settings: MAX_MESSAGE_BYTES limits the message a member
 * sends, i.e. the inflated size, so this is the wire limit of a compressed message.
 * Incompressible data grows under deflate: by 5 bytes per stored block (zlib makes
 * them as small as 128 bytes with a low memLevel), or by 1 bit in 8 for bytes coded
 * with the fixed Huffman table (RFC 1951 section 3.2.6, 9-bit literals), plus block
 * headers. N + N/8 + N/64 + 16 covers both (zlib's own conservative deflateBound is of
 * this form). A frame whose declared length passes it closes with 1009 from its header.
 * Each frame may also end in a sync flush (an empty stored block, up to 6 bytes with
 * alignment): the frame parser allows that much per fragment on top.
 */
export function maxCompressedBytes(maxMessageBytes: number): number {
  return maxMessageBytes + Math.ceil(maxMessageBytes / 8) + Math.ceil(maxMessageBytes / 64) + 16;
}

/** Per-fragment allowance for the sync flush each compressed fragment may end with. */
export const FLUSH_BYTES_PER_FRAGMENT = 6;

export type InflateResult = { ok: true; payload: Buffer } | { ok: false; closeCode: 1007 | 1009; reason: string };

/** The per-connection inflate state: the client's sliding window, when it keeps context. */
export class InflateWindow {
  private window: Buffer | null = null;

  constructor(private readonly contextTakeover: boolean) {}

  /** Bytes kept between messages (for the memory figure in the README and the tests). */
  get heldBytes(): number {
    return this.window?.length ?? 0;
  }

  /**
   * Section 7.2.2: append the tail and inflate. Output is capped at `maxBytes` + 1 while
   * inflating, so a small frame that would expand to gigabytes (a zip bomb) stops
   * at the cap instead of growing memory; `maxBytes` is the message limit, and a
   * message of exactly that many bytes passes whatever its compressibility.
   */
  inflate(compressed: Buffer, maxBytes: number): InflateResult {
    let payload: Buffer;
    try {
      payload = inflateRawSync(Buffer.concat([compressed, TAIL]), {
        finishFlush: constants.Z_SYNC_FLUSH,
        maxOutputLength: maxBytes + 1,
        ...(this.window !== null ? { dictionary: this.window } : {}),
      });
    } catch (error) {
      if (error instanceof RangeError || (error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        return { ok: false, closeCode: 1009, reason: `message over ${maxBytes} bytes` };
      }
      return { ok: false, closeCode: 1007, reason: 'invalid deflate data' };
    }
    if (payload.length > maxBytes) return { ok: false, closeCode: 1009, reason: `message over ${maxBytes} bytes` };
    if (this.contextTakeover) this.slide(payload);
    return { ok: true, payload };
  }

  private slide(plain: Buffer): void {
    if (plain.length >= MAX_WINDOW) {
      this.window = Buffer.from(plain.subarray(plain.length - MAX_WINDOW));
    } else if (plain.length > 0) {
      const joined = this.window === null ? plain : Buffer.concat([this.window, plain]);
      this.window = Buffer.from(joined.subarray(Math.max(0, joined.length - MAX_WINDOW)));
    }
  }
}

/**
 * Compresses one message on its own (no context takeover) with at most
 * `windowBits` of window. zlib cannot make raw streams with an 8-bit window (it
 * silently uses 9), so for a peer that asked for 8 we send uncompressed: the RFC
 * lets any message go uncompressed.
 */
export function deflateMessage(payload: Uint8Array, windowBits: number): Buffer | null {
  if (windowBits < 9) return null;
  // No match can reach back further than the message is long, so a window sized to the
  // message compresses just as well, and zlib sets it up (and its hash table) for less.
  const bits = Math.min(windowBits, Math.max(9, Math.ceil(Math.log2(payload.length))));
  const out = deflateRawSync(payload, { finishFlush: constants.Z_SYNC_FLUSH, windowBits: bits, memLevel: Math.min(8, bits - 6) });
  // Section 7.2.1: drop the 00 00 ff ff the sync flush ends with.
  const body = out.subarray(0, out.length - 4);
  // Incompressible data (photos, encrypted or random bytes) grows under deflate: send it
  // as it is, so a message of MAX_MESSAGE_BYTES never reaches a receiver as a longer frame
  // (python-websockets, for one, limits the frame on the wire to its max_size).
  return body.length < payload.length ? body : null;
}

/** What compression did, for /metrics and the tracer. */
export class CompressionStats {
  /** Compressed payload bytes received, and what they inflated to. */
  inflatedFrom = 0;
  inflatedTo = 0;
  /** Message bytes we compressed, and what they became on the wire (each compression counted once). */
  deflatedFrom = 0;
  deflatedTo = 0;
}
