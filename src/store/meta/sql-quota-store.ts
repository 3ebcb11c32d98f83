// Quotas in the same portable SQL as the rest of the MetaStore (sql-meta-store.ts), and the usage they
// are measured against, computed from the blob links and tags rather than kept as counters (nothing to
// keep exact on every path that links or unlinks: uploads, mounts, manifest PUT and DELETE, GC).
// A namespace's repositories are one range of the byte-ordered name index, `ns/` <= name < `ns0`
// ('0' follows '/'), so its usage is an index range scan; a repository's is its own links and tags.
// A quota on a whole namespace has repository '' in the table (keys cannot hold NULL portably).
import { upsert } from './dialect.js';
import type { QuotaLimits, QuotaRecord, QuotaScope, QuotaStore } from './meta-store.js';
import type { Row } from './sql-database.js';
import type { SqlDeps } from './sql-meta-store.js';

const QUOTA = 'namespace, repository, bytes, tags, created_at AS "createdAt", updated_at AS "updatedAt"';
/** The repositories of a scope: a name range for a namespace, one name for a repository. */
const IN_NAMESPACE = 'r.name >= ? AND r.name < ?';
const IN_REPOSITORY = 'r.name = ?';

const P = {
  set: upsert('quotas', ['namespace', 'repository', 'bytes', 'tags', 'created_at', 'updated_at'], ['namespace', 'repository'], ['bytes', 'tags', 'updated_at']),
  remove: 'DELETE FROM quotas WHERE namespace = ? AND repository = ?',
  get: `SELECT ${QUOTA} FROM quotas WHERE namespace = ? AND repository = ?`,
  list: `SELECT ${QUOTA} FROM quotas ORDER BY namespace, repository`,
  // Walks the primary key: (namespace, '') and (namespace, repository).
  forRepository: `SELECT ${QUOTA} FROM quotas WHERE namespace = ? AND repository IN ('', ?) ORDER BY repository`,
  // Each digest once however many of the namespace's repositories link it (IN, not a join: no duplicates).
  namespaceBytes: `SELECT COALESCE(SUM(b.size), 0) AS n FROM blobs b
    WHERE b.digest IN (SELECT l.digest FROM repositories r JOIN repo_blobs l ON l.repo_id = r.id WHERE ${IN_NAMESPACE})`,
  // A repository links a digest at most once (the key), so a join counts each once.
  repositoryBytes: `SELECT COALESCE(SUM(b.size), 0) AS n FROM repositories r JOIN repo_blobs l ON l.repo_id = r.id
    JOIN blobs b ON b.digest = l.digest WHERE ${IN_REPOSITORY}`,
  tags: (where: string) => `SELECT COUNT(*) AS n FROM repositories r JOIN tags t ON t.repo_id = r.id WHERE ${where}`,
  // From the digest's few links (repo_blobs_by_digest) to their repositories' names.
  holds: (where: string) => `SELECT 1 AS held FROM repo_blobs l JOIN repositories r ON r.id = l.repo_id WHERE l.digest = ? AND ${where} LIMIT 1`,
  // The first repository at or after a name that is in a namespace (skipping those without one, `alpine`).
  nextNamespaced: 'SELECT name FROM repositories WHERE name >= ? AND name LIKE \'%/%\' ORDER BY name LIMIT 1',
};

const quota = (r: Row): QuotaRecord => ({
  namespace: r.namespace as string, repository: r.repository === '' ? null : (r.repository as string),
  bytes: r.bytes === null ? null : Number(r.bytes), tags: r.tags === null ? null : Number(r.tags),
  createdAt: Number(r.createdAt), updatedAt: Number(r.updatedAt),
});

/** The statement's parameters that pick the scope's repositories. */
function scopeParams(s: QuotaScope): { where: string; params: string[] } {
  return s.repository === null
    ? { where: IN_NAMESPACE, params: [`${s.namespace}/`, `${s.namespace}0`] }
    : { where: IN_REPOSITORY, params: [s.repository] };
}

export class SqlQuotas implements QuotaStore {
  constructor(private readonly d: SqlDeps) {}

  async set(scope: QuotaScope, limits: QuotaLimits): Promise<QuotaRecord> {
    const now = this.d.clock.now();
    await this.d.x.run(P.set, scope.namespace, scope.repository ?? '', limits.bytes, limits.tags, now, now);
    return (await this.get(scope))!;
  }

  async remove(scope: QuotaScope): Promise<boolean> {
    return (await this.d.x.run(P.remove, scope.namespace, scope.repository ?? '')) > 0;
  }

  async get(scope: QuotaScope): Promise<QuotaRecord | null> {
    const r = await this.d.x.get<Row>(P.get, scope.namespace, scope.repository ?? '');
    return r ? quota(r) : null;
  }

  async list(): Promise<QuotaRecord[]> {
    return (await this.d.x.all<Row>(P.list)).map(quota);
  }

  async forRepository(namespace: string, repository: string): Promise<QuotaRecord[]> {
    return (await this.d.x.all<Row>(P.forRepository, namespace, repository)).map(quota);
  }

  async storedBytes(scope: QuotaScope): Promise<number> {
    const { params } = scopeParams(scope);
    // SUM of BIGINT is NUMERIC on PostgreSQL (a string to node-postgres).
    return Number((await this.d.x.get<{ n: unknown }>(scope.repository === null ? P.namespaceBytes : P.repositoryBytes, ...params))!.n);
  }

  async tagCount(scope: QuotaScope): Promise<number> {
    const { where, params } = scopeParams(scope);
    return Number((await this.d.x.get<{ n: unknown }>(P.tags(where), ...params))!.n);
  }

  async holds(scope: QuotaScope, digest: string): Promise<boolean> {
    const { where, params } = scopeParams(scope);
    return (await this.d.x.get(P.holds(where), digest, ...params)) !== undefined;
  }

  async bytesByNamespace(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    // One step per namespace: find its first repository, count it, jump past its range.
    for (let from = ''; ;) {
      const next = await this.d.x.get<{ name: string }>(P.nextNamespaced, from);
      if (!next) return out;
      const namespace = next.name.slice(0, next.name.indexOf('/'));
      out.set(namespace, await this.storedBytes({ namespace, repository: null }));
      from = `${namespace}0`;
    }
  }
}
