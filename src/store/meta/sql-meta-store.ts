// The MetaStore in portable SQL over a SqlDatabase: one implementation for SQLite and PostgreSQL.
// Each statement is written once (dialect.ts holds what differs). A read-then-write runs atomically
// under the locks of what it decides about, so that processes sharing a PostgreSQL database decide
// as SQLite's single writer made one process decide:
//   repository:<id>  what garbage collection's plan reads (tags, manifests, links) and who changes it;
//   blob:<digest>    a digest's link, claim and deletion mark (the protocol in registry/gc.ts);
//   quota:<ns>       a namespace's usage, while a push under a quota decides (registry/quotas.ts).
// Locks are always taken quota first, then repository, then blob.
import type { Clock } from '../../config/clock.js';
import type { AuditStore, GrantStore, OrgStore, SigningKeyStore, TokenStore, UserStore, VisibilityStore } from './account-store.js';
import { NO_LIMIT, upsert } from './dialect.js';
import { SqlImmutableTags } from './sql-policy-stores.js';
import { SqlQuotas } from './sql-quota-store.js';
import { SqlRetention } from './sql-retention-store.js';
import { SqlWebhooks } from './sql-webhook-store.js';
import { SqlAudit, SqlGrants, SqlOrgs, SqlSigningKeys, SqlTokens, SqlUsers, SqlVisibility } from './sql-account-stores.js';
import { chunks, inList, type Row, type SqlDatabase, type SqlExecutor } from './sql-database.js';
import {
  blobLock, repositoryLock,
  type BlobLink, type BlobLinkStore, type GcRunRecord, type GcStore, type HistoryPage, type ImmutableTagStore, type Lease, type LeaseStore,
  type ManifestRecord, type ManifestRef, type ManifestStore, type MetaStore, type MetaTx, type Page, type QuotaStore, type RepositoryGraph, type RepositoryStore,
  type RetentionStore,
  type StoredManifest, type TagHistoryEntry, type TagStore,
  type UploadPosition, type UploadRecord, type UploadStore, type WebhookStore,
} from './meta-store.js';

// Quoted aliases keep their case in PostgreSQL too.
const MANIFEST_COLUMNS = `m.digest, m.media_type AS "mediaType", m.size, m.artifact_type AS "artifactType", m.subject,
  m.annotations, m.created_at AS "createdAt"`;
const UPLOAD_COLUMNS = `id, repo_id AS "repoId", byte_offset AS "offset", driver_state AS "driverState", algorithm,
  created_at AS "createdAt", updated_at AS "updatedAt"`;

const Q = {
  repoId: 'SELECT id FROM repositories WHERE name = ?',
  insertRepo: 'INSERT INTO repositories (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING',
  // Repositories appear once they have held a manifest (an abandoned upload does not make one). One
  // EXISTS over a UNION ALL, not two joined by OR: PostgreSQL turns an OR of EXISTS into hashed subplans
  // that read every manifest of the registry for each page (25 ms at 100,000); this walks the name index
  // and probes each repository's manifests by index, stopping at the page's end (0.3 ms).
  listRepos: `SELECT r.name FROM repositories r WHERE r.name > ?
                AND EXISTS (SELECT 1 FROM manifests m WHERE m.repo_id = r.id UNION ALL SELECT 1 FROM tag_history h WHERE h.repo_id = r.id)
              ORDER BY r.name LIMIT ?`,
  hasHeldManifests: 'SELECT 1 AS held WHERE EXISTS (SELECT 1 FROM manifests WHERE repo_id = ?) OR EXISTS (SELECT 1 FROM tag_history WHERE repo_id = ?)',

  insertBlob: 'INSERT INTO blobs (digest, size) VALUES (?, ?) ON CONFLICT (digest) DO NOTHING',
  linkBlob: 'INSERT INTO repo_blobs (repo_id, digest, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
  linkedBlob: `SELECT b.size, l.created_at AS "linkedAt" FROM repo_blobs l JOIN blobs b ON b.digest = l.digest
               WHERE l.repo_id = ? AND l.digest = ?`,
  linkedAmong: (marks: string) => `SELECT digest FROM repo_blobs WHERE repo_id = ? AND digest IN (${marks})`,
  blobHolders: 'SELECT r.name FROM repo_blobs l JOIN repositories r ON r.id = l.repo_id WHERE l.digest = ? ORDER BY r.name LIMIT ?',
  knownBlob: 'SELECT b.size FROM blobs b WHERE b.digest = ? AND EXISTS (SELECT 1 FROM repo_blobs l WHERE l.digest = b.digest)',
  unlinkBlob: 'DELETE FROM repo_blobs WHERE repo_id = ? AND digest = ?',
  touchBlob: 'UPDATE repo_blobs SET created_at = ? WHERE repo_id = ? AND digest = ?',

  manifestsAmong: (marks: string) => `SELECT digest FROM manifests WHERE repo_id = ? AND digest IN (${marks})`,
  insertManifest: `INSERT INTO manifests (repo_id, digest, media_type, size, artifact_type, subject, annotations, created_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
  insertRef: 'INSERT INTO manifest_refs (repo_id, digest, ref, kind) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
  manifest: `SELECT ${MANIFEST_COLUMNS} FROM manifests m WHERE m.repo_id = ? AND m.digest = ?`,
  deleteManifest: 'DELETE FROM manifests WHERE repo_id = ? AND digest = ?',
  deleteRefs: 'DELETE FROM manifest_refs WHERE repo_id = ? AND digest = ?',
  referrers: `SELECT ${MANIFEST_COLUMNS} FROM manifests m WHERE m.repo_id = ? AND m.subject = ? ORDER BY m.created_at, m.digest`,

  manifestByTag: `SELECT ${MANIFEST_COLUMNS} FROM tags t JOIN manifests m ON m.repo_id = t.repo_id AND m.digest = t.digest
                  WHERE t.repo_id = ? AND t.name = ?`,
  // A row comes back only when the tag was made or moved: pointing it at its own digest again changes nothing.
  moveTag: `${upsert('tags', ['repo_id', 'name', 'digest', 'updated_at'], ['repo_id', 'name'], ['digest', 'updated_at'], 'tags.digest <> excluded.digest')}
            RETURNING name`,
  // Numbered within the repository; every writer of a repository's history holds its lock.
  history: 'INSERT INTO tag_history (repo_id, name, digest, at, seq) SELECT ?, ?, ?, ?, COALESCE(MAX(seq), 0) + 1 FROM tag_history WHERE repo_id = ?',
  tagHistory: (oneTag: boolean) => `SELECT h.name AS tag, h.digest, h.at, h.seq,
      (SELECT MIN(n.at) FROM tag_history n WHERE n.repo_id = h.repo_id AND n.name = h.name AND n.seq > h.seq) AS "until",
      CASE WHEN EXISTS (SELECT 1 FROM manifests m WHERE m.repo_id = h.repo_id AND m.digest = h.digest) THEN 1 ELSE 0 END AS "manifestKept"
    FROM tag_history h WHERE h.repo_id = ?${oneTag ? ' AND h.name = ?' : ''} AND h.seq < ? ORDER BY h.seq DESC, h.name DESC LIMIT ?`,
  // A digest some tag pointed at since `since`: an entry made since, or one the tag did not leave before it.
  recentlyTagged: `SELECT DISTINCT h.digest FROM tag_history h WHERE h.repo_id = ? AND h.digest IS NOT NULL
    AND (h.at >= ? OR NOT EXISTS (SELECT 1 FROM tag_history n WHERE n.repo_id = h.repo_id AND n.name = h.name AND n.seq > h.seq AND n.at < ?))`,
  deleteTagsOf: 'DELETE FROM tags WHERE repo_id = ? AND digest = ? RETURNING name',
  deleteTag: 'DELETE FROM tags WHERE repo_id = ? AND name = ? RETURNING name',
  tagsOn: 'SELECT name FROM tags WHERE repo_id = ? AND digest = ? ORDER BY name',
  listTags: 'SELECT name FROM tags WHERE repo_id = ? AND name > ? ORDER BY name LIMIT ?',

  insertUpload: `INSERT INTO uploads (id, repo_id, algorithm, byte_offset, driver_state, created_at, updated_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?)`,
  upload: `SELECT ${UPLOAD_COLUMNS} FROM uploads WHERE id = ?`,
  advanceUpload: 'UPDATE uploads SET byte_offset = ?, driver_state = ?, updated_at = ? WHERE id = ? AND byte_offset = ?',
  deleteUpload: 'DELETE FROM uploads WHERE id = ?',
  deleteIdleUpload: 'DELETE FROM uploads WHERE id = ? AND updated_at < ?',
  idleUploads: `SELECT ${UPLOAD_COLUMNS} FROM uploads WHERE updated_at < ? ORDER BY updated_at LIMIT ?`,
  uploadsAmong: (marks: string) => `SELECT id FROM uploads WHERE id IN (${marks})`,

  // Taken when free, expired, or already ours (a renewal); a live lease of another holder stays.
  acquireLease: upsert('leases', ['name', 'holder', 'expires_at'], ['name'], ['holder', 'expires_at'],
    'leases.expires_at <= ? OR leases.holder = excluded.holder'),
  releaseLease: 'DELETE FROM leases WHERE name = ? AND holder = ?',
  lease: 'SELECT holder, expires_at AS "expiresAt" FROM leases WHERE name = ?',

  allRepos: 'SELECT id, name FROM repositories ORDER BY name',
  tagTargets: 'SELECT DISTINCT digest FROM tags WHERE repo_id = ?',
  manifestsOf: 'SELECT digest, size, created_at AS "createdAt", subject FROM manifests WHERE repo_id = ?',
  refsOf: 'SELECT digest AS "from", ref AS "to", kind FROM manifest_refs WHERE repo_id = ?',
  linksOf: 'SELECT digest, created_at AS "linkedAt" FROM repo_blobs WHERE repo_id = ?',
  linkHolders: (marks: string) => `SELECT DISTINCT digest, repo_id AS "repoId" FROM repo_blobs WHERE digest IN (${marks}) ORDER BY digest, repo_id`,
  blobsAmong: (marks: string) => `SELECT digest FROM blobs WHERE digest IN (${marks})`,
  blobRows: 'SELECT digest, size FROM blobs WHERE digest > ? ORDER BY digest LIMIT ?',
  anyLink: 'SELECT 1 AS found FROM repo_blobs WHERE digest = ? LIMIT 1',
  forgetBlob: 'DELETE FROM blobs WHERE digest = ? AND NOT EXISTS (SELECT 1 FROM repo_blobs l WHERE l.digest = blobs.digest)',
  freshClaim: 'SELECT 1 AS found FROM blob_claims WHERE digest = ? AND claimed_at >= ? LIMIT 1',
  mark: 'INSERT INTO blob_deletions (digest, marked_at) VALUES (?, ?) ON CONFLICT (digest) DO NOTHING',
  unmark: 'DELETE FROM blob_deletions WHERE digest = ?',
  marked: 'SELECT 1 AS found FROM blob_deletions WHERE digest = ?',
  allMarked: 'SELECT digest FROM blob_deletions ORDER BY digest',
  claim: upsert('blob_claims', ['digest', 'holder', 'claimed_at'], ['digest', 'holder'], ['claimed_at']),
  release: 'DELETE FROM blob_claims WHERE digest = ? AND holder = ?',
  dropClaims: 'DELETE FROM blob_claims WHERE claimed_at < ?',
  recordRun: 'INSERT INTO gc_runs (started_at, finished_at, dry_run, report) VALUES (?, ?, ?, ?)',
  lastRun: 'SELECT started_at AS "startedAt", finished_at AS "finishedAt", dry_run AS "dryRun", report FROM gc_runs ORDER BY id DESC LIMIT 1',
};

/** What the aggregates work with: an executor (the database, or an open unit of work) and the clock. */
export interface SqlDeps {
  x: SqlExecutor;
  clock: Clock;
  /** Ids of repositories by name, outside units of work only (one that rolls back must not leave an id here). */
  repoIds?: RepositoryIds;
}

/**
 * Repository ids by name. A repository's row is never deleted, so its id never changes: the cache is
 * never stale, and it saves the database a round trip on every request (the most of any on PostgreSQL).
 */
class RepositoryIds {
  private readonly ids = new Map<string, number>();

  constructor(private readonly max: number) {}

  get(name: string): number | undefined {
    return this.ids.get(name);
  }

  set(name: string, id: number): void {
    if (this.ids.size >= this.max) this.ids.delete(this.ids.keys().next().value as string);
    this.ids.set(name, id);
  }
}

/** The members of `values` a query over an `IN (…)` list finds, in pieces of bounded length. */
async function among(x: SqlExecutor, values: readonly string[], query: (marks: string) => string, column: string, ...before: unknown[]): Promise<Set<string>> {
  const found = new Set<string>();
  for (const piece of chunks([...new Set(values)])) {
    const { marks, params } = inList(piece);
    for (const r of await x.all<Row>(query(marks), ...before, ...params)) found.add(r[column] as string);
  }
  return found;
}

/** Repository ids kept per process (a few hundred kilobytes). */
const REPOSITORY_IDS_KEPT = 10_000;

class SqlRepositories implements RepositoryStore {
  constructor(private readonly d: SqlDeps) {}

  async idOf(name: string): Promise<number | null> {
    const known = this.d.repoIds?.get(name);
    if (known !== undefined) return known;
    const id = (await this.d.x.get<{ id: number }>(Q.repoId, name))?.id ?? null;
    if (id !== null) this.d.repoIds?.set(name, id);
    return id;
  }

  async ensure(name: string): Promise<number> {
    const found = await this.idOf(name);
    if (found !== null) return found;
    await this.d.x.run(Q.insertRepo, name, this.d.clock.now());
    return (await this.idOf(name))!;
  }

  async list(page: Page): Promise<string[]> {
    return (await this.d.x.all<{ name: string }>(Q.listRepos, page.last ?? '', page.n ?? NO_LIMIT)).map((r) => r.name);
  }

  async hasHeldManifests(repoId: number): Promise<boolean> {
    return (await this.d.x.get(Q.hasHeldManifests, repoId, repoId)) !== undefined;
  }
}

class SqlBlobLinks implements BlobLinkStore {
  constructor(private readonly d: SqlDeps) {}

  link(repoId: number, digest: string, size: number): Promise<boolean> {
    return this.d.x.atomic(async (x) => {
      // Bytes a collector is deleting are as good as gone (see registry/gc.ts).
      if ((await x.get(Q.marked, digest)) !== undefined) return false;
      await x.run(Q.insertBlob, digest, size);
      await x.run(Q.linkBlob, repoId, digest, this.d.clock.now());
      return true;
    }, [repositoryLock(repoId), blobLock(digest)]);
  }

  async get(repoId: number, digest: string): Promise<BlobLink | null> {
    return (await this.d.x.get<BlobLink>(Q.linkedBlob, repoId, digest)) ?? null;
  }

  async sizeAnywhere(digest: string): Promise<number | null> {
    return (await this.d.x.get<{ size: number }>(Q.knownBlob, digest))?.size ?? null;
  }

  async holders(digest: string, limit: number): Promise<string[]> {
    return (await this.d.x.all<{ name: string }>(Q.blobHolders, digest, limit)).map((r) => r.name);
  }

  async unlink(repoId: number, digest: string): Promise<boolean> {
    return (await this.d.x.run(Q.unlinkBlob, repoId, digest)) > 0;
  }

  existing(repoId: number, digests: string[]): Promise<Set<string>> {
    return among(this.d.x, digests, Q.linkedAmong, 'digest', repoId);
  }

  async touch(repoId: number, digest: string): Promise<boolean> {
    // Under the repository's lock: a collection deciding about this link sees the touch or removes the link first.
    return this.d.x.locked([repositoryLock(repoId)], async (x) => (await x.run(Q.touchBlob, this.d.clock.now(), repoId, digest)) > 0);
  }
}

class SqlManifests implements ManifestStore {
  constructor(private readonly d: SqlDeps) {}

  put(repoId: number, m: ManifestRecord, refs: ManifestRef[]): Promise<void> {
    return this.d.x.atomic(async (x) => {
      await x.run(Q.insertManifest, repoId, m.digest, m.mediaType, m.size, m.artifactType, m.subject, m.annotations, this.d.clock.now());
      for (const r of refs) await x.run(Q.insertRef, repoId, m.digest, r.digest, r.kind);
    }, [repositoryLock(repoId)]);
  }

  async get(repoId: number, digest: string): Promise<StoredManifest | null> {
    return (await this.d.x.get<StoredManifest>(Q.manifest, repoId, digest)) ?? null;
  }

  existing(repoId: number, digests: string[]): Promise<Set<string>> {
    return among(this.d.x, digests, Q.manifestsAmong, 'digest', repoId);
  }

  delete(repoId: number, digest: string): Promise<boolean> {
    return this.d.x.atomic(async (x) => {
      await x.run(Q.deleteRefs, repoId, digest);
      return (await x.run(Q.deleteManifest, repoId, digest)) > 0;
    }, [repositoryLock(repoId)]);
  }

  async referrers(repoId: number, subject: string, artifactType?: string): Promise<StoredManifest[]> {
    const rows = await this.d.x.all<StoredManifest>(Q.referrers, repoId, subject);
    return artifactType === undefined ? rows : rows.filter((r) => r.artifactType === artifactType);
  }
}

class SqlTags implements TagStore {
  constructor(private readonly d: SqlDeps) {}

  async resolve(repoId: number, tag: string): Promise<StoredManifest | null> {
    return (await this.d.x.get<StoredManifest>(Q.manifestByTag, repoId, tag)) ?? null;
  }

  async move(repoId: number, tag: string, digest: string): Promise<void> {
    await this.d.x.atomic(async (x) => {
      const now = this.d.clock.now();
      if ((await x.all(Q.moveTag, repoId, tag, digest, now)).length > 0) await x.run(Q.history, repoId, tag, digest, now, repoId);
    }, [repositoryLock(repoId)]);
  }

  delete(repoId: number, tag: string): Promise<boolean> {
    return this.d.x.atomic(async (x) => {
      const removed = (await x.all(Q.deleteTag, repoId, tag)).length > 0;
      if (removed) await x.run(Q.history, repoId, tag, null, this.d.clock.now(), repoId);
      return removed;
    }, [repositoryLock(repoId)]);
  }

  async pointingAt(repoId: number, digest: string): Promise<string[]> {
    return (await this.d.x.all<{ name: string }>(Q.tagsOn, repoId, digest)).map((r) => r.name);
  }

  async deleteAllOn(repoId: number, digest: string): Promise<void> {
    await this.d.x.atomic(async (x) => {
      const now = this.d.clock.now();
      for (const t of await x.all<{ name: string }>(Q.deleteTagsOf, repoId, digest)) await x.run(Q.history, repoId, t.name, null, now, repoId);
    }, [repositoryLock(repoId)]);
  }

  async list(repoId: number, page: Page): Promise<string[]> {
    return (await this.d.x.all<{ name: string }>(Q.listTags, repoId, page.last ?? '', page.n ?? NO_LIMIT)).map((r) => r.name);
  }

  async history(repoId: number, tag: string | null, page: HistoryPage): Promise<TagHistoryEntry[]> {
    const before = page.before ?? Number.MAX_SAFE_INTEGER;
    const rows = tag === null
      ? await this.d.x.all<Row>(Q.tagHistory(false), repoId, before, page.n ?? NO_LIMIT)
      : await this.d.x.all<Row>(Q.tagHistory(true), repoId, tag, before, page.n ?? NO_LIMIT);
    return rows.map((r) => ({
      tag: r.tag as string, digest: (r.digest as string | null) ?? null, at: Number(r.at), seq: Number(r.seq),
      until: r.until === null || r.until === undefined ? null : Number(r.until), manifestKept: Number(r.manifestKept) === 1,
    }));
  }

  async recentlyTagged(repoId: number, since: number): Promise<string[]> {
    return (await this.d.x.all<{ digest: string }>(Q.recentlyTagged, repoId, since, since)).map((r) => r.digest);
  }
}

class SqlUploads implements UploadStore {
  constructor(private readonly d: SqlDeps) {}

  async create(id: string, repoId: number, algorithm: string, at: UploadPosition): Promise<void> {
    const now = this.d.clock.now();
    await this.d.x.run(Q.insertUpload, id, repoId, algorithm, at.offset, at.driverState, now, now);
  }

  async get(id: string): Promise<UploadRecord | null> {
    return (await this.d.x.get<UploadRecord>(Q.upload, id)) ?? null;
  }

  async advance(id: string, fromOffset: number, to: UploadPosition): Promise<boolean> {
    return (await this.d.x.run(Q.advanceUpload, to.offset, to.driverState, this.d.clock.now(), id, fromOffset)) > 0;
  }

  async delete(id: string): Promise<boolean> {
    return (await this.d.x.run(Q.deleteUpload, id)) > 0;
  }

  async deleteIfIdle(id: string, idleBefore: number): Promise<boolean> {
    return (await this.d.x.run(Q.deleteIdleUpload, id, idleBefore)) > 0;
  }

  idleSince(idleBefore: number, limit: number): Promise<UploadRecord[]> {
    return this.d.x.all<UploadRecord>(Q.idleUploads, idleBefore, limit);
  }

  existing(ids: string[]): Promise<Set<string>> {
    return among(this.d.x, ids, Q.uploadsAmong, 'id');
  }
}

class SqlLeases implements LeaseStore {
  constructor(private readonly d: SqlDeps) {}

  async acquire(name: string, holder: string, ttlMs: number): Promise<boolean> {
    const now = this.d.clock.now();
    return (await this.d.x.run(Q.acquireLease, name, holder, now + ttlMs, now)) > 0;
  }

  async release(name: string, holder: string): Promise<void> {
    await this.d.x.run(Q.releaseLease, name, holder);
  }

  async get(name: string): Promise<Lease | null> {
    return (await this.d.x.get<Lease>(Q.lease, name)) ?? null;
  }
}

class SqlGc implements GcStore {
  constructor(private readonly d: SqlDeps) {}

  repositories(): Promise<{ id: number; name: string }[]> {
    return this.d.x.all(Q.allRepos);
  }

  async graph(repoId: number): Promise<RepositoryGraph> {
    const x = this.d.x;
    return {
      tagged: (await x.all<{ digest: string }>(Q.tagTargets, repoId)).map((r) => r.digest),
      manifests: await x.all(Q.manifestsOf, repoId),
      refs: await x.all(Q.refsOf, repoId),
      links: await x.all(Q.linksOf, repoId),
    };
  }

  async linkHolders(digests: string[]): Promise<Map<string, number[]>> {
    const out = new Map<string, number[]>();
    for (const piece of chunks([...new Set(digests)])) {
      const { marks, params } = inList(piece);
      for (const r of await this.d.x.all<{ digest: string; repoId: number }>(Q.linkHolders(marks), ...params)) {
        const ids = out.get(r.digest);
        if (ids) ids.push(r.repoId);
        else out.set(r.digest, [r.repoId]);
      }
    }
    return out;
  }

  knownBlobs(digests: string[]): Promise<Set<string>> {
    return among(this.d.x, digests, Q.blobsAmong, 'digest');
  }

  blobRows(after: string, limit: number): Promise<{ digest: string; size: number }[]> {
    return this.d.x.all(Q.blobRows, after, limit);
  }

  forgetBlob(digest: string): Promise<boolean> {
    return this.d.x.locked([blobLock(digest)], async (x) => (await x.run(Q.forgetBlob, digest)) > 0);
  }

  markForDeletion(digest: string, claimsSince: number): Promise<boolean> {
    return this.d.x.atomic(async (x) => {
      if ((await x.get(Q.anyLink, digest)) !== undefined || (await x.get(Q.freshClaim, digest, claimsSince)) !== undefined) return false;
      await x.run(Q.mark, digest, this.d.clock.now());
      return true;
    }, [blobLock(digest)]);
  }

  async unmark(digest: string): Promise<void> {
    await this.d.x.atomic(async (x) => {
      await x.run(Q.unmark, digest);
      await x.run(Q.forgetBlob, digest);
    }, [blobLock(digest)]);
  }

  async isMarked(digest: string): Promise<boolean> {
    return (await this.d.x.get(Q.marked, digest)) !== undefined;
  }

  async marked(): Promise<string[]> {
    return (await this.d.x.all<{ digest: string }>(Q.allMarked)).map((r) => r.digest);
  }

  claim(digest: string, holder: string): Promise<boolean> {
    return this.d.x.atomic(async (x) => {
      if ((await x.get(Q.marked, digest)) !== undefined) return false;
      await x.run(Q.claim, digest, holder, this.d.clock.now());
      return true;
    }, [blobLock(digest)]);
  }

  async release(digest: string, holder: string): Promise<void> {
    await this.d.x.run(Q.release, digest, holder);
  }

  dropClaimsBefore(before: number): Promise<number> {
    return this.d.x.run(Q.dropClaims, before);
  }

  async recordRun(run: GcRunRecord): Promise<void> {
    await this.d.x.run(Q.recordRun, run.startedAt, run.finishedAt, run.dryRun ? 1 : 0, run.report);
  }

  async lastRun(): Promise<GcRunRecord | null> {
    const row = await this.d.x.get<Row>(Q.lastRun);
    return row ? { startedAt: row.startedAt as number, finishedAt: row.finishedAt as number, dryRun: row.dryRun === 1, report: row.report as string } : null;
  }
}

class SqlView implements MetaTx {
  readonly repositories: RepositoryStore;
  readonly blobs: BlobLinkStore;
  readonly manifests: ManifestStore;
  readonly tags: TagStore;
  readonly uploads: UploadStore;
  readonly leases: LeaseStore;
  readonly gc: GcStore;
  readonly immutableTags: ImmutableTagStore;
  readonly quotas: QuotaStore;
  readonly retention: RetentionStore;
  readonly webhooks: WebhookStore;
  readonly users: UserStore;
  readonly orgs: OrgStore;
  readonly grants: GrantStore;
  readonly tokens: TokenStore;
  readonly visibility: VisibilityStore;
  readonly audit: AuditStore;
  readonly signingKeys: SigningKeyStore;

  constructor(protected readonly d: SqlDeps) {
    this.repositories = new SqlRepositories(d);
    this.blobs = new SqlBlobLinks(d);
    this.manifests = new SqlManifests(d);
    this.tags = new SqlTags(d);
    this.uploads = new SqlUploads(d);
    this.leases = new SqlLeases(d);
    this.gc = new SqlGc(d);
    this.immutableTags = new SqlImmutableTags(d);
    this.quotas = new SqlQuotas(d);
    this.retention = new SqlRetention(d);
    this.webhooks = new SqlWebhooks(d);
    this.users = new SqlUsers(d);
    this.orgs = new SqlOrgs(d);
    this.grants = new SqlGrants(d);
    this.tokens = new SqlTokens(d);
    this.visibility = new SqlVisibility(d);
    this.audit = new SqlAudit(d);
    this.signingKeys = new SqlSigningKeys(d);
  }

  lock(name: string): Promise<void> {
    return this.d.x.lock(name);
  }
}

export class SqlMetaStore extends SqlView implements MetaStore {
  constructor(private readonly db: SqlDatabase, clock: Clock) {
    super({ x: db, clock, repoIds: new RepositoryIds(REPOSITORY_IDS_KEPT) });
  }

  tx<T>(fn: (m: MetaTx) => Promise<T> | T): Promise<T> {
    return this.db.atomic(async (x) => fn(new SqlView({ x, clock: this.d.clock })));
  }

  close(): Promise<void> {
    return this.db.close();
  }
}
