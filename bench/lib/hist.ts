// Latency histogram in microseconds: exact below 1024 µs, then 512 buckets per
// power of two (about 0.2 % resolution) up to 2^31 µs. Recording is a clz32 and
// an increment, cheap enough to run on every delivered message.

const LINEAR = 1024;
const SUB_BITS = 9;
const SUB = 1 << SUB_BITS;
const BUCKETS = LINEAR + (31 - 10) * SUB;

export class Histogram {
  readonly counts = new Uint32Array(BUCKETS);
  total = 0;
  max = 0;

  record(us: number): void {
    let v = us < 0 ? 0 : us;
    if (v > 2_000_000_000) v = 2_000_000_000;
    const n = v >>> 0;
    let idx: number;
    if (n < LINEAR) idx = n;
    else {
      const e = 31 - Math.clz32(n);
      idx = LINEAR + (e - 10) * SUB + ((n >>> (e - SUB_BITS)) & (SUB - 1));
    }
    this.counts[idx]++;
    this.total++;
    if (v > this.max) this.max = v;
  }

  /** Value at quantile q (0..1), as the midpoint of its bucket, in µs. */
  quantile(q: number): number {
    if (this.total === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i];
      if (seen >= rank) return bucketMid(i);
    }
    return this.max;
  }

  merge(other: Histogram): void {
    for (let i = 0; i < BUCKETS; i++) this.counts[i] += other.counts[i];
    this.total += other.total;
    if (other.max > this.max) this.max = other.max;
  }

  reset(): void {
    this.counts.fill(0);
    this.total = 0;
    this.max = 0;
  }
}

function bucketMid(i: number): number {
  if (i < LINEAR) return i + 0.5;
  const e = 10 + Math.floor((i - LINEAR) / SUB);
  const sub = (i - LINEAR) % SUB;
  const width = 2 ** (e - SUB_BITS);
  return (SUB + sub) * width + width / 2;
}
