// One typed configuration: defaults < config file (YAML or JSON) < WHARF_* environment < flags.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseDuration, parseSize } from './units.js';
import { WharfError } from '../oci/errors.js';
import { isValidTagPattern } from '../oci/tag-patterns.js';
import { retentionRulesFrom } from './retention-rules.js';

const duration = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const ms = parseDuration(v);
  if (ms === null) {
    ctx.addIssue({ code: 'custom', message: `expected a duration such as 30s, 10m or 24h, got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return ms;
});

const size = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const n = parseSize(v);
  if (n === null) {
    ctx.addIssue({ code: 'custom', message: `expected a size such as 4MiB or 512k, got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return n;
});

const boolish = z.union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no'])]).transform((v) => v === true || v === 'true' || v === '1' || v === 'yes');

const addr = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, 'expected HOST:PORT, e.g. 0.0.0.0:5000 or [::1]:5000');

export const configSchema = z.object({
  addr: addr.default('0.0.0.0:5000'),
  data: z.string().min(1).default('./data'),
  log: z.object({
    level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
    format: z.enum(['auto', 'json', 'pretty']).default('auto'),
  }).strict().default({ level: 'info', format: 'auto' }),
  storage: z.object({
    driver: z.enum(['fs', 's3']).default('fs'),
    fsync: boolish.default(true),
    // Only with driver s3. Keys unset: the AWS SDK's default chain (AWS_* variables, profiles, roles).
    s3: z.object({
      endpoint: z.url().optional(),
      region: z.string().min(1).optional(),
      bucket: z.string().min(1).optional(),
      prefix: z.string().default(''),
      accessKeyId: z.string().min(1).optional(),
      secretAccessKey: z.string().min(1).optional(),
      forcePathStyle: boolish.default(false),
      redirect: boolish.default(false),
    }).strict().default({ prefix: '', forcePathStyle: false, redirect: false }),
  }).strict().default({ driver: 'fs', fsync: true, s3: { prefix: '', forcePathStyle: false, redirect: false } }),
  // Where the facts live: SQLite in the data directory (one process), or a PostgreSQL that several processes share.
  meta: z.object({
    driver: z.enum(['sqlite', 'postgres']).default('sqlite'),
    postgres: z.object({
      /** A libpq URL (postgres://user:password@host:5432/db?sslmode=require); unset: the PG* variables apply. */
      url: z.string().regex(/^postgres(ql)?:\/\//, 'expected a postgres:// or postgresql:// URL').optional(),
      maxConnections: z.coerce.number().int().min(1).max(1000).default(10),
    }).strict().default({ maxConnections: 10 }),
  }).strict().default({ driver: 'sqlite', postgres: { maxConnections: 10 } }),
  uploads: z.object({
    ttl: duration.default(24 * 3_600_000),
    sweepInterval: duration.default(10 * 60_000),
  }).strict().default({ ttl: 24 * 3_600_000, sweepInterval: 10 * 60_000 }),
  gc: z.object({
    interval: duration.default(3_600_000),
    /** Anything stored or linked more recently than this stays (a push in flight). */
    gracePeriod: duration.default(3_600_000),
    untagged: boolish.default(false),
  }).strict().default({ interval: 3_600_000, gracePeriod: 3_600_000, untagged: false }),
  // Tag history: how long a tag's earlier digests stay restorable (and their manifests kept by gc.untagged).
  history: z.object({
    keep: duration.default(14 * 24 * 3_600_000),
  }).strict().default({ keep: 14 * 24 * 3_600_000 }),
  manifests: z.object({
    maxSize: size.default(4 << 20),
  }).strict().default({ maxSize: 4 << 20 }),
  shutdown: z.object({
    timeout: duration.default(30_000),
  }).strict().default({ timeout: 30_000 }),
  immutable: z.object({
    /** Tag patterns (oci/tag-patterns.ts) immutable in every repository: a list, or comma-separated. */
    patterns: z.union([z.array(z.string()), z.string()])
      .transform((v) => (Array.isArray(v) ? v : v.split(',').map((x) => x.trim()).filter(Boolean)))
      .refine((ps) => ps.every(isValidTagPattern), 'expected tag patterns: the characters of a tag and the wildcards * and ?')
      .default([]),
  }).strict().default({ patterns: [] }),
  // Retention (config/retention-rules.ts): the policy of repositories without one of their own or their
  // namespace's (none by default), and how often the retention job applies policies.
  retention: z.object({
    /** 0 or off: the job never runs (runs through the admin API still do). */
    interval: z.union([z.literal('off'), duration]).transform((v) => (v === 'off' ? 0 : v)).default(3_600_000),
    default: z.object({
      keepLast: z.coerce.number().optional(),
      match: z.string().optional(),
      keepWithin: z.union([z.string(), z.number()]).optional(),
      keep: z.string().optional(),
      untaggedOlderThan: z.union([z.string(), z.number()]).optional(),
    }).strict().optional().transform((v, ctx) => {
      if (v === undefined) return undefined;
      const r = retentionRulesFrom(v);
      if ('problem' in r) {
        ctx.addIssue({ code: 'custom', message: r.problem });
        return z.NEVER;
      }
      return r.rules;
    }),
  }).strict().default({ interval: 3_600_000, default: undefined }),
  // Webhooks (auth.mode builtin): how deliveries are sent and retried.
  webhooks: z.object({
    /** For one whole delivery attempt. */
    timeout: duration.default(10_000),
    retry: z.object({
      /** The wait after the first failed attempt; it doubles after each failure, up to `max` (with jitter). */
      initial: duration.default(10_000),
      max: duration.default(3_600_000),
    }).strict().default({ initial: 10_000, max: 3_600_000 }),
    /** Attempts before a delivery is given up (it stays in the delivery log). */
    maxAttempts: z.coerce.number().int().min(1).max(100).default(10),
    /** Deliveries in flight at once, per process. */
    concurrency: z.coerce.number().int().min(1).max(256).default(8),
    /** CloudEvents `source` of every event; unset: the scheme://host the client addressed. */
    source: z.string().min(1).regex(/^\S+$/, 'a URI reference without spaces').optional(),
  }).strict().default({ timeout: 10_000, retry: { initial: 10_000, max: 3_600_000 }, maxAttempts: 10, concurrency: 8 }),
  auth: z.object({
    // Unset: htpasswd when a file is named, else none (an open registry), as registry:2 decides it.
    mode: z.enum(['none', 'htpasswd', 'certificate', 'builtin']).optional(),
    htpasswd: z.object({
      path: z.string().min(1).optional(),
      realm: z.string().min(1).regex(/^[^"\\\r\n]*$/, 'a realm may not hold quotes, backslashes or line breaks').default('wharf'),
      /** With auth.mode builtin: the file's users who are system administrators (a list, or names separated by commas). */
      admins: z.union([z.array(z.string().min(1)), z.string()]).transform((v) => (Array.isArray(v) ? v : v.split(',').map((x) => x.trim()).filter(Boolean))).default([]),
    }).strict().default({ realm: 'wharf', admins: [] }),
    // auth.mode builtin: accounts, roles and the token service.
    builtin: z.object({
      /** The token endpoint clients are sent to; unset: this server's /token as the client addressed it. */
      realm: z.string().url().regex(/^https?:\/\/[^"\\\s]+$/, 'an http(s) URL without quotes or spaces').optional(),
      /** The service name in challenges and the tokens' audience. */
      service: z.string().min(1).regex(/^[^"\\\s]+$/, 'no quotes, backslashes or spaces').default('wharf'),
      /** The tokens' issuer. */
      issuer: z.string().min(1).default('wharf'),
      tokenLifetime: duration.default(300_000),
      /** OAuth2 refresh tokens (docker login's identity token) expire after this. */
      refreshTokenLifetime: duration.default(90 * 24 * 3_600_000),
      bcryptCost: z.coerce.number().int().min(4).max(15).default(10),
    }).strict().default({ service: 'wharf', issuer: 'wharf', tokenLifetime: 300_000, refreshTokenLifetime: 90 * 24 * 3_600_000, bcryptCost: 10 }),
  }).strict().default({ htpasswd: { realm: 'wharf', admins: [] }, builtin: { service: 'wharf', issuer: 'wharf', tokenLifetime: 300_000, refreshTokenLifetime: 90 * 24 * 3_600_000, bcryptCost: 10 } }),
  // GET /metrics in the Prometheus text format: open on the main listener (like /healthz), or only on its own listener.
  metrics: z.object({
    enabled: boolish.default(true),
    /** HOST:PORT of a separate plain-HTTP listener for /metrics; set, the main listener answers 404 for /metrics. */
    addr: addr.optional(),
    /** How old the storage-per-namespace values may get before a scrape has them computed again. */
    storageRefresh: duration.default(60_000),
  }).strict().default({ enabled: true, storageRefresh: 60_000 }),
  tls: z.object({
    /** PEM certificate (the leaf first, then any intermediates). */
    cert: z.string().min(1).optional(),
    key: z.string().min(1).optional(),
    /** PEM CA certificates that client certificates must chain to; setting it asks clients for one. */
    clientCA: z.string().min(1).optional(),
    /** Without a certificate: refused (require) or let in as anonymous (verify-if-given). Default require. */
    clientAuth: z.enum(['require', 'verify-if-given']).optional(),
    minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
  }).strict().default({ minVersion: 'TLSv1.2' }),
}).strict().superRefine((c, ctx) => {
  const need = (path: string[], message: string): void => { ctx.addIssue({ code: 'custom', path, message }); };
  if (c.storage.driver === 's3' && !c.storage.s3.bucket) need(['storage', 's3', 'bucket'], 'storage.driver s3 needs a bucket: set storage.s3.bucket');
  if ((c.storage.s3.accessKeyId === undefined) !== (c.storage.s3.secretAccessKey === undefined)) {
    need(['storage', 's3', c.storage.s3.accessKeyId === undefined ? 'accessKeyId' : 'secretAccessKey'], 'set both storage.s3.accessKeyId and storage.s3.secretAccessKey, or neither (the AWS_* variables then apply)');
  }
  if (c.auth.mode === 'htpasswd' && c.auth.htpasswd.path === undefined) need(['auth', 'htpasswd', 'path'], 'auth.mode htpasswd needs the file: set auth.htpasswd.path');
  if (c.auth.mode === 'certificate' && !c.tls.clientCA) need(['tls', 'clientCA'], 'auth.mode certificate needs client certificates: set tls.clientCA');
  // Half a TLS setup is a mistake, not a reason to fall back to plain HTTP.
  if (c.tls.cert && !c.tls.key) need(['tls', 'key'], 'required when tls.cert is set');
  if (c.tls.key && !c.tls.cert) need(['tls', 'cert'], 'required when tls.key is set');
  if (c.tls.clientCA && !c.tls.cert && !c.tls.key) need(['tls', 'cert'], 'required when tls.clientCA is set (client certificates need TLS)');
  if (c.tls.clientAuth && !c.tls.clientCA) need(['tls', 'clientCA'], 'required when tls.clientAuth is set');
}).transform((c) => ({ ...c, auth: { ...c.auth, mode: c.auth.mode ?? (c.auth.htpasswd.path !== undefined ? 'htpasswd' as const : 'none' as const) } }));

export type Config = z.output<typeof configSchema>;
type RawConfig = Record<string, unknown>;

/** Every leaf key as a dotted path, e.g. "uploads.ttl", with its WHARF_* variable. */
export const settableKeys: { path: string; env: string }[] = [
  'addr', 'data', 'log.level', 'log.format', 'storage.driver', 'storage.fsync',
  'storage.s3.endpoint', 'storage.s3.region', 'storage.s3.bucket', 'storage.s3.prefix', 'storage.s3.accessKeyId', 'storage.s3.secretAccessKey', 'storage.s3.forcePathStyle', 'storage.s3.redirect',
  'meta.driver', 'meta.postgres.url', 'meta.postgres.maxConnections',
  'uploads.ttl', 'uploads.sweepInterval', 'gc.interval', 'gc.gracePeriod', 'gc.untagged', 'history.keep', 'manifests.maxSize', 'shutdown.timeout', 'immutable.patterns',
  'retention.interval', 'retention.default.keepLast', 'retention.default.match', 'retention.default.keepWithin', 'retention.default.keep', 'retention.default.untaggedOlderThan',
  'auth.mode', 'auth.htpasswd.path', 'auth.htpasswd.realm', 'auth.htpasswd.admins',
  'auth.builtin.realm', 'auth.builtin.service', 'auth.builtin.issuer', 'auth.builtin.tokenLifetime', 'auth.builtin.refreshTokenLifetime', 'auth.builtin.bcryptCost',
  'tls.cert', 'tls.key', 'tls.clientCA', 'tls.clientAuth', 'tls.minVersion',
  'metrics.enabled', 'metrics.addr', 'metrics.storageRefresh',
  'webhooks.timeout', 'webhooks.retry.initial', 'webhooks.retry.max', 'webhooks.maxAttempts', 'webhooks.concurrency', 'webhooks.source',
].map((path) => ({ path, env: `WHARF_${path.replace(/\./g, '_').replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase()}` }));

/** A configuration Wharf cannot start with: `wharf serve` prints it and exits with code 2. */
export class ConfigError extends WharfError {}

export interface ConfigSources {
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Flag values by dotted path. */
  flags?: Record<string, string | undefined>;
}

export function loadConfig(sources: ConfigSources = {}): Config {
  const env = sources.env ?? {};
  const raw: RawConfig = {};
  const file = sources.file ?? env.WHARF_CONFIG;
  if (file) mergeInto(raw, readConfigFile(file));
  for (const { path, env: name } of settableKeys) {
    const v = env[name];
    if (v !== undefined && v !== '') setPath(raw, path, v);
  }
  for (const [path, v] of Object.entries(sources.flags ?? {})) if (v !== undefined) setPath(raw, path, v);
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((i) => {
      const key = i.path.join('.') || '(top level)';
      const envName = settableKeys.find((k) => k.path === key)?.env;
      return `  ${key}${envName ? ` (${envName})` : ''}: ${i.message}`;
    });
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  return result.data;
}

function readConfigFile(path: string): RawConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config file ${path}: ${(e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text); // YAML is a superset of JSON
  } catch (e) {
    throw new ConfigError(`config file ${path} is not valid YAML/JSON: ${(e as Error).message}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`config file ${path} must hold a mapping of keys`);
  return doc as RawConfig;
}

function mergeInto(target: RawConfig, src: RawConfig): void {
  for (const [k, v] of Object.entries(src)) {
    if (v && typeof v === 'object' && !Array.isArray(v) && target[k] && typeof target[k] === 'object') mergeInto(target[k] as RawConfig, v as RawConfig);
    else target[k] = v;
  }
}

function setPath(target: RawConfig, path: string, value: unknown): void {
  const keys = path.split('.');
  let o = target;
  for (const k of keys.slice(0, -1)) {
    if (!o[k] || typeof o[k] !== 'object') o[k] = {};
    o = o[k] as RawConfig;
  }
  o[keys[keys.length - 1]!] = value;
}

/** Splits HOST:PORT (IPv6 in brackets). */
export function splitAddr(a: string): { host: string; port: number } {
  const i = a.lastIndexOf(':');
  const host = a.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(a.slice(i + 1)) };
}
