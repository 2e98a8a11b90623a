// The bytes received but not yet parsed, kept as the chunks they arrived in so
// that a frame inside one chunk is handed on as a view of it, never copied.

export class ByteQueue {
  private chunks: Buffer[] = [];
  /** Bytes of chunks[0] already consumed. */
  private offset = 0;
  length = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** The byte at position `index` from the front (index < length). */
  byteAt(index: number): number {
    let i = index + this.offset;
    for (const chunk of this.chunks) {
      if (i < chunk.length) return chunk[i]!;
      i -= chunk.length;
    }
    throw new RangeError('byteAt past the end of the queue');
  }

  /** The first chunk's unread bytes: lets hot paths read a header without a loop. */
  head(): Buffer | undefined {
    const first = this.chunks[0];
    return first === undefined ? undefined : this.offset === 0 ? first : first.subarray(this.offset);
  }

  /**
   * Calls `visit` for each stored run that covers positions [start, end) from the
   * front, in order, so callers can unmask or validate bytes in place.
   */
  forEachRun(start: number, end: number, visit: (chunk: Buffer, from: number, to: number, position: number) => void): void {
    let position = 0;
    for (let c = 0; c < this.chunks.length && position < end; c++) {
      const chunk = this.chunks[c]!;
      const first = c === 0 ? this.offset : 0;
      const size = chunk.length - first;
      const runStart = Math.max(start, position);
      const runEnd = Math.min(end, position + size);
      if (runStart < runEnd) visit(chunk, first + runStart - position, first + runEnd - position, runStart);
      position += size;
    }
  }

  /** Removes and returns the first `n` bytes: a view when they lie in one chunk, else one copy. */
  take(n: number): Buffer {
    if (n > this.length) throw new RangeError('take past the end of the queue');
    this.length -= n;
    const first = this.chunks[0];
    if (n === 0 || first === undefined) return Buffer.alloc(0);
    const available = first.length - this.offset;
    if (n <= available) {
      const out = first.subarray(this.offset, this.offset + n);
      this.advanceHead(n, available);
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let written = 0;
    while (written < n) {
      const chunk = this.chunks[0]!;
      const left = chunk.length - this.offset;
      const count = Math.min(left, n - written);
      chunk.copy(out, written, this.offset, this.offset + count);
      written += count;
      this.advanceHead(count, left);
    }
    return out;
  }

  /** Drops the first `n` bytes. */
  drop(n: number): void {
    this.length -= n;
    while (n > 0) {
      const left = this.chunks[0]!.length - this.offset;
      const count = Math.min(left, n);
      this.advanceHead(count, left);
      n -= count;
    }
  }

  clear(): void {
    this.chunks = [];
    this.offset = 0;
    this.length = 0;
  }

  private advanceHead(count: number, available: number): void {
    if (count === available) {
      this.chunks.shift();
      this.offset = 0;
    } else {
      this.offset += count;
    }
  }
}
