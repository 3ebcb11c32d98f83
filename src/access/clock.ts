// Time as the access layer reads it: injected, so cache lifetimes and throttle windows are testable
// without waiting.

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
