// The two registries every interop scenario runs against, started lazily (so a Wharf that fails to start
// fails only the Wharf tests) and stopped in an after() hook.
import { existsSync } from 'node:fs';
import { startWharf, wharfBin } from '../../helpers/server.js';
import { startDistribution } from '../../helpers/distribution.js';

export type TargetName = 'wharf' | 'distribution';

/** Every scenario runs against both. Distribution (docker-registry 2.8) is the reference implementation. */
export const TARGETS: readonly TargetName[] = ['distribution', 'wharf'];

export interface Registry {
  name: TargetName;
  /** 127.0.0.1:PORT */
  addr: string;
  /** http://127.0.0.1:PORT */
  url: string;
  stop(): Promise<void>;
}

async function start(name: TargetName): Promise<Registry> {
  if (name === 'distribution') {
    const d = await startDistribution();
    return { name, addr: d.addr, url: d.url, stop: () => d.stop() };
  }
  if (!existsSync(wharfBin)) throw new Error(`Wharf is not built: ${wharfBin} does not exist (run npm run build)`);
  const w = await startWharf({ timeoutMs: 20_000 });
  return {
    name, addr: w.addr, url: w.url,
    async stop() { await w.stop(); w.cleanup(); },
  };
}

/** Lazily started registries for one test file. Call stopAll() from after(). */
export class RegistryPool {
  private readonly started = new Map<TargetName, Promise<Registry>>();

  get(name: TargetName): Promise<Registry> {
    let p = this.started.get(name);
    if (!p) {
      p = start(name);
      this.started.set(name, p);
    }
    return p;
  }

  async stopAll(): Promise<void> {
    const all = [...this.started.values()];
    this.started.clear();
    const results = await Promise.allSettled(all.map(async (p) => {
      let reg: Registry;
      try { reg = await p; } catch { return; } // failed to start: already reported by the tests that needed it
      await reg.stop();
    }));
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  }
}

/** A per-test unique repository name (lowercase, valid per the distribution grammar). */
let repoCounter = 0;
export function uniqueRepo(prefix: string): string {
  repoCounter += 1;
  return `interop/${prefix}-${process.pid}-${repoCounter}`;
}
