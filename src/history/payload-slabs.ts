// Where every room's small kept payloads live: process-wide slabs that are only
// ever appended to, one message after another whatever its room. Pure: no I/O,
// no timers. A slab's bytes are never written over, so a view handed out (to a
// write in flight, a replay) stays true; space is won back by moving the few
// live payloads out of a mostly dead slab and letting the slab go.

/** Bytes per slab; the first is small and each next one twice the last up to this, so a log that keeps a few messages (a test, a cluster join's view) holds little. */
const SLAB_BYTES = 64 * 1024;
const FIRST_SLAB_BYTES = 4096;
/**
 * Slabs cleaned at most per new slab. Cleaning moves payloads one by one, so after
 * most rooms went at once (a purge) catching up at one go could take long (a
 * micro-benchmark: 20,000 rooms of 100 messages, three in four removed, one append
 * cleaned 1,000 slabs); a few per slab keeps every append short, and the slabs
 * never hold more than they did before.
 */
const CLEAN_PER_SLAB = 4;

export interface Slab {
  readonly bytes: Buffer;
  /** Over `bytes`: what the history writer copies small payloads out through (history-log-records.ts). */
  readonly view: DataView;
  /** Bytes appended so far. */
  end: number;
  /** Bytes still kept by some room. */
  live: number;
  /** Who put each payload here, and its seq there: what cleaning asks to move. */
  readonly owners: SlabOwner[];
  readonly seqs: number[];
}

/** A room's kept messages, as the slabs see them. */
export interface SlabOwner {
  /** Moves the payload of message `seq` out of `slab` (with put()), freeing it there, if it is still kept there. */
  evacuate(slab: Slab, seq: number): void;
}

/**
 * The many-rooms benchmark kept each room's payloads in an arena of its own; that
 * doubled the p99 and brought 12–22 ms stalls that history off never has, and
 * shared slabs appended in arrival order removed both (README, "Checked in the
 * fourth pass"). Memory: while the slabs hold more than twice what is live plus
 * two slabs, each new slab moves the live payloads of the emptiest few forward, so
 * a quiet room's old message pins no slab for long.
 */
export class PayloadSlabs {
  private current: Slab | null = null;
  private readonly sealed = new Set<Slab>();
  private sealedBytes = 0;
  private liveBytes = 0;
  private cleaning = false;

  constructor(private readonly slabBytes = SLAB_BYTES) {}

  /** Bytes of payload kept, and bytes the slabs hold. */
  get usage(): { live: number; held: number } {
    return { live: this.liveBytes, held: this.sealedBytes + (this.current?.bytes.length ?? 0) };
  }

  /** Whether the slabs hold more than the cleaning aims at (twice what is live, plus two slabs). */
  get overBound(): boolean {
    return this.sealedBytes > 2 * this.liveBytes + 2 * this.slabBytes;
  }

  /** Copies message `seq`'s payload (at most the slab size) to the end of the current slab; it starts at `slab.end - payload.length`. */
  put(payload: Buffer, owner: SlabOwner, seq: number): Slab {
    let slab = this.current;
    if (slab === null || slab.end + payload.length > slab.bytes.length) {
      slab = this.open(payload.length, true);
      // Its opening cleaned, and the payloads moved went into it: if they filled it, one more slab,
      // without cleaning again (else one put could clean slab after slab).
      if (slab.end + payload.length > slab.bytes.length) slab = this.open(payload.length, false);
    }
    // The typed array's own copy: Buffer#copy's argument handling costs more than copying a small payload.
    slab.bytes.set(payload, slab.end);
    slab.end += payload.length;
    slab.live += payload.length;
    this.liveBytes += payload.length;
    slab.owners.push(owner);
    slab.seqs.push(seq);
    return slab;
  }

  /** `bytes` of `slab` are no longer kept; a sealed slab with nothing left goes at once. */
  free(slab: Slab, bytes: number): void {
    slab.live -= bytes;
    this.liveBytes -= bytes;
    if (slab.live === 0 && this.sealed.delete(slab)) this.sealedBytes -= slab.bytes.length;
  }

  /** A new current slab (the full one sealed, then cleaning if asked); returns the current slab after the cleaning. */
  private open(need: number, clean: boolean): Slab {
    const full = this.current;
    const size = Math.max(need, full === null ? Math.min(FIRST_SLAB_BYTES, this.slabBytes) : Math.min(this.slabBytes, 2 * full.bytes.length));
    const bytes = Buffer.allocUnsafeSlow(size);
    const slab: Slab = { bytes, view: new DataView(bytes.buffer, bytes.byteOffset, size), end: 0, live: 0, owners: [], seqs: [] };
    this.current = slab;
    if (full !== null && full.live > 0) {
      this.sealed.add(full);
      this.sealedBytes += full.bytes.length;
    }
    if (clean) this.clean();
    return this.current;
  }

  /** Up to CLEAN_PER_SLAB times, while over the bound: the emptiest sealed slab's payloads move forward, and it goes. */
  private clean(): void {
    // The payloads moved are put again, and may open slabs: those do not clean.
    if (this.cleaning) return;
    this.cleaning = true;
    try {
      for (let i = 0; i < CLEAN_PER_SLAB && this.overBound; i++) {
        let emptiest: Slab | null = null;
        for (const slab of this.sealed) if (emptiest === null || slab.live < emptiest.live) emptiest = slab;
        if (emptiest === null) break;
        // Each payload still kept is put again (into the current slab); the last free() lets the slab go.
        const { owners, seqs } = emptiest;
        for (let k = 0; k < owners.length && emptiest.live > 0; k++) owners[k]!.evacuate(emptiest, seqs[k]!);
        if (emptiest.live > 0) break; // not expected: never loop on a slab that did not empty
      }
    } finally {
      this.cleaning = false;
    }
  }
}
