// One migration set, in SQL that both SQLite and PostgreSQL accept; the dialect fills in the little
// that differs. Applied migrations are never edited: a change is a new entry at the end.
import type { SqlDialect } from './dialect.js';

export const migrations: ((d: SqlDialect) => string)[] = [
  (d) => `CREATE TABLE repositories (
     id ${d.identityPrimaryKey},
     name TEXT NOT NULL UNIQUE,
     created_at BIGINT NOT NULL
   );
   CREATE TABLE blobs (
     digest TEXT PRIMARY KEY,
     size BIGINT NOT NULL
   );
   CREATE TABLE repo_blobs (
     repo_id INTEGER NOT NULL REFERENCES repositories(id),
     digest TEXT NOT NULL REFERENCES blobs(digest),
     PRIMARY KEY (repo_id, digest)
   );
   CREATE TABLE manifests (
     repo_id INTEGER NOT NULL REFERENCES repositories(id),
     digest TEXT NOT NULL,
     media_type TEXT NOT NULL,
     size BIGINT NOT NULL,
     artifact_type TEXT,
     subject TEXT,
     annotations TEXT,
     created_at BIGINT NOT NULL,
     PRIMARY KEY (repo_id, digest)
   );
   CREATE INDEX manifests_by_subject ON manifests (repo_id, subject);
   CREATE TABLE manifest_refs (
     repo_id INTEGER NOT NULL,
     digest TEXT NOT NULL,
     ref TEXT NOT NULL,
     kind TEXT NOT NULL,
     PRIMARY KEY (repo_id, digest, ref, kind)
   );
   CREATE TABLE tags (
     repo_id INTEGER NOT NULL REFERENCES repositories(id),
     name TEXT NOT NULL,
     digest TEXT NOT NULL,
     updated_at BIGINT NOT NULL,
     PRIMARY KEY (repo_id, name)
   );
   CREATE TABLE tag_history (
     repo_id INTEGER NOT NULL,
     name TEXT NOT NULL,
     digest TEXT,
     at BIGINT NOT NULL
   );
   CREATE INDEX tag_history_by_tag ON tag_history (repo_id, name, at);
   CREATE TABLE uploads (
     id TEXT PRIMARY KEY,
     repo_id INTEGER NOT NULL REFERENCES repositories(id),
     created_at BIGINT NOT NULL,
     updated_at BIGINT NOT NULL
   );`,
  // Timestamps on blob links (garbage collection's grace period), the state of an upload (so that any
  // process can continue it), leases for jobs, and the indexes the lookups by digest need.
  // Links made before this migration get 0: "older than any grace period", which is what they are.
  () => `ALTER TABLE repo_blobs ADD COLUMN created_at BIGINT NOT NULL DEFAULT 0;
   ALTER TABLE uploads ADD COLUMN byte_offset BIGINT NOT NULL DEFAULT 0;
   ALTER TABLE uploads ADD COLUMN algorithm TEXT NOT NULL DEFAULT 'sha256';
   ALTER TABLE uploads ADD COLUMN driver_state TEXT;
   CREATE INDEX uploads_by_idle ON uploads (updated_at);
   CREATE INDEX repo_blobs_by_digest ON repo_blobs (digest);
   CREATE INDEX tags_by_digest ON tags (repo_id, digest);
   CREATE TABLE leases (
     name TEXT PRIMARY KEY,
     holder TEXT NOT NULL,
     expires_at BIGINT NOT NULL
   );`,
  // Online garbage collection: digests whose bytes a collector is deleting (linking one is refused
  // until the bytes are gone), claims of processes about to write a blob's bytes (a collector never
  // marks a claimed digest), and the record of each collection.
  (d) => `CREATE TABLE blob_deletions (
     digest TEXT PRIMARY KEY,
     marked_at BIGINT NOT NULL
   );
   CREATE TABLE blob_claims (
     digest TEXT NOT NULL,
     holder TEXT NOT NULL,
     claimed_at BIGINT NOT NULL,
     PRIMARY KEY (digest, holder)
   );
   CREATE TABLE gc_runs (
     id ${d.identityPrimaryKey},
     started_at BIGINT NOT NULL,
     finished_at BIGINT NOT NULL,
     dry_run INTEGER NOT NULL,
     report TEXT NOT NULL
   );
   CREATE INDEX manifest_refs_by_ref ON manifest_refs (repo_id, ref);`,
  // Who may do what (auth.mode builtin): accounts, organizations, teams, robots, tokens, role grants on
  // a namespace or one repository, repository visibility, the audit log and the token signing keys.
  // Users and organizations share one namespace of names; the code checks it in the same transaction.
  (d) => `CREATE TABLE users (
     id ${d.identityPrimaryKey},
     name TEXT NOT NULL UNIQUE,
     password_hash TEXT NOT NULL,
     admin INTEGER NOT NULL DEFAULT 0,
     created_at BIGINT NOT NULL
   );
   CREATE TABLE organizations (
     id ${d.identityPrimaryKey},
     name TEXT NOT NULL UNIQUE,
     visibility TEXT NOT NULL DEFAULT 'private',
     created_at BIGINT NOT NULL
   );
   CREATE TABLE teams (
     id ${d.identityPrimaryKey},
     org_id INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
     name TEXT NOT NULL,
     created_at BIGINT NOT NULL,
     UNIQUE (org_id, name)
   );
   CREATE TABLE team_members (
     team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
     user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
     PRIMARY KEY (team_id, user_id)
   );
   CREATE INDEX team_members_by_user ON team_members (user_id);
   CREATE TABLE robots (
     id ${d.identityPrimaryKey},
     org_id INTEGER NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
     name TEXT NOT NULL,
     secret_hash TEXT NOT NULL,
     created_at BIGINT NOT NULL,
     expires_at BIGINT,
     last_used_at BIGINT,
     UNIQUE (org_id, name)
   );
   CREATE TABLE grants (
     principal_kind TEXT NOT NULL,
     principal_id INTEGER NOT NULL,
     namespace TEXT NOT NULL,
     repository TEXT NOT NULL,
     role TEXT NOT NULL,
     created_at BIGINT NOT NULL,
     PRIMARY KEY (principal_kind, principal_id, namespace, repository)
   );
   CREATE INDEX grants_by_namespace ON grants (namespace);
   CREATE TABLE access_tokens (
     id ${d.identityPrimaryKey},
     kind TEXT NOT NULL,
     owner_kind TEXT NOT NULL,
     owner_id INTEGER NOT NULL,
     name TEXT NOT NULL,
     secret_hash TEXT NOT NULL,
     actions TEXT,
     created_at BIGINT NOT NULL,
     expires_at BIGINT,
     last_used_at BIGINT,
     revoked_at BIGINT
   );
   CREATE INDEX access_tokens_by_owner ON access_tokens (owner_kind, owner_id, kind);
   CREATE UNIQUE INDEX access_tokens_by_secret ON access_tokens (secret_hash);
   ALTER TABLE repositories ADD COLUMN visibility TEXT;
   CREATE TABLE audit_log (
     id ${d.identityPrimaryKey},
     at BIGINT NOT NULL,
     actor TEXT NOT NULL,
     actor_kind TEXT NOT NULL,
     remote TEXT NOT NULL,
     action TEXT NOT NULL,
     target TEXT NOT NULL,
     outcome TEXT NOT NULL,
     detail TEXT
   );
   CREATE INDEX audit_log_by_actor ON audit_log (actor, id);
   CREATE TABLE signing_keys (
     kid TEXT PRIMARY KEY,
     private_key TEXT NOT NULL,
     created_at BIGINT NOT NULL,
     superseded_at BIGINT
   );`,
  // Catalog and tag lists in byte order on every database (a no-op on SQLite).
  (d) => `${d.byteOrder('repositories', 'name')} ${d.byteOrder('tags', 'name')}`,
  // Tag history in order within each repository (`seq`, numbered under the repository's lock), for the
  // history API's newest-first pages and the "until" of each entry. Entries made before get their rank by time.
  () => `ALTER TABLE tag_history ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
   UPDATE tag_history SET seq = (SELECT COUNT(*) FROM tag_history h WHERE h.repo_id = tag_history.repo_id AND h.at <= tag_history.at);
   CREATE INDEX tag_history_by_seq ON tag_history (repo_id, seq);
   CREATE INDEX tag_history_by_tag_seq ON tag_history (repo_id, name, seq);`,
  // Immutable tags: patterns on a namespace (repository '') or one repository (its full name).
  () => `CREATE TABLE immutable_tags (
     namespace TEXT NOT NULL,
     repository TEXT NOT NULL,
     pattern TEXT NOT NULL,
     created_at BIGINT NOT NULL,
     PRIMARY KEY (namespace, repository, pattern)
   );`,
  // Quotas: limits on the bytes (each blob once per scope) and the tags of a namespace (repository '') or
  // one repository (its full name); a NULL limit is none. Usage is computed from the links and tags.
  () => `CREATE TABLE quotas (
     namespace TEXT NOT NULL,
     repository TEXT NOT NULL,
     bytes BIGINT,
     tags BIGINT,
     created_at BIGINT NOT NULL,
     updated_at BIGINT NOT NULL,
     PRIMARY KEY (namespace, repository)
   );`,
  // Retention policies: on a namespace (repository '') or one repository (its full name); a rule not set is NULL.
  () => `CREATE TABLE retention_policies (
     namespace TEXT NOT NULL,
     repository TEXT NOT NULL,
     keep_last INTEGER,
     match_tags TEXT,
     keep_within BIGINT,
     keep_tags TEXT,
     untagged_older_than BIGINT,
     created_at BIGINT NOT NULL,
     updated_at BIGINT NOT NULL,
     PRIMARY KEY (namespace, repository)
   );`,
  // Webhooks: subscriptions on a namespace (repository '') or one repository, the outbox of deliveries
  // still to make (written in the unit of work that makes the change), and the log of attempts.
  (d) => `CREATE TABLE webhooks (
     id ${d.identityPrimaryKey},
     namespace TEXT NOT NULL,
     repository TEXT NOT NULL,
     url TEXT NOT NULL,
     events TEXT NOT NULL,
     repositories TEXT,
     tags TEXT,
     format TEXT NOT NULL,
     secret TEXT NOT NULL,
     enabled INTEGER NOT NULL,
     batch INTEGER NOT NULL DEFAULT 1,
     created_at BIGINT NOT NULL,
     updated_at BIGINT NOT NULL
   );
   CREATE INDEX webhooks_by_target ON webhooks (namespace, repository);
   CREATE TABLE webhook_outbox (
     id ${d.identityPrimaryKey},
     webhook_id INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
     event_id TEXT NOT NULL,
     event_type TEXT NOT NULL,
     payload TEXT NOT NULL,
     created_at BIGINT NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0,
     next_attempt_at BIGINT NOT NULL,
     claim_holder TEXT,
     claimed_until BIGINT NOT NULL DEFAULT 0
   );
   CREATE INDEX webhook_outbox_by_due ON webhook_outbox (next_attempt_at);
   CREATE INDEX webhook_outbox_by_webhook ON webhook_outbox (webhook_id);
   CREATE TABLE webhook_deliveries (
     id ${d.identityPrimaryKey},
     webhook_id INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
     event_id TEXT NOT NULL,
     event_type TEXT NOT NULL,
     attempt INTEGER NOT NULL,
     at BIGINT NOT NULL,
     duration_ms INTEGER NOT NULL,
     status INTEGER,
     response TEXT,
     error TEXT,
     outcome TEXT NOT NULL
   );
   CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, id);`,
  // The outbox in two parts, so that recording an event (in every push's unit of work) writes one row to
  // a table without secondary indexes: webhook_outbox keeps deliveries never attempted (claimed oldest
  // first by id), webhook_retries those that failed (or wait for a disabled subscription), by due time.
  (d) => `CREATE TABLE webhook_retries (
     id ${d.identityPrimaryKey},
     webhook_id INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
     event_id TEXT NOT NULL,
     event_type TEXT NOT NULL,
     payload TEXT NOT NULL,
     created_at BIGINT NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0,
     next_attempt_at BIGINT NOT NULL,
     claim_holder TEXT,
     claimed_until BIGINT NOT NULL DEFAULT 0
   );
   CREATE INDEX webhook_retries_by_due ON webhook_retries (next_attempt_at);
   CREATE INDEX webhook_retries_by_webhook ON webhook_retries (webhook_id);
   INSERT INTO webhook_retries (webhook_id, event_id, event_type, payload, created_at, attempts, next_attempt_at, claim_holder, claimed_until)
     SELECT o.webhook_id, o.event_id, o.event_type, o.payload, o.created_at, o.attempts, o.next_attempt_at, o.claim_holder, o.claimed_until
     FROM webhook_outbox o JOIN webhooks w ON w.id = o.webhook_id WHERE o.attempts > 0 OR w.enabled = 0;
   DELETE FROM webhook_outbox WHERE id IN (SELECT o.id FROM webhook_outbox o JOIN webhooks w ON w.id = o.webhook_id WHERE o.attempts > 0 OR w.enabled = 0);
   DROP INDEX webhook_outbox_by_due;
   DROP INDEX webhook_outbox_by_webhook;`,
];
