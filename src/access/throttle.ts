// Failed sign-in attempts, counted per key (a user name, a client address) in fixed windows. Past the
// limit the key is refused outright until its window ends, so neither bcrypt's cost nor the
// credential cache can be turned into a faster way to guess.
import { systemClock, type Clock } from '../config/clock.js';

export interface FailureThrottleOptions {
  /** Failures allowed in one window; the next attempt is refused. */
  limit: number;
  windowMs: number;
  /** Most keys tracked; the oldest window is forgotten first, so memory stays bounded. */
  maxKeys?: number;
  clock?: Clock;
}

export class FailureThrottle {
  private readonly windows = new Map<string, { startedAt: number; failures: number }>();
  private readonly maxKeys: number;
  private readonly clock: Clock;

  constructor(private readonly opts: FailureThrottleOptions) {
    this.maxKeys = Math.max(1, opts.maxKeys ?? 10_000);
    this.clock = opts.clock ?? systemClock;
  }

  /** Milliseconds until `key` may try again; 0 when it may try now. */
  blockedFor(key: string): number {
    const w = this.current(key);
    if (!w || w.failures < this.opts.limit) return 0;
    return w.startedAt + this.opts.windowMs - this.clock.now();
  }

  /** Counts a failure (or an attempt not yet known to be right). */
  fail(key: string): void {
    let w = this.current(key);
    if (!w) {
      while (this.windows.size >= this.maxKeys) this.windows.delete(this.windows.keys().next().value as string);
      w = { startedAt: this.clock.now(), failures: 0 };
      this.windows.set(key, w);
    }
    w.failures++;
  }

  /** Takes back one counted attempt that turned out right. */
  forgive(key: string): void {
    const w = this.current(key);
    if (w && w.failures > 0) w.failures--;
  }

  get size(): number {
    return this.windows.size;
  }

  private current(key: string): { startedAt: number; failures: number } | undefined {
    const w = this.windows.get(key);
    if (w && this.clock.now() - w.startedAt >= this.opts.windowMs) {
      this.windows.delete(key);
      return undefined;
    }
    return w;
  }
}
