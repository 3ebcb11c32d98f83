// A clock that moves only when the test says so.
import type { Clock } from '../../src/config/clock.js';

export class FakeClock implements Clock {
  constructor(private t = 1_700_000_000_000) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}
