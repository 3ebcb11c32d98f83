// A writer's claim on a digest, taken before it writes the bytes and released in the unit of work
// that links them. A collector never starts deleting a claimed digest, and a claim waits while a
// deletion runs, so bytes a writer is about to link are never removed under it (see gc.ts).
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { RegistryError } from '../oci/errors.js';
import type { MetaStore, MetaTx } from '../store/meta/meta-store.js';

/** How long a claim waits for a deletion of the same digest to finish, and how often it looks. */
const WAIT_MS = 60_000;
const POLL_MS = 20;

export class BlobClaim {
  private released = false;

  private constructor(private readonly meta: MetaStore, readonly digest: string, private readonly holder: string) {}

  /** Claims the digest, waiting (bounded) while a collector deletes its bytes. */
  static async take(meta: MetaStore, digest: string): Promise<BlobClaim> {
    const holder = randomUUID();
    for (let waited = 0; waited <= WAIT_MS; waited += POLL_MS) {
      if (await meta.gc.claim(digest, holder)) return new BlobClaim(meta, digest, holder);
      await sleep(POLL_MS);
    }
    throw new RegistryError('TOOMANYREQUESTS', `blob ${digest} is being garbage-collected; retry`, { headers: { 'Retry-After': '1' } });
  }

  /** Runs `fn` as the unit of work that links the bytes, releasing the claim in it. */
  async linkWith<T>(fn: (m: MetaTx) => Promise<T>): Promise<T> {
    const result = await this.meta.tx(async (m) => {
      await m.gc.release(this.digest, this.holder);
      return fn(m);
    });
    this.released = true;
    return result;
  }

  /** Releases the claim if the linking unit of work did not (a failure on the way). */
  async release(): Promise<void> {
    if (!this.released) await this.meta.gc.release(this.digest, this.holder).catch(() => undefined);
    this.released = true;
  }
}
