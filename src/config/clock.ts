// Time as an input. The registry, the stores and the jobs take a Clock; only this module reads the
// wall clock, so that tests can drive time and several processes agree on what "now" means.

export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
