// SQLite metadata store (embedded default). better-sqlite3 is synchronous, which makes each
// statement a few microseconds on the hot path; the async contract keeps PostgreSQL possible.
import Database from 'better-sqlite3';
import type { Statement } from 'better-sqlite3';
import { migrations } from './migrations.js';
import type { ManifestRecord, ManifestRef, MetaStore, Page, UploadRecord } from './meta-store.js';

type Row = Record<string, unknown>;

const MANIFEST_COLUMNS = 'm.digest, m.media_type AS mediaType, m.size, m.artifact_type AS artifactType, m.subject, m.annotations';

export interface SqliteOptions {
  path: string;
  /** FULL synchronous commits (survive power loss) instead of NORMAL (survive process crashes). */
  durable: boolean;
}

export class SqliteMetaStore implements MetaStore {
  private readonly db: Database.Database;
  private readonly stmts: Record<string, Statement>;

  constructor(opts: SqliteOptions) {
    this.db = new Database(opts.path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${opts.durable ? 'FULL' : 'NORMAL'}`);
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('foreign_keys = ON');
    this.migrate();
    const p = (sql: string): Statement => this.db.prepare(sql);
    this.stmts = {
      repoId: p('SELECT id FROM repositories WHERE name = ?'),
      insertRepo: p('INSERT INTO repositories (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING'),
      // Repositories appear once they have held a manifest (an abandoned upload does not make one).
      listRepos: p(`SELECT r.name FROM repositories r WHERE r.name > ?
                      AND (EXISTS (SELECT 1 FROM manifests m WHERE m.repo_id = r.id) OR EXISTS (SELECT 1 FROM tag_history h WHERE h.repo_id = r.id))
                    ORDER BY r.name LIMIT ?`),
      hasHeldManifests: p(`SELECT 1 WHERE EXISTS (SELECT 1 FROM manifests WHERE repo_id = ?) OR EXISTS (SELECT 1 FROM tag_history WHERE repo_id = ?)`),
      insertBlob: p('INSERT INTO blobs (digest, size) VALUES (?, ?) ON CONFLICT (digest) DO NOTHING'),
      linkBlob: p('INSERT INTO repo_blobs (repo_id, digest) VALUES (?, ?) ON CONFLICT DO NOTHING'),
      linkedBlob: p('SELECT b.size FROM repo_blobs l JOIN blobs b ON b.digest = l.digest WHERE l.repo_id = ? AND l.digest = ?'),
      knownBlob: p('SELECT b.size FROM blobs b WHERE b.digest = ? AND EXISTS (SELECT 1 FROM repo_blobs l WHERE l.digest = b.digest)'),
      unlinkBlob: p('DELETE FROM repo_blobs WHERE repo_id = ? AND digest = ?'),
      manifestExists: p('SELECT 1 FROM manifests WHERE repo_id = ? AND digest = ?'),
      insertManifest: p(`INSERT INTO manifests (repo_id, digest, media_type, size, artifact_type, subject, annotations, created_at)
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`),
      insertRef: p('INSERT INTO manifest_refs (repo_id, digest, ref, kind) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING'),
      tagDigest: p('SELECT digest FROM tags WHERE repo_id = ? AND name = ?'),
      upsertTag: p(`INSERT INTO tags (repo_id, name, digest, updated_at) VALUES (?, ?, ?, ?)
                    ON CONFLICT (repo_id, name) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at`),
      history: p('INSERT INTO tag_history (repo_id, name, digest, at) VALUES (?, ?, ?, ?)'),
      manifest: p(`SELECT ${MANIFEST_COLUMNS} FROM manifests m JOIN repositories r ON r.id = m.repo_id WHERE r.name = ? AND m.digest = ?`),
      manifestByTag: p(`SELECT ${MANIFEST_COLUMNS} FROM tags t JOIN repositories r ON r.id = t.repo_id
                        JOIN manifests m ON m.repo_id = t.repo_id AND m.digest = t.digest WHERE r.name = ? AND t.name = ?`),
      tagsOf: p('SELECT name FROM tags WHERE repo_id = ? AND digest = ?'),
      deleteTagsOf: p('DELETE FROM tags WHERE repo_id = ? AND digest = ?'),
      deleteManifest: p('DELETE FROM manifests WHERE repo_id = ? AND digest = ?'),
      deleteRefs: p('DELETE FROM manifest_refs WHERE repo_id = ? AND digest = ?'),
      deleteTag: p('DELETE FROM tags WHERE repo_id = ? AND name = ?'),
      listTags: p('SELECT name FROM tags WHERE repo_id = ? AND name > ? ORDER BY name LIMIT ?'),
      referrers: p(`SELECT ${MANIFEST_COLUMNS} FROM manifests m WHERE m.repo_id = ? AND m.subject = ? ORDER BY m.created_at, m.digest`),
      insertUpload: p('INSERT INTO uploads (id, repo_id, created_at, updated_at) VALUES (?, ?, ?, ?)'),
      upload: p(`SELECT u.id, r.name AS repository, u.created_at AS createdAt, u.updated_at AS updatedAt
                 FROM uploads u JOIN repositories r ON r.id = u.repo_id WHERE u.id = ?`),
      touchUpload: p('UPDATE uploads SET updated_at = ? WHERE id = ?'),
      deleteUpload: p('DELETE FROM uploads WHERE id = ?'),
      oldUploads: p(`SELECT u.id, r.name AS repository, u.created_at AS createdAt, u.updated_at AS updatedAt
                     FROM uploads u JOIN repositories r ON r.id = u.repo_id WHERE u.updated_at < ? LIMIT 1000`),
      uploadIds: p('SELECT id FROM uploads'),
    };
  }

  private migrate(): void {
    this.db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)');
    const row = this.db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null };
    const current = row.v ?? 0;
    for (let v = current; v < migrations.length; v++) {
      this.db.transaction(() => {
        this.db.exec(migrations[v]!);
        this.db.prepare('INSERT INTO schema_migrations (version) VALUES (?)').run(v + 1);
      })();
    }
  }

  async ensureRepository(name: string): Promise<number> {
    const found = this.stmts.repoId!.get(name) as Row | undefined;
    if (found) return found.id as number;
    this.stmts.insertRepo!.run(name, Date.now());
    return (this.stmts.repoId!.get(name) as Row).id as number;
  }

  async repositoryId(name: string): Promise<number | null> {
    const row = this.stmts.repoId!.get(name) as Row | undefined;
    return row ? (row.id as number) : null;
  }

  async listRepositories(page: Page): Promise<string[]> {
    return (this.stmts.listRepos!.all(page.last ?? '', page.n ?? -1) as Row[]).map((r) => r.name as string);
  }

  async hasHeldManifests(repoId: number): Promise<boolean> {
    return this.stmts.hasHeldManifests!.get(repoId, repoId) !== undefined;
  }

  async linkBlob(repoId: number, digest: string, size: number): Promise<void> {
    this.db.transaction(() => {
      this.stmts.insertBlob!.run(digest, size);
      this.stmts.linkBlob!.run(repoId, digest);
    })();
  }

  async linkedBlobSize(repoId: number, digest: string): Promise<number | null> {
    const row = this.stmts.linkedBlob!.get(repoId, digest) as Row | undefined;
    return row ? (row.size as number) : null;
  }

  async knownBlobSize(digest: string): Promise<number | null> {
    const row = this.stmts.knownBlob!.get(digest) as Row | undefined;
    return row ? (row.size as number) : null;
  }

  async unlinkBlob(repoId: number, digest: string): Promise<boolean> {
    return this.stmts.unlinkBlob!.run(repoId, digest).changes > 0;
  }

  async existingManifests(repoId: number, digests: string[]): Promise<Set<string>> {
    return new Set(digests.filter((d) => this.stmts.manifestExists!.get(repoId, d) !== undefined));
  }

  async existingBlobs(repoId: number, digests: string[]): Promise<Set<string>> {
    return new Set(digests.filter((d) => this.stmts.linkedBlob!.get(repoId, d) !== undefined));
  }

  async putManifest(repoId: number, m: ManifestRecord, refs: ManifestRef[], tag: string | null, now: number): Promise<void> {
    this.db.transaction(() => {
      this.stmts.insertBlob!.run(m.digest, m.size);
      this.stmts.linkBlob!.run(repoId, m.digest);
      this.stmts.insertManifest!.run(repoId, m.digest, m.mediaType, m.size, m.artifactType, m.subject, m.annotations, now);
      for (const r of refs) this.stmts.insertRef!.run(repoId, m.digest, r.digest, r.kind);
      if (tag !== null) {
        const prev = this.stmts.tagDigest!.get(repoId, tag) as Row | undefined;
        if (prev?.digest !== m.digest) {
          this.stmts.upsertTag!.run(repoId, tag, m.digest, now);
          this.stmts.history!.run(repoId, tag, m.digest, now);
        }
      }
    })();
  }

  async manifest(repository: string, digest: string): Promise<ManifestRecord | null> {
    return (this.stmts.manifest!.get(repository, digest) as ManifestRecord | undefined) ?? null;
  }

  async manifestByTag(repository: string, tag: string): Promise<ManifestRecord | null> {
    return (this.stmts.manifestByTag!.get(repository, tag) as ManifestRecord | undefined) ?? null;
  }

  async deleteManifest(repoId: number, digest: string): Promise<boolean> {
    return this.db.transaction(() => {
      const now = Date.now();
      for (const t of this.stmts.tagsOf!.all(repoId, digest) as Row[]) this.stmts.history!.run(repoId, t.name, null, now);
      this.stmts.deleteTagsOf!.run(repoId, digest);
      this.stmts.deleteRefs!.run(repoId, digest);
      this.stmts.unlinkBlob!.run(repoId, digest);
      return this.stmts.deleteManifest!.run(repoId, digest).changes > 0;
    })();
  }

  async deleteTag(repoId: number, tag: string, now: number): Promise<boolean> {
    return this.db.transaction(() => {
      const removed = this.stmts.deleteTag!.run(repoId, tag).changes > 0;
      if (removed) this.stmts.history!.run(repoId, tag, null, now);
      return removed;
    })();
  }

  async listTags(repoId: number, page: Page): Promise<string[]> {
    return (this.stmts.listTags!.all(repoId, page.last ?? '', page.n ?? -1) as Row[]).map((r) => r.name as string);
  }

  async referrers(repoId: number, subject: string, artifactType?: string): Promise<ManifestRecord[]> {
    const rows = this.stmts.referrers!.all(repoId, subject) as ManifestRecord[];
    return artifactType === undefined ? rows : rows.filter((r) => r.artifactType === artifactType);
  }

  async createUpload(id: string, repoId: number, now: number): Promise<void> {
    this.stmts.insertUpload!.run(id, repoId, now, now);
  }

  async upload(id: string): Promise<UploadRecord | null> {
    return (this.stmts.upload!.get(id) as UploadRecord | undefined) ?? null;
  }

  async touchUpload(id: string, now: number): Promise<void> {
    this.stmts.touchUpload!.run(now, id);
  }

  async deleteUpload(id: string): Promise<void> {
    this.stmts.deleteUpload!.run(id);
  }

  async uploadsOlderThan(updatedBefore: number): Promise<UploadRecord[]> {
    return this.stmts.oldUploads!.all(updatedBefore) as UploadRecord[];
  }

  async allUploadIds(): Promise<Set<string>> {
    return new Set((this.stmts.uploadIds!.all() as Row[]).map((r) => r.id as string));
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
