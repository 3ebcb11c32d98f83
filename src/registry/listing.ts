// Listings: tags, the catalog, and referrers.
import { RegistryError } from '../oci/errors.js';
import { parseDigest } from '../oci/digest.js';
import { assertName } from '../oci/names.js';
import { MediaTypes } from '../oci/media-types.js';
import type { Descriptor } from '../oci/manifest.js';
import type { Page } from '../store/meta/meta-store.js';
import type { RegistryContext } from './context.js';

export interface Listing {
  items: string[];
  /** Set when there may be more: the `last` to ask for the next page. */
  next: string | null;
}

export interface ReferrersIndex {
  schemaVersion: 2;
  mediaType: string;
  manifests: Descriptor[];
}

/** Largest page served; a client asking for more gets this many and a Link to the rest. */
export const MAX_PAGE = 10000;

export class ListingService {
  constructor(private readonly ctx: RegistryContext) {}

  async tags(repository: string, page: Page): Promise<Listing> {
    const repoId = await this.ctx.existingRepo(repository);
    if (!(await this.ctx.meta.repositories.hasHeldManifests(repoId))) throw new RegistryError('NAME_UNKNOWN', `repository ${repository} not known to registry`);
    return paginate(page, (p) => this.ctx.meta.tags.list(repoId, p));
  }

  /** Repositories in lexical order; with `visible`, only those it accepts (what the caller may see). */
  async catalog(page: Page, visible?: (name: string) => Promise<boolean>): Promise<Listing> {
    const fetchPage = (p: Page): Promise<string[]> => this.ctx.meta.repositories.list(p);
    return paginate({ n: page.n ?? 1000, last: page.last }, visible ? filtered(fetchPage, visible) : fetchPage);
  }

  async referrers(repository: string, digest: string, artifactType?: string): Promise<ReferrersIndex> {
    assertName(repository);
    parseDigest(digest);
    const repoId = await this.ctx.meta.repositories.idOf(repository);
    const rows = repoId === null ? [] : await this.ctx.meta.manifests.referrers(repoId, digest, artifactType);
    return {
      schemaVersion: 2,
      mediaType: MediaTypes.ociIndex,
      manifests: rows.map((r) => {
        const d: Descriptor = { mediaType: r.mediaType, digest: r.digest, size: r.size };
        if (r.artifactType) d.artifactType = r.artifactType;
        if (r.annotations) d.annotations = JSON.parse(r.annotations) as Record<string, string>;
        return d;
      }),
    };
  }
}

/**
 * A page source that skips what `keep` refuses, reading further pages of the underlying source until
 * the page is full or the source ends, so that paging stays correct whatever is hidden.
 */
function filtered(fetchPage: (p: Page) => Promise<string[]>, keep: (item: string) => Promise<boolean>): (p: Page) => Promise<string[]> {
  return async (p) => {
    const want = p.n ?? MAX_PAGE;
    const out: string[] = [];
    let last = p.last;
    for (;;) {
      const rows = await fetchPage({ n: want, last });
      for (const r of rows) if (out.length < want && (await keep(r))) out.push(r);
      if (out.length >= want || rows.length < want) return out;
      last = rows[rows.length - 1];
    }
  };
}

async function paginate(page: Page, fetchPage: (p: Page) => Promise<string[]>): Promise<Listing> {
  if (page.n !== undefined && (!Number.isSafeInteger(page.n) || page.n < 0)) throw new RegistryError('PAGINATION_NUMBER_INVALID');
  if (page.n === 0) return { items: [], next: null };
  const n = Math.min(page.n ?? MAX_PAGE, MAX_PAGE);
  // One extra row tells whether another page exists.
  const rows = await fetchPage({ n: n + 1, last: page.last });
  if (rows.length <= n) return { items: rows, next: null };
  const items = rows.slice(0, n);
  return { items, next: items[items.length - 1]! };
}
