// One migration set, in SQL that both SQLite and PostgreSQL accept.
export const migrations: string[] = [
  `CREATE TABLE repositories (
     id INTEGER PRIMARY KEY,
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
];
