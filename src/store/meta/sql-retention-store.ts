// Retention policies and what a retention run reads of a repository, in the same portable SQL as the rest
// of the MetaStore (sql-meta-store.ts). A policy on a whole namespace has repository '' in the table (keys
// cannot hold NULL portably); the interface says null. A rule that is not set is NULL.
import type { RetentionRules } from '../../config/retention-rules.js';
import { upsert } from './dialect.js';
import type { RetentionContents, RetentionPolicyRecord, RetentionStore } from './meta-store.js';
import type { Row } from './sql-database.js';
import type { SqlDeps } from './sql-meta-store.js';

const POLICY = `namespace, repository, keep_last AS "keepLast", match_tags AS "match", keep_within AS "keepWithin", keep_tags AS "keep",
  untagged_older_than AS "untaggedOlderThan", created_at AS "createdAt", updated_at AS "updatedAt"`;
const RULE_COLUMNS = ['keep_last', 'match_tags', 'keep_within', 'keep_tags', 'untagged_older_than'];

const P = {
  // A replacement keeps the first policy's created_at.
  setPolicy: upsert('retention_policies', ['namespace', 'repository', ...RULE_COLUMNS, 'created_at', 'updated_at'], ['namespace', 'repository'], [...RULE_COLUMNS, 'updated_at']),
  policy: `SELECT ${POLICY} FROM retention_policies WHERE namespace = ? AND repository = ?`,
  removePolicy: 'DELETE FROM retention_policies WHERE namespace = ? AND repository = ?',
  allPolicies: `SELECT ${POLICY} FROM retention_policies`,
  policiesIn: `SELECT ${POLICY} FROM retention_policies WHERE namespace = ?`,

  tags: 'SELECT name AS tag, digest, updated_at AS "pushedAt" FROM tags WHERE repo_id = ?',
  manifests: 'SELECT digest, created_at AS "createdAt", subject FROM manifests WHERE repo_id = ? ORDER BY created_at, digest',
  children: `SELECT digest AS "from", ref AS "to" FROM manifest_refs WHERE repo_id = ? AND kind = 'child'`,
  // When a tag last left each digest: the time of the entry after one that pointed the tag at it.
  untaggedAt: `SELECT x.digest, MAX(x.left_at) AS "untaggedAt" FROM (
      SELECT h.digest, (SELECT MIN(n.at) FROM tag_history n WHERE n.repo_id = h.repo_id AND n.name = h.name AND n.seq > h.seq) AS left_at
      FROM tag_history h WHERE h.repo_id = ? AND h.digest IS NOT NULL) x
    WHERE x.left_at IS NOT NULL GROUP BY x.digest`,
};

const orNull = <T>(v: T | undefined): T | null => v ?? null;

function policy(r: Row): RetentionPolicyRecord {
  const rules: RetentionRules = {};
  if (r.keepLast !== null) rules.keepLast = Number(r.keepLast);
  if (r.match !== null) rules.match = r.match as string;
  if (r.keepWithin !== null) rules.keepWithin = Number(r.keepWithin);
  if (r.keep !== null) rules.keep = r.keep as string;
  if (r.untaggedOlderThan !== null) rules.untaggedOlderThan = Number(r.untaggedOlderThan);
  return {
    namespace: r.namespace as string, repository: r.repository === '' ? null : (r.repository as string), rules,
    createdAt: Number(r.createdAt), updatedAt: Number(r.updatedAt),
  };
}

/** Namespaces, then each namespace's own policy before its repositories', in byte order on every database. */
const byTarget = (a: RetentionPolicyRecord, b: RetentionPolicyRecord): number => {
  const ka = `${a.namespace}\0${a.repository ?? ''}`;
  const kb = `${b.namespace}\0${b.repository ?? ''}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
};

export class SqlRetention implements RetentionStore {
  constructor(private readonly d: SqlDeps) {}

  set(namespace: string, repository: string | null, rules: RetentionRules): Promise<boolean> {
    return this.d.x.atomic(async (x) => {
      const existed = (await x.get(P.policy, namespace, repository ?? '')) !== undefined;
      const now = this.d.clock.now();
      await x.run(P.setPolicy, namespace, repository ?? '', orNull(rules.keepLast), orNull(rules.match), orNull(rules.keepWithin), orNull(rules.keep),
        orNull(rules.untaggedOlderThan), now, now);
      return !existed;
    });
  }

  async get(namespace: string, repository: string | null): Promise<RetentionPolicyRecord | null> {
    const r = await this.d.x.get(P.policy, namespace, repository ?? '');
    return r === undefined ? null : policy(r);
  }

  async remove(namespace: string, repository: string | null): Promise<boolean> {
    return (await this.d.x.run(P.removePolicy, namespace, repository ?? '')) > 0;
  }

  async list(namespace?: string): Promise<RetentionPolicyRecord[]> {
    const rows = namespace === undefined ? await this.d.x.all(P.allPolicies) : await this.d.x.all(P.policiesIn, namespace);
    return rows.map(policy).sort(byTarget);
  }

  async contents(repoId: number): Promise<RetentionContents> {
    const x = this.d.x;
    const untaggedAt = new Map<string, number>();
    for (const r of await x.all<{ digest: string; untaggedAt: number }>(P.untaggedAt, repoId)) untaggedAt.set(r.digest, Number(r.untaggedAt));
    return {
      tags: (await x.all<{ tag: string; digest: string; pushedAt: number }>(P.tags, repoId)).map((t) => ({ ...t, pushedAt: Number(t.pushedAt) })),
      manifests: (await x.all<{ digest: string; createdAt: number; subject: string | null }>(P.manifests, repoId))
        .map((m) => ({ ...m, createdAt: Number(m.createdAt) })),
      children: await x.all(P.children, repoId),
      untaggedAt,
    };
  }
}
