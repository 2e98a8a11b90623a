// Where every room's small kept payloads live: process-wide slabs that are only
// ever appended to, one message after another whatever its room. Pure: no I/O,
// no timers. A slab's bytes are never written over, so a view handed out (to a
// write in flight, a replay) stays true; space is won back by moving the few
// live payloads out of a mostly dead slab and letting the slab go.

/** Bytes per slab; the first is small and each next one twice the last up to this, so a log that keeps a few messages (a test, a cluster join's view) holds little. */
const SLAB_BYTES = 64 * 1024;
const FIRST_SLAB_BYTES = 4096;

export interface Slab {
  readonly bytes: Buffer;
  /** Bytes appended so far. */
  end: number;
  /** Bytes still kept by some room. */
  live: number;
  /** The rooms that put a payload here (each once): who to ask when the slab is cleaned. */
  readonly owners: SlabOwner[];
}

/** A room's kept messages, as the slabs see them. */
export interface SlabOwner {
  /** The slab this owner last put into (put() keeps it, to list each owner once per slab). */
  lastSlab: Slab | null;
  /** Moves this owner's payloads out of `slab` (with put()), freeing them there. */
  evacuate(slab: Slab): void;
}

/**
 * The many-rooms benchmark kept each room's payloads in an arena of its own; that
 * doubled the p99 and brought 15–20 ms stalls that history off never has, and one
 * run of shared slabs, appended in arrival order, removed both (README, "Checked
 * after this run"). Memory: the slabs hold at most about twice what is live, plus
 * two slabs — cleaning (at each new slab) moves the live payloads of the emptiest
 * slab forward until that holds, so a quiet room's old message pins no slab for long.
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

  /** Copies `payload` (at most the slab size) to the end of the current slab; it starts at `slab.end - payload.length`. */
  put(payload: Buffer, owner: SlabOwner): Slab {
    let slab = this.current;
    // A new slab may come back partly filled: its opening cleaned, and the payloads moved went into it.
    while (slab === null || slab.end + payload.length > slab.bytes.length) slab = this.open(payload.length);
    // The typed array's own copy: Buffer#copy's argument handling costs more than copying a small payload.
    slab.bytes.set(payload, slab.end);
    slab.end += payload.length;
    slab.live += payload.length;
    this.liveBytes += payload.length;
    if (owner.lastSlab !== slab) {
      owner.lastSlab = slab;
      slab.owners.push(owner);
    }
    return slab;
  }

  /** `bytes` of `slab` are no longer kept; a sealed slab with nothing left goes at once. */
  free(slab: Slab, bytes: number): void {
    slab.live -= bytes;
    this.liveBytes -= bytes;
    if (slab.live === 0 && this.sealed.delete(slab)) this.sealedBytes -= slab.bytes.length;
  }

  /** A new current slab (the full one sealed, then cleaning); returns the current slab after the cleaning. */
  private open(need: number): Slab {
    const full = this.current;
    const size = Math.max(need, full === null ? Math.min(FIRST_SLAB_BYTES, this.slabBytes) : Math.min(this.slabBytes, 2 * full.bytes.length));
    const slab: Slab = { bytes: Buffer.allocUnsafeSlow(size), end: 0, live: 0, owners: [] };
    this.current = slab;
    if (full !== null && full.live > 0) {
      this.sealed.add(full);
      this.sealedBytes += full.bytes.length;
    }
    this.clean();
    return this.current;
  }

  /** While the sealed slabs hold more than twice what is live (and two slabs), the emptiest one's payloads move forward. */
  private clean(): void {
    if (this.cleaning) return;
    this.cleaning = true;
    try {
      while (this.sealedBytes > 2 * this.liveBytes + 2 * this.slabBytes) {
        let emptiest: Slab | null = null;
        for (const slab of this.sealed) if (emptiest === null || slab.live < emptiest.live) emptiest = slab;
        if (emptiest === null) break;
        // Its owners put their payloads again (into the current slab); the last free() lets it go.
        const owners = emptiest.owners.splice(0);
        for (const owner of owners) owner.evacuate(emptiest);
        if (emptiest.live > 0) break; // not expected: never loop on a slab that did not empty
      }
    } finally {
      this.cleaning = false;
    }
  }
}
