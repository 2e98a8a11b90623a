// Batches writes per event-loop turn: everything a connection is owed while the
// current reads are handled leaves in one socket write after them, instead of one
// syscall per message. This is what makes a room fan-out cheap.

export interface Flushable {
  flush(): void;
}

export class WriteBatcher {
  private dirty: Flushable[] = [];
  private scheduled = false;

  /** Called by a connection the first time it queues bytes in this turn. */
  mark(target: Flushable): void {
    this.dirty.push(target);
    if (!this.scheduled) {
      this.scheduled = true;
      // setImmediate runs after every I/O callback of this poll phase: all reads of the turn are in.
      setImmediate(this.flushAll);
    }
  }

  private readonly flushAll = (): void => {
    this.scheduled = false;
    const targets = this.dirty;
    this.dirty = [];
    for (const target of targets) target.flush();
  };
}
