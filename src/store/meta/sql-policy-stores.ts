// Repository policies in the same portable SQL as the rest of the MetaStore (sql-meta-store.ts):
// immutable tag patterns. A rule on a whole namespace has repository '' in the table (keys cannot hold
// NULL portably); the interface says null.
import type { ImmutableTagRule, ImmutableTagStore } from './meta-store.js';
import type { Row } from './sql-database.js';
import type { SqlDeps } from './sql-meta-store.js';

const RULE = 'namespace, repository, pattern, created_at AS "createdAt"';

const P = {
  addRule: 'INSERT INTO immutable_tags (namespace, repository, pattern, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
  removeRule: 'DELETE FROM immutable_tags WHERE namespace = ? AND repository = ? AND pattern = ?',
  allRules: `SELECT ${RULE} FROM immutable_tags ORDER BY namespace, repository, pattern`,
  rulesIn: `SELECT ${RULE} FROM immutable_tags WHERE namespace = ? ORDER BY repository, pattern`,
  // Walks the primary key: (namespace, '') and (namespace, repository).
  rulesFor: `SELECT ${RULE} FROM immutable_tags WHERE namespace = ? AND repository IN ('', ?) ORDER BY repository, pattern`,
};

const rule = (r: Row): ImmutableTagRule => ({
  namespace: r.namespace as string, repository: r.repository === '' ? null : (r.repository as string),
  pattern: r.pattern as string, createdAt: r.createdAt as number,
});

export class SqlImmutableTags implements ImmutableTagStore {
  constructor(private readonly d: SqlDeps) {}

  async add(namespace: string, repository: string | null, pattern: string): Promise<boolean> {
    return (await this.d.x.run(P.addRule, namespace, repository ?? '', pattern, this.d.clock.now())) > 0;
  }

  async remove(namespace: string, repository: string | null, pattern: string): Promise<boolean> {
    return (await this.d.x.run(P.removeRule, namespace, repository ?? '', pattern)) > 0;
  }

  async list(namespace?: string): Promise<ImmutableTagRule[]> {
    const rows = namespace === undefined ? await this.d.x.all(P.allRules) : await this.d.x.all(P.rulesIn, namespace);
    return rows.map(rule);
  }

  async forRepository(namespace: string, repository: string): Promise<ImmutableTagRule[]> {
    return (await this.d.x.all(P.rulesFor, namespace, repository)).map(rule);
  }
}
