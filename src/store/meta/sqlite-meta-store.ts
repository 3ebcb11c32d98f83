// SQLite metadata store (embedded default). better-sqlite3 is synchronous, which makes each
// statement a few microseconds on the hot path; the async contract keeps PostgreSQL possible.
import Database from 'better-sqlite3';
import type { Statement } from 'better-sqlite3';
import type { Clock } from '../../config/clock.js';
import { migrations } from './migrations.js';
import { NO_LIMIT, sqliteDialect, upsert } from './dialect.js';
import type { AuditStore, GrantStore, OrgStore, SigningKeyStore, TokenStore, UserStore, VisibilityStore } from './account-store.js';
import {
  prepareAccountStatements, SqliteAudit, SqliteGrants, SqliteOrgs, SqliteSigningKeys, SqliteTokens, SqliteUsers, SqliteVisibility,
  type AccountStatements,
} from './sqlite-account-stores.js';
import type {
  BlobLink, BlobLinkStore, GcRunRecord, GcStore, Lease, LeaseStore, ManifestRecord, ManifestRef, ManifestStore, MetaStore, MetaTx, Page,
  RepositoryGraph, RepositoryStore, StoredManifest, TagStore, UploadPosition, UploadRecord, UploadStore,
} from './meta-store.js';

type Row = Record<string, unknown>;

// Quoted aliases keep their case in PostgreSQL too.
const MANIFEST_COLUMNS = `m.digest, m.media_type AS "mediaType", m.size, m.artifact_type AS "artifactType", m.subject,
  m.annotations, m.created_at AS "createdAt"`;
const UPLOAD_COLUMNS = `id, repo_id AS "repoId", byte_offset AS "offset", driver_state AS "driverState", algorithm,
  created_at AS "createdAt", updated_at AS "updatedAt"`;

/** Every statement, prepared once per connection. */
function prepareStatements(db: Database.Database) {
  const p = (sql: string): Statement => db.prepare(sqliteDialect.placeholders(sql));
  return {
    repoId: p('SELECT id FROM repositories WHERE name = ?'),
    insertRepo: p('INSERT INTO repositories (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING'),
    // Repositories appear once they have held a manifest (an abandoned upload does not make one).
    listRepos: p(`SELECT r.name FROM repositories r WHERE r.name > ?
                    AND (EXISTS (SELECT 1 FROM manifests m WHERE m.repo_id = r.id) OR EXISTS (SELECT 1 FROM tag_history h WHERE h.repo_id = r.id))
                  ORDER BY r.name LIMIT ?`),
    hasHeldManifests: p(`SELECT 1 AS held WHERE EXISTS (SELECT 1 FROM manifests WHERE repo_id = ?) OR EXISTS (SELECT 1 FROM tag_history WHERE repo_id = ?)`),

    insertBlob: p('INSERT INTO blobs (digest, size) VALUES (?, ?) ON CONFLICT (digest) DO NOTHING'),
    linkBlob: p('INSERT INTO repo_blobs (repo_id, digest, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING'),
    linkedBlob: p(`SELECT b.size, l.created_at AS "linkedAt" FROM repo_blobs l JOIN blobs b ON b.digest = l.digest
                   WHERE l.repo_id = ? AND l.digest = ?`),
    blobHolders: p('SELECT r.name FROM repo_blobs l JOIN repositories r ON r.id = l.repo_id WHERE l.digest = ? ORDER BY r.name LIMIT ?'),
    knownBlob: p('SELECT b.size FROM blobs b WHERE b.digest = ? AND EXISTS (SELECT 1 FROM repo_blobs l WHERE l.digest = b.digest)'),
    unlinkBlob: p('DELETE FROM repo_blobs WHERE repo_id = ? AND digest = ?'),
    touchBlob: p('UPDATE repo_blobs SET created_at = ? WHERE repo_id = ? AND digest = ?'),

    manifestExists: p('SELECT 1 AS found FROM manifests WHERE repo_id = ? AND digest = ?'),
    insertManifest: p(`INSERT INTO manifests (repo_id, digest, media_type, size, artifact_type, subject, annotations, created_at)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`),
    insertRef: p('INSERT INTO manifest_refs (repo_id, digest, ref, kind) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING'),
    manifest: p(`SELECT ${MANIFEST_COLUMNS} FROM manifests m WHERE m.repo_id = ? AND m.digest = ?`),
    deleteManifest: p('DELETE FROM manifests WHERE repo_id = ? AND digest = ?'),
    deleteRefs: p('DELETE FROM manifest_refs WHERE repo_id = ? AND digest = ?'),
    referrers: p(`SELECT ${MANIFEST_COLUMNS} FROM manifests m WHERE m.repo_id = ? AND m.subject = ? ORDER BY m.created_at, m.digest`),

    manifestByTag: p(`SELECT ${MANIFEST_COLUMNS} FROM tags t JOIN manifests m ON m.repo_id = t.repo_id AND m.digest = t.digest
                      WHERE t.repo_id = ? AND t.name = ?`),
    tagDigest: p('SELECT digest FROM tags WHERE repo_id = ? AND name = ?'),
    upsertTag: p(upsert('tags', ['repo_id', 'name', 'digest', 'updated_at'], ['repo_id', 'name'], ['digest', 'updated_at'])),
    history: p('INSERT INTO tag_history (repo_id, name, digest, at) VALUES (?, ?, ?, ?)'),
    tagsOf: p('SELECT name FROM tags WHERE repo_id = ? AND digest = ?'),
    deleteTagsOf: p('DELETE FROM tags WHERE repo_id = ? AND digest = ?'),
    deleteTag: p('DELETE FROM tags WHERE repo_id = ? AND name = ?'),
    listTags: p('SELECT name FROM tags WHERE repo_id = ? AND name > ? ORDER BY name LIMIT ?'),

    insertUpload: p(`INSERT INTO uploads (id, repo_id, algorithm, byte_offset, driver_state, created_at, updated_at)
                     VALUES (?, ?, ?, ?, ?, ?, ?)`),
    upload: p(`SELECT ${UPLOAD_COLUMNS} FROM uploads WHERE id = ?`),
    advanceUpload: p('UPDATE uploads SET byte_offset = ?, driver_state = ?, updated_at = ? WHERE id = ? AND byte_offset = ?'),
    deleteUpload: p('DELETE FROM uploads WHERE id = ?'),
    deleteIdleUpload: p('DELETE FROM uploads WHERE id = ? AND updated_at < ?'),
    idleUploads: p(`SELECT ${UPLOAD_COLUMNS} FROM uploads WHERE updated_at < ? ORDER BY updated_at LIMIT ?`),
    uploadExists: p('SELECT 1 AS found FROM uploads WHERE id = ?'),

    // Taken when free, expired, or already ours (a renewal); a live lease of another holder stays.
    acquireLease: p(upsert('leases', ['name', 'holder', 'expires_at'], ['name'], ['holder', 'expires_at'],
      'leases.expires_at <= ? OR leases.holder = excluded.holder')),
    releaseLease: p('DELETE FROM leases WHERE name = ? AND holder = ?'),
    lease: p('SELECT holder, expires_at AS "expiresAt" FROM leases WHERE name = ?'),

    allRepos: p('SELECT id, name FROM repositories ORDER BY name'),
    tagTargets: p('SELECT DISTINCT digest FROM tags WHERE repo_id = ?'),
    manifestsOf: p('SELECT digest, size, created_at AS "createdAt", subject FROM manifests WHERE repo_id = ?'),
    refsOf: p('SELECT digest AS "from", ref AS "to", kind FROM manifest_refs WHERE repo_id = ?'),
    linksOf: p('SELECT digest, created_at AS "linkedAt" FROM repo_blobs WHERE repo_id = ?'),
    linkHolders: p('SELECT repo_id AS "repoId" FROM repo_blobs WHERE digest = ?'),
    blobRow: p('SELECT size FROM blobs WHERE digest = ?'),
    blobRows: p('SELECT digest, size FROM blobs WHERE digest > ? ORDER BY digest LIMIT ?'),
    anyLink: p('SELECT 1 AS found FROM repo_blobs WHERE digest = ? LIMIT 1'),
    forgetBlob: p('DELETE FROM blobs WHERE digest = ? AND NOT EXISTS (SELECT 1 FROM repo_blobs l WHERE l.digest = blobs.digest)'),
    freshClaim: p('SELECT 1 AS found FROM blob_claims WHERE digest = ? AND claimed_at >= ? LIMIT 1'),
    mark: p('INSERT INTO blob_deletions (digest, marked_at) VALUES (?, ?) ON CONFLICT (digest) DO NOTHING'),
    unmark: p('DELETE FROM blob_deletions WHERE digest = ?'),
    marked: p('SELECT 1 AS found FROM blob_deletions WHERE digest = ?'),
    allMarked: p('SELECT digest FROM blob_deletions ORDER BY digest'),
    claim: p(upsert('blob_claims', ['digest', 'holder', 'claimed_at'], ['digest', 'holder'], ['claimed_at'])),
    release: p('DELETE FROM blob_claims WHERE digest = ? AND holder = ?'),
    dropClaims: p('DELETE FROM blob_claims WHERE claimed_at < ?'),
    recordRun: p('INSERT INTO gc_runs (started_at, finished_at, dry_run, report) VALUES (?, ?, ?, ?)'),
    lastRun: p('SELECT started_at AS "startedAt", finished_at AS "finishedAt", dry_run AS "dryRun", report FROM gc_runs ORDER BY id DESC LIMIT 1'),
  };
}

type Statements = ReturnType<typeof prepareStatements>;

/** What a view needs: the statements, the clock, and a gate that holds callers back while a unit of work runs. */
interface ViewDeps {
  db: Database.Database;
  s: Statements;
  a: AccountStatements;
  clock: Clock;
  /** Null when the caller may go ahead now. */
  gate: () => Promise<void> | null;
}

class SqliteRepositories implements RepositoryStore {
  constructor(private readonly d: ViewDeps) {}

  async idOf(name: string): Promise<number | null> {
    const g = this.d.gate(); if (g) await g;
    const row = this.d.s.repoId.get(name) as Row | undefined;
    return row ? (row.id as number) : null;
  }

  async ensure(name: string): Promise<number> {
    const g = this.d.gate(); if (g) await g;
    const found = this.d.s.repoId.get(name) as Row | undefined;
    if (found) return found.id as number;
    this.d.s.insertRepo.run(name, this.d.clock.now());
    return (this.d.s.repoId.get(name) as Row).id as number;
  }

  async list(page: Page): Promise<string[]> {
    const g = this.d.gate(); if (g) await g;
    return (this.d.s.listRepos.all(page.last ?? '', page.n ?? NO_LIMIT) as Row[]).map((r) => r.name as string);
  }

  async hasHeldManifests(repoId: number): Promise<boolean> {
    const g = this.d.gate(); if (g) await g;
    return this.d.s.hasHeldManifests.get(repoId, repoId) !== undefined;
  }
}

// A transaction that reads before it writes runs `.immediate()`: a deferred one would fail at once
// with SQLITE_BUSY (no busy wait) when another process writes between its read and its write.

class SqliteBlobLinks implements BlobLinkStore {
  private readonly linkTx;

  constructor(private readonly d: ViewDeps) {
    this.linkTx = d.db.transaction((repoId: number, digest: string, size: number): boolean => {
      // Bytes a collector is deleting are as good as gone (see registry/gc.ts).
      if (d.s.marked.get(digest) !== undefined) return false;
      d.s.insertBlob.run(digest, size);
      d.s.linkBlob.run(repoId, digest, d.clock.now());
      return true;
    });
  }

  async link(repoId: number, digest: string, size: number): Promise<boolean> {
    const g = this.d.gate(); if (g) await g;
    return this.linkTx.immediate(repoId, digest, size);
  }

  async get(repoId: number, digest: string): Promise<BlobLink | null> {
    const g = this.d.gate(); if (g) await g;
    return (this.d.s.linkedBlob.get(repoId, digest) as BlobLink | undefined) ?? null;
  }

  async sizeAnywhere(digest: string): Promise<number | null> {
    const g = this.d.gate(); if (g) await g;
    const row = this.d.s.knownBlob.get(digest) as Row | undefined;
    return row ? (row.size as number) : null;
  }

  async holders(digest: string, limit: number): Promise<string[]> {
    const g = this.d.gate(); if (g) await g;
    return (this.d.s.blobHolders.all(digest, limit) as Row[]).map((r) => r.name as string);
  }

  async unlink(repoId: number, digest: string): Promise<boolean> {
    const g = this.d.gate(); if (g) await g;
    return this.d.s.unlinkBlob.run(repoId, digest).changes > 0;
  }

  async existing(repoId: number, digests: string[]): Promise<Set<string>> {
    const g = this.d.gate(); if (g) await g;
    return new Set(digests.filter((x) => this.d.s.linkedBlob.get(repoId, x) !== undefined));
  }

  async touch(repoId: number, digest: string): Promise<boolean> {
    const g = this.d.gate(); if (g) await g;
    return this.d.s.touchBlob.run(this.d.clock.now(), repoId, digest).changes > 0;
  }
}

class SqliteManifests implements ManifestStore {
  private readonly putTx;
  private readonly deleteTx;

  constructor(private readonly d: ViewDeps) {
    const s = d.s;
    this.putTx = d.db.transaction((repoId: number, m: ManifestRecord, refs: ManifestRef[]) => {
      s.insertManifest.run(repoId, m.digest, m.mediaType, m.size, m.artifactType, m.subject, m.annotations, d.clock.now());
      for (const r of refs) s.insertRef.run(repoId, m.digest, r.digest, r.kind);
    });
    this.deleteTx = d.db.transaction((repoId: number, digest: string): boolean => {
      s.deleteRefs.run(repoId, digest);
      return s.deleteManifest.run(repoId, digest).changes > 0;
    });
  }

  async put(repoId: number, m: ManifestRecord, refs: ManifestRef[]): Promise<void> {
    const g = this.d.gate(); if (g) await g;
    this.putTx(repoId, m, refs);
  }

  async get(repoId: number, digest: string): Promise<StoredManifest | null> {
    const g = this.d.gate(); if (g) await g;
    return (this.d.s.manifest.get(repoId, digest) as StoredManifest | undefined) ?? null;
  }

  async existing(repoId: number, digests: string[]): Promise<Set<string>> {
    const g = this.d.gate(); if (g) await g;
    return new Set(digests.filter((x) => this.d.s.manifestExists.get(repoId, x) !== undefined));
  }

  async delete(repoId: number, digest: string): Promise<boolean> {
    const g = this.d.gate(); if (g) await g;
    return this.deleteTx(repoId, digest);
  }

  async referrers(repoId: number, subject: string, artifactType?: string): Promise<StoredManifest[]> {
    const g = this.d.gate(); if (g) await g;
    const rows = this.d.s.referrers.all(repoId, subject) as StoredManifest[];
    return artifactType === undefined ? rows : rows.filter((r) => r.artifactType === artifactType);
  }
}

class SqliteTags implements TagStore {
  private readonly moveTx;
  private readonly deleteTx;
  private readonly deleteAllTx;

  constructor(private readonly d: ViewDeps) {
    const s = d.s;
    this.moveTx = d.db.transaction((repoId: number, tag: string, digest: string) => {
      const prev = s.tagDigest.get(repoId, tag) as Row | undefined;
      if (prev?.digest === digest) return;
      const now = d.clock.now();
      s.upsertTag.run(repoId, tag, digest, now);
      s.history.run(repoId, tag, digest, now);
    });
    this.deleteTx = d.db.transaction((repoId: number, tag: string): boolean => {
      const removed = s.deleteTag.run(repoId, tag).changes > 0;
      if (removed) s.history.run(repoId, tag, null, d.clock.now());
      return removed;
    });
    this.deleteAllTx = d.db.transaction((repoId: number, digest: string) => {
      const now = d.clock.now();
      for (const t of s.tagsOf.all(repoId, digest) as Row[]) s.history.run(repoId, t.name, null, now);
      s.deleteTagsOf.run(repoId, digest);
    });
  }

  async resolve(repoId: number, tag: string): Promise<StoredManifest | null> {
    const g = this.d.gate(); if (g) await g;
    return (this.d.s.manifestByTag.get(repoId, tag) as StoredManifest | undefined) ?? null;
  }

  async move(repoId: number, tag: string, digest: string): Promise<void> {
    const g = this.d.gate(); if (g) await g;
    this.moveTx.immediate(repoId, tag, digest);
  }

  async delete(repoId: number, tag: string): Promise<boolean> {
    const g = this.d.gate(); if (g) await g;
    return this.deleteTx(repoId, tag);
  }

  async deleteAllOn(repoId: number, digest: string): Promise<void> {
    const g = this.d.gate(); if (g) await g;
    this.deleteAllTx.immediate(repoId, digest);
  }

  async list(repoId: number, page: Page): Promise<string[]> {
    const g = this.d.gate(); if (g) await g;
    return (this.d.s.listTags.all(repoId, page.last ?? '', page.n ?? NO_LIMIT) as Row[]).map((r) => r.name as string);
  }
}

class SqliteUploads implements UploadStore {
  constructor(private readonly d: ViewDeps) {}

  async create(id: string, repoId: number, algorithm: string, at: UploadPosition): Promise<void> {
    const g = this.d.gate(); if (g) await g;
    const now = this.d.clock.now();
    this.d.s.insertUpload.run(id, repoId, algorithm, at.offset, at.driverState, now, now);
  }

  async get(id: string): Promise<UploadRecord | null> {
    const g = this.d.gate(); if (g) await g;
    return (this.d.s.upload.get(id) as UploadRecord | undefined) ?? null;
  }

  async advance(id: string, fromOffset: number, to: UploadPosition): Promise<boolean> {
    const g = this.d.gate(); if (g) await g;
    return this.d.s.advanceUpload.run(to.offset, to.driverState, this.d.clock.now(), id, fromOffset).changes > 0;
  }

  async delete(id: string): Promise<boolean> {
    const g = this.d.gate(); if (g) await g;
    return this.d.s.deleteUpload.run(id).changes > 0;
  }

  async deleteIfIdle(id: string, idleBefore: number): Promise<boolean> {
    const g = this.d.gate(); if (g) await g;
    return this.d.s.deleteIdleUpload.run(id, idleBefore).changes > 0;
  }

  async idleSince(idleBefore: number, limit: number): Promise<UploadRecord[]> {
    const g = this.d.gate(); if (g) await g;
    return this.d.s.idleUploads.all(idleBefore, limit) as UploadRecord[];
  }

  async existing(ids: string[]): Promise<Set<string>> {
    const g = this.d.gate(); if (g) await g;
    return new Set(ids.filter((id) => this.d.s.uploadExists.get(id) !== undefined));
  }
}

class SqliteLeases implements LeaseStore {
  constructor(private readonly d: ViewDeps) {}

  async acquire(name: string, holder: string, ttlMs: number): Promise<boolean> {
    const g = this.d.gate(); if (g) await g;
    const now = this.d.clock.now();
    return this.d.s.acquireLease.run(name, holder, now + ttlMs, now).changes > 0;
  }

  async release(name: string, holder: string): Promise<void> {
    const g = this.d.gate(); if (g) await g;
    this.d.s.releaseLease.run(name, holder);
  }

  async get(name: string): Promise<Lease | null> {
    const g = this.d.gate(); if (g) await g;
    return (this.d.s.lease.get(name) as Lease | undefined) ?? null;
  }
}

class SqliteGc implements GcStore {
  private readonly markTx;
  private readonly unmarkTx;
  private readonly claimTx;

  constructor(private readonly d: ViewDeps) {
    const s = d.s;
    this.markTx = d.db.transaction((digest: string, claimsSince: number): boolean => {
      if (s.anyLink.get(digest) !== undefined || s.freshClaim.get(digest, claimsSince) !== undefined) return false;
      s.mark.run(digest, d.clock.now());
      return true;
    });
    this.unmarkTx = d.db.transaction((digest: string) => {
      s.unmark.run(digest);
      s.forgetBlob.run(digest);
    });
    this.claimTx = d.db.transaction((digest: string, holder: string): boolean => {
      if (s.marked.get(digest) !== undefined) return false;
      s.claim.run(digest, holder, d.clock.now());
      return true;
    });
  }

  async repositories(): Promise<{ id: number; name: string }[]> {
    const g = this.d.gate(); if (g) await g;
    return this.d.s.allRepos.all() as { id: number; name: string }[];
  }

  async graph(repoId: number): Promise<RepositoryGraph> {
    const g = this.d.gate(); if (g) await g;
    const s = this.d.s;
    return {
      tagged: (s.tagTargets.all(repoId) as Row[]).map((r) => r.digest as string),
      manifests: s.manifestsOf.all(repoId) as RepositoryGraph['manifests'],
      refs: s.refsOf.all(repoId) as RepositoryGraph['refs'],
      links: s.linksOf.all(repoId) as RepositoryGraph['links'],
    };
  }

  async linkHolders(digests: string[]): Promise<Map<string, number[]>> {
    const g = this.d.gate(); if (g) await g;
    const out = new Map<string, number[]>();
    for (const x of digests) {
      const ids = (this.d.s.linkHolders.all(x) as Row[]).map((r) => r.repoId as number);
      if (ids.length > 0) out.set(x, ids);
    }
    return out;
  }

  async knownBlobs(digests: string[]): Promise<Set<string>> {
    const g = this.d.gate(); if (g) await g;
    return new Set(digests.filter((x) => this.d.s.blobRow.get(x) !== undefined));
  }

  async blobRows(after: string, limit: number): Promise<{ digest: string; size: number }[]> {
    const g = this.d.gate(); if (g) await g;
    return this.d.s.blobRows.all(after, limit) as { digest: string; size: number }[];
  }

  async forgetBlob(digest: string): Promise<boolean> {
    const g = this.d.gate(); if (g) await g;
    return this.d.s.forgetBlob.run(digest).changes > 0;
  }

  async markForDeletion(digest: string, claimsSince: number): Promise<boolean> {
    const g = this.d.gate(); if (g) await g;
    return this.markTx.immediate(digest, claimsSince);
  }

  async unmark(digest: string): Promise<void> {
    const g = this.d.gate(); if (g) await g;
    this.unmarkTx(digest);
  }

  async isMarked(digest: string): Promise<boolean> {
    const g = this.d.gate(); if (g) await g;
    return this.d.s.marked.get(digest) !== undefined;
  }

  async marked(): Promise<string[]> {
    const g = this.d.gate(); if (g) await g;
    return (this.d.s.allMarked.all() as Row[]).map((r) => r.digest as string);
  }

  async claim(digest: string, holder: string): Promise<boolean> {
    const g = this.d.gate(); if (g) await g;
    return this.claimTx.immediate(digest, holder);
  }

  async release(digest: string, holder: string): Promise<void> {
    const g = this.d.gate(); if (g) await g;
    this.d.s.release.run(digest, holder);
  }

  async dropClaimsBefore(before: number): Promise<number> {
    const g = this.d.gate(); if (g) await g;
    return this.d.s.dropClaims.run(before).changes;
  }

  async recordRun(run: GcRunRecord): Promise<void> {
    const g = this.d.gate(); if (g) await g;
    this.d.s.recordRun.run(run.startedAt, run.finishedAt, run.dryRun ? 1 : 0, run.report);
  }

  async lastRun(): Promise<GcRunRecord | null> {
    const g = this.d.gate(); if (g) await g;
    const row = this.d.s.lastRun.get() as Row | undefined;
    return row ? { startedAt: row.startedAt as number, finishedAt: row.finishedAt as number, dryRun: row.dryRun === 1, report: row.report as string } : null;
  }
}

class SqliteView implements MetaTx {
  readonly repositories: SqliteRepositories;
  readonly blobs: SqliteBlobLinks;
  readonly manifests: SqliteManifests;
  readonly tags: SqliteTags;
  readonly uploads: SqliteUploads;
  readonly leases: SqliteLeases;
  readonly gc: SqliteGc;
  readonly users: SqliteUsers;
  readonly orgs: SqliteOrgs;
  readonly grants: SqliteGrants;
  readonly tokens: SqliteTokens;
  readonly visibility: SqliteVisibility;
  readonly audit: SqliteAudit;
  readonly signingKeys: SqliteSigningKeys;

  constructor(d: ViewDeps) {
    this.repositories = new SqliteRepositories(d);
    this.blobs = new SqliteBlobLinks(d);
    this.manifests = new SqliteManifests(d);
    this.tags = new SqliteTags(d);
    this.uploads = new SqliteUploads(d);
    this.leases = new SqliteLeases(d);
    this.gc = new SqliteGc(d);
    this.users = new SqliteUsers(d);
    this.orgs = new SqliteOrgs(d);
    this.grants = new SqliteGrants(d);
    this.tokens = new SqliteTokens(d);
    this.visibility = new SqliteVisibility(d);
    this.audit = new SqliteAudit(d);
    this.signingKeys = new SqliteSigningKeys(d);
  }
}

export interface SqliteOptions {
  /** A file, or ':memory:' (unit tests). */
  path: string;
  /** FULL synchronous commits (survive power loss) instead of NORMAL (survive process crashes). */
  durable: boolean;
  clock: Clock;
}

export class SqliteMetaStore implements MetaStore {
  private readonly db: Database.Database;
  private readonly root: SqliteView;
  /** The view handed to a unit of work: it runs inside the open transaction, ungated. */
  private readonly inTx: SqliteView;
  /** Units of work run one at a time on this connection; this is the tail of their queue. */
  private txTail: Promise<void> = Promise.resolve();
  /** Set while a unit of work is open: calls from outside it wait, so they never land inside it. */
  private openTx: Promise<void> | null = null;

  constructor(opts: SqliteOptions) {
    this.db = new Database(opts.path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${opts.durable ? 'FULL' : 'NORMAL'}`);
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('foreign_keys = ON');
    this.migrate();
    const s = prepareStatements(this.db);
    const a = prepareAccountStatements(this.db);
    this.root = new SqliteView({ db: this.db, s, a, clock: opts.clock, gate: () => (this.openTx ? this.whenIdle() : null) });
    this.inTx = new SqliteView({ db: this.db, s, a, clock: opts.clock, gate: () => null });
  }

  get repositories(): RepositoryStore { return this.root.repositories; }
  get blobs(): BlobLinkStore { return this.root.blobs; }
  get manifests(): ManifestStore { return this.root.manifests; }
  get tags(): TagStore { return this.root.tags; }
  get uploads(): UploadStore { return this.root.uploads; }
  get leases(): LeaseStore { return this.root.leases; }
  get gc(): GcStore { return this.root.gc; }
  get users(): UserStore { return this.root.users; }
  get orgs(): OrgStore { return this.root.orgs; }
  get grants(): GrantStore { return this.root.grants; }
  get tokens(): TokenStore { return this.root.tokens; }
  get visibility(): VisibilityStore { return this.root.visibility; }
  get audit(): AuditStore { return this.root.audit; }
  get signingKeys(): SigningKeyStore { return this.root.signingKeys; }

  async tx<T>(fn: (m: MetaTx) => Promise<T> | T): Promise<T> {
    const prev = this.txTail;
    let finished!: () => void;
    const mine = new Promise<void>((r) => { finished = r; });
    this.txTail = prev.then(() => mine);
    await prev;
    this.openTx = mine;
    try {
      // IMMEDIATE: take the write lock now, so that two processes never deadlock upgrading a read.
      this.db.exec('BEGIN IMMEDIATE');
      const result = await fn(this.inTx);
      this.db.exec('COMMIT');
      return result;
    } catch (e) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      throw e;
    } finally {
      this.openTx = null;
      finished();
    }
  }

  private async whenIdle(): Promise<void> {
    while (this.openTx) await this.openTx;
  }

  private migrate(): void {
    this.db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)');
    // Under the write lock: two processes opening a new database at once migrate it once.
    this.db.transaction(() => {
      const row = this.db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null };
      for (let v = row.v ?? 0; v < migrations.length; v++) {
        this.db.exec(migrations[v]!(sqliteDialect));
        this.db.prepare('INSERT INTO schema_migrations (version) VALUES (?)').run(v + 1);
      }
    }).immediate();
  }

  async close(): Promise<void> {
    await this.txTail;
    this.db.close();
  }
}
