// A group commit: items added while one batch is being written go together in the next, so a busy
// process writes many in one unit of work. With durable commits, one sync per item would cap the rate at
// the disk's sync rate; and a commit blocks the event loop for its sync, so each batch first lets the
// work already read off the sockets add its items (one turn of the event loop).
export class GroupCommit<T> {
  private queue: T[] = [];
  private draining: Promise<void> | null = null;

  /** `write` gets each batch, in order, and must handle its own failures. */
  constructor(private readonly write: (batch: T[]) => Promise<void>) {}

  add(item: T): void {
    this.queue.push(item);
    this.draining ??= this.drain();
  }

  /** Waits until everything added so far is written. */
  async flush(): Promise<void> {
    while (this.draining) await this.draining;
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      const batch = this.queue;
      this.queue = [];
      await this.write(batch);
    }
    this.draining = null;
  }
}
