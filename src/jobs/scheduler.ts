// A scheduler of named, periodic jobs. Each run first takes the job's lease in the MetaStore, so
// that several processes sharing one database never run the same job at once; a process that
// cannot take it skips that run. A lease is released when the run ends, renewed while it runs,
// and expires on its own when its holder dies.
import { randomUUID } from 'node:crypto';
import type { LeaseStore } from '../store/meta/meta-store.js';

export interface Job {
  name: string;
  /** Time between the end of one run and the start of the next, in milliseconds. */
  intervalMs: number;
  /** How long a lease lasts before it must be renewed (defaults to a minute). */
  leaseMs?: number;
  run(): Promise<void>;
}

export type RunOutcome = 'ran' | 'skipped' | 'failed';

export interface SchedulerOptions {
  leases: LeaseStore;
  /** Who holds the leases this scheduler takes (defaults to a fresh id per scheduler). */
  holder?: string;
  /** Told when a run fails; the scheduler goes on. */
  onError?: (job: string, err: unknown) => void;
  /** Told when a run ends, with its outcome and how long it took (for metrics; it must not throw). */
  onRun?: (job: string, outcome: RunOutcome, durationMs: number) => void;
}

const DEFAULT_LEASE_MS = 60_000;

interface Entry {
  job: Job;
  timer: NodeJS.Timeout | null;
  running: Promise<RunOutcome> | null;
}

export class Scheduler {
  readonly holder: string;
  private readonly entries = new Map<string, Entry>();
  private stopped = false;

  constructor(private readonly opts: SchedulerOptions) {
    this.holder = opts.holder ?? randomUUID();
  }

  register(job: Job): void {
    if (this.entries.has(job.name)) throw new Error(`job ${job.name} is already registered`);
    this.entries.set(job.name, { job, timer: null, running: null });
  }

  /** Runs each job on its interval, the first time one interval from now (`runNow` runs one at once). */
  start(): void {
    for (const e of this.entries.values()) this.schedule(e, Math.max(1, e.job.intervalMs));
  }

  /** One run of the named job, under its lease; 'skipped' when another holder has it (or it is running here). */
  async runNow(name: string): Promise<RunOutcome> {
    const e = this.entries.get(name);
    if (!e) throw new Error(`no job named ${name}`);
    if (this.stopped || e.running) return 'skipped';
    const started = performance.now();
    e.running = this.runLeased(e.job);
    try {
      const outcome = await e.running;
      this.opts.onRun?.(name, outcome, performance.now() - started);
      return outcome;
    } finally {
      e.running = null;
    }
  }

  /** Stops scheduling and waits for the runs in progress to end. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const e of this.entries.values()) {
      if (e.timer) clearTimeout(e.timer);
      e.timer = null;
    }
    await Promise.all([...this.entries.values()].map((e) => e.running?.catch(() => undefined)));
  }

  private schedule(e: Entry, delayMs: number): void {
    if (this.stopped) return;
    e.timer = setTimeout(() => {
      e.timer = null;
      void this.runNow(e.job.name).finally(() => this.schedule(e, Math.max(1, e.job.intervalMs)));
    }, delayMs);
    // A pending run never keeps the process alive.
    e.timer.unref();
  }

  private async runLeased(job: Job): Promise<RunOutcome> {
    const leaseMs = job.leaseMs ?? DEFAULT_LEASE_MS;
    const { leases } = this.opts;
    try {
      if (!(await leases.acquire(job.name, this.holder, leaseMs))) return 'skipped';
    } catch (err) {
      this.opts.onError?.(job.name, err);
      return 'failed';
    }
    // Renewed well before it runs out, for as long as the run lasts.
    const renew = setInterval(() => {
      leases.acquire(job.name, this.holder, leaseMs).catch((err: unknown) => this.opts.onError?.(job.name, err));
    }, Math.max(1, Math.floor(leaseMs / 3)));
    renew.unref();
    try {
      await job.run();
      return 'ran';
    } catch (err) {
      this.opts.onError?.(job.name, err);
      return 'failed';
    } finally {
      clearInterval(renew);
      await leases.release(job.name, this.holder).catch((err: unknown) => this.opts.onError?.(job.name, err));
    }
  }
}
