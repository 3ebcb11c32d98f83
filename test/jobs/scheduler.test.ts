// The scheduler: a job runs under a lease in the MetaStore, so two schedulers over one database
// never run it at once; a dead holder's lease expires and the job runs again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Scheduler, type Job } from '../../src/jobs/scheduler.js';
import { SqliteMetaStore } from '../../src/store/meta/sqlite-meta-store.js';
import { FakeClock } from '../helpers/fake-clock.js';

function twoStores(clock: FakeClock): { a: SqliteMetaStore; b: SqliteMetaStore; done(): Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), 'wharf-jobs-'));
  const path = join(dir, 'meta.db');
  const a = new SqliteMetaStore({ path, durable: false, clock });
  const b = new SqliteMetaStore({ path, durable: false, clock });
  return { a, b, async done() { await a.close(); await b.close(); rmSync(dir, { recursive: true, force: true }); } };
}

/** A job that records how many runs overlap, and can be held open. */
function probeJob(name: string, intervalMs: number) {
  const state = { active: 0, maxActive: 0, runs: 0, release: null as (() => void) | null };
  const job: Job = {
    name,
    intervalMs,
    async run() {
      state.active++;
      state.maxActive = Math.max(state.maxActive, state.active);
      state.runs++;
      try {
        await new Promise<void>((resolve) => { state.release = resolve; setTimeout(resolve, 5); });
      } finally {
        state.active--;
      }
    },
  };
  return { job, state };
}

test('two schedulers over one database: while one runs a job, the other skips it', async () => {
  const clock = new FakeClock();
  const { a, b, done } = twoStores(clock);
  const sa = new Scheduler({ leases: a.leases, holder: 'A' });
  const sb = new Scheduler({ leases: b.leases, holder: 'B' });
  const entered: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  // A's run is held open by the gate; B's would end at once.
  sa.register({ name: 'gc', intervalMs: 60_000, async run() { entered.push('A'); await gate; } });
  sb.register({ name: 'gc', intervalMs: 60_000, async run() { entered.push('B'); } });
  try {
    const first = sa.runNow('gc');
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(await sb.runNow('gc'), 'skipped', 'B cannot take the lease A holds');
    assert.equal(await sa.runNow('gc'), 'skipped', 'A does not start a second run of its own');
    release();
    assert.equal(await first, 'ran');
    assert.deepEqual(entered, ['A']);
    assert.equal(await b.leases.get('gc'), null, 'released when the run ends');
    assert.equal(await sb.runNow('gc'), 'ran', 'free again: B runs it');
    assert.deepEqual(entered, ['A', 'B']);
  } finally {
    release();
    await sa.stop();
    await sb.stop();
    await done();
  }
});

test('two schedulers on timers never overlap a job, and both get to run it', async () => {
  const clock = new FakeClock();
  const { a, b, done } = twoStores(clock);
  const { job, state } = probeJob('sweep', 1);
  const sa = new Scheduler({ leases: a.leases, holder: 'A' });
  const sb = new Scheduler({ leases: b.leases, holder: 'B' });
  sa.register(job);
  sb.register(job);
  try {
    sa.start();
    sb.start();
    for (let i = 0; i < 100 && state.runs < 20; i++) await new Promise((r) => setTimeout(r, 10));
  } finally {
    await sa.stop();
    await sb.stop();
  }
  try {
    assert.ok(state.runs >= 20, `runs: ${state.runs}`);
    assert.equal(state.maxActive, 1, 'never two runs at once');
    assert.equal(state.active, 0, 'stop() waited for the running job');
  } finally {
    await done();
  }
});

test("a crashed holder's lease expires; until then the job is skipped", async () => {
  const clock = new FakeClock();
  const { a, b, done } = twoStores(clock);
  try {
    // The holder took the lease and died: nobody releases it.
    assert.equal(await a.leases.acquire('retention', 'dead-process', 30_000), true);
    const s = new Scheduler({ leases: b.leases, holder: 'alive' });
    let runs = 0;
    s.register({ name: 'retention', intervalMs: 1000, leaseMs: 30_000, async run() { runs++; } });
    assert.equal(await s.runNow('retention'), 'skipped');
    clock.advance(29_999);
    assert.equal(await s.runNow('retention'), 'skipped');
    clock.advance(1);
    assert.equal(await s.runNow('retention'), 'ran');
    assert.equal(runs, 1);
    await s.stop();
  } finally {
    await done();
  }
});

test('a failing run is reported, releases its lease, and the job runs again later', async () => {
  const clock = new FakeClock();
  const { a, done } = twoStores(clock);
  const errors: string[] = [];
  const s = new Scheduler({ leases: a.leases, onError: (job, err) => errors.push(`${job}: ${(err as Error).message}`) });
  let n = 0;
  s.register({ name: 'flaky', intervalMs: 1000, async run() { if (n++ === 0) throw new Error('boom'); } });
  try {
    assert.equal(await s.runNow('flaky'), 'failed');
    assert.deepEqual(errors, ['flaky: boom']);
    assert.equal(await a.leases.get('flaky'), null);
    assert.equal(await s.runNow('flaky'), 'ran');
  } finally {
    await s.stop();
    await done();
  }
});
