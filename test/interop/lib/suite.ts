// Test scaffolding shared by the interop files: every scenario is registered once per target registry
// (Distribution and Wharf), each run gets a fresh private client environment, and scenarios that produce
// registry-independent output get an extra "[wharf ≡ distribution]" test comparing the two results.
import { test, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { ClientEnv } from './containers.js';
import { RegistryPool, TARGETS, type Registry, type TargetName } from './registries.js';

export interface ScenarioContext {
  reg: Registry;
  env: ClientEnv;
  t: TestContext;
  /** Lazily started registry of the other kind (e.g. for registry-to-registry copies). */
  other(name: TargetName): Promise<Registry>;
}

export interface ScenarioOptions {
  /** Per-target test timeout (ms); default 90 s. */
  timeout?: number;
  /**
   * If true, the scenario must return a value describing registry-independent results (digests, raw
   * manifests, tags...), and an extra test asserts it is identical for Wharf and Distribution.
   */
  compare?: boolean;
}

export class InteropSuite {
  readonly pool = new RegistryPool();
  private readonly results = new Map<string, Map<TargetName, unknown>>();

  constructor() {
    after(async () => { await this.pool.stopAll(); });
  }

  scenario<T>(title: string, fn: (ctx: ScenarioContext) => Promise<T>, opts: ScenarioOptions = {}): void {
    const bucket = new Map<TargetName, unknown>();
    this.results.set(title, bucket);
    for (const target of TARGETS) {
      test(`${title} [${target}]`, { timeout: opts.timeout ?? 90_000 }, async (t) => {
        const reg = await this.pool.get(target);
        await withClientEnv([reg.addr], async (env) => {
          const value = await fn({
            reg, env, t,
            other: async (name) => { const r = await this.pool.get(name); env.addRegistry(r.addr); return r; },
          });
          if (opts.compare) {
            assert.notEqual(value, undefined, 'scenario with compare:true must return a result');
            bucket.set(target, value);
          }
        });
      });
    }
    if (opts.compare) {
      test(`${title} [wharf ≡ distribution]`, () => {
        for (const target of TARGETS) {
          assert.ok(bucket.has(target), `no result from ${target}: its run of "${title}" failed`);
        }
        assert.deepStrictEqual(bucket.get('wharf'), bucket.get('distribution'), `Wharf and Distribution disagree on "${title}"`);
      });
    }
  }

  /** A test that needs both registries at once. */
  both(title: string, fn: (ctx: { regs: Record<TargetName, Registry>; env: ClientEnv; t: TestContext }) => Promise<void>, opts: { timeout?: number } = {}): void {
    test(title, { timeout: opts.timeout ?? 120_000 }, async (t) => {
      const [wharf, distribution] = await Promise.all([this.pool.get('wharf'), this.pool.get('distribution')]);
      await withClientEnv([wharf.addr, distribution.addr], (env) => fn({ regs: { wharf, distribution }, env, t }));
    });
  }
}

/** Runs `fn` with a fresh ClientEnv, cleaning it up afterwards; failures carry the commands that ran. */
export async function withClientEnv<T>(registries: string[], fn: (env: ClientEnv) => Promise<T>): Promise<T> {
  const env = new ClientEnv(registries);
  try {
    return await fn(env);
  } catch (e) {
    if (e instanceof Error && env.log.length) {
      const extra = `\n--- commands run (last 15) ---\n${env.log.slice(-15).join('\n')}`;
      e.message += extra;
      if (e.stack) e.stack += extra;
    }
    throw e;
  } finally {
    env.cleanup();
  }
}
