// A fleet: N `wharf serve` processes sharing one metadata store and one blob store, behind a
// round-robin proxy (round-robin-proxy.ts), as Wharf runs scaled out behind a load balancer.
//
// What they share comes from sharedStore(), the one place that decides it:
// - WHARF_TEST_POSTGRES_URL set (npm test starts a PostgreSQL and sets it): a fresh database on that
//   server and a fresh bucket on the test S3 endpoint; every process has its own empty data directory.
//   This is the scale-out setup the fleet tests are about.
// - not set: a stand-in. Every process gets the SAME data directory, so they share its SQLite database,
//   and its blobs (fs) or, when WHARF_TEST_S3_ENDPOINT is set, a fresh bucket. Several processes on one
//   SQLite file behave much like several on one PostgreSQL database, but not in everything (locking,
//   isolation), so a diagnostic says which setup ran.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startWharf, type WharfServer } from './server.js';
import { createTestBucket, s3ServerEnv } from './s3.js';
import { startRoundRobinProxy, type RoundRobinProxy } from './round-robin-proxy.js';
import { loadConfig } from '../../src/config/config.js';
import { systemClock } from '../../src/config/clock.js';
import { openStores, type Stores } from '../../src/store/open-stores.js';

export interface SharedStore {
  /** What the processes share, for messages and diagnostics. */
  description: string;
  /** true: PostgreSQL and S3, each process with its own data directory; false: the shared-directory stand-in. */
  scaleOut: boolean;
  /** WHARF_* variables every process gets. */
  env: Record<string, string>;
  /** The data directory of process `i`. */
  dataDir(i: number): string;
  /** The bucket holding the blobs, when they are on S3. */
  bucket?: string;
  /** The database, when the metadata is on PostgreSQL. */
  databaseUrl?: string;
  /** Opens the same stores the processes use, in this process (to look at leases, say). Close them after. */
  openStores(): Promise<Stores>;
  /** Drops the database, removes the bucket and the directories. */
  cleanup(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL: a fresh database per fleet, made with the `pg` package when installed, else psql.
// ---------------------------------------------------------------------------------------------

interface PgClient {
  connect(): Promise<void>;
  query(sql: string): Promise<unknown>;
  end(): Promise<void>;
}
type PgModule = { Client: new (o: { connectionString: string }) => PgClient };

async function loadPg(): Promise<PgModule | null> {
  // A variable, so that neither TypeScript nor a bundler insists on the package being there.
  const name = 'pg';
  try {
    const m = (await import(name)) as { default?: PgModule } & Partial<PgModule>;
    return m.default?.Client ? m.default : m.Client ? (m as PgModule) : null;
  } catch {
    return null;
  }
}

function findPsql(): string | null {
  for (const p of ['/usr/lib/postgresql/15/bin/psql', '/usr/bin/psql']) if (existsSync(p)) return p;
  const r = spawnSync('sh', ['-c', 'command -v psql'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : null;
}

/** Runs one statement as the administrator of the server `baseUrl` names. */
export async function postgresAdmin(baseUrl: string, sql: string): Promise<void> {
  const pg = await loadPg();
  if (pg) {
    const c = new pg.Client({ connectionString: baseUrl });
    await c.connect();
    try { await c.query(sql); } finally { await c.end(); }
    return;
  }
  const psql = findPsql();
  if (!psql) throw new Error('neither the pg package nor psql is installed: cannot create a database on WHARF_TEST_POSTGRES_URL (apt-get install postgresql-client)');
  const r = spawnSync(psql, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', baseUrl, '-c', sql], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`psql failed (${r.status ?? r.signal}) running ${sql}: ${r.stderr || r.error?.message}`);
}

/** A fresh, empty database on the server `baseUrl` names; `drop()` removes it (and ends its sessions). */
export async function createTestDatabase(baseUrl: string): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  const name = `wharf_test_${randomBytes(6).toString('hex')}`;
  await postgresAdmin(baseUrl, `CREATE DATABASE "${name}"`);
  const u = new URL(baseUrl);
  u.pathname = `/${name}`;
  return { name, url: u.toString(), drop: () => postgresAdmin(baseUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`) };
}

// ---------------------------------------------------------------------------------------------
// The shared stores
// ---------------------------------------------------------------------------------------------

let announced = false;

/** Decides, once, what a fleet shares (see the top of this file). */
export async function sharedStore(): Promise<SharedStore> {
  const pgBase = process.env.WHARF_TEST_POSTGRES_URL;
  const dirs: string[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async (): Promise<void> => {
    const errors: unknown[] = [];
    for (const c of cleanups.reverse()) await c().catch((e: unknown) => errors.push(e));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    if (errors.length) throw errors[0];
  };
  const open = (env: Record<string, string>, dataDir: string) => (): Promise<Stores> => openStores(loadConfig({ env: { ...env, WHARF_DATA: dataDir } }), systemClock);
  try {
    if (pgBase) {
      const db = await createTestDatabase(pgBase);
      cleanups.push(() => db.drop());
      const bucket = await createTestBucket();
      cleanups.push(() => bucket.remove());
      const env = { WHARF_META_DRIVER: 'postgres', WHARF_META_POSTGRES_URL: db.url, ...s3ServerEnv(bucket.name) };
      const own = new Map<number, string>();
      const dataDir = (i: number): string => {
        let d = own.get(i);
        if (!d) {
          d = mkdtempSync(join(tmpdir(), `wharf-fleet-${i}-`));
          dirs.push(d);
          own.set(i, d);
        }
        return d;
      };
      const scratch = mkdtempSync(join(tmpdir(), 'wharf-fleet-probe-'));
      dirs.push(scratch);
      return {
        description: `PostgreSQL database ${db.name} and S3 bucket ${bucket.name}; each process with its own data directory`,
        scaleOut: true, env, dataDir, bucket: bucket.name, databaseUrl: db.url, openStores: open(env, scratch), cleanup,
      };
    }
    const shared = mkdtempSync(join(tmpdir(), 'wharf-fleet-shared-'));
    dirs.push(shared);
    let env: Record<string, string> = {};
    let bucket: string | undefined;
    if (process.env.WHARF_TEST_S3_ENDPOINT) {
      const b = await createTestBucket();
      cleanups.push(() => b.remove());
      bucket = b.name;
      env = s3ServerEnv(b.name);
    }
    const description = `STAND-IN: one SQLite database in one data directory (${shared}) shared by every process, blobs ${bucket ? `in S3 bucket ${bucket}` : 'on fs in that directory'}`;
    if (!announced) {
      announced = true;
      process.stderr.write('# fleet: WHARF_TEST_POSTGRES_URL is not set, so the processes do not run as they would scaled out (PostgreSQL + S3,\n'
        + '# fleet: each with its own data directory). They share ONE data directory and its SQLite database instead:\n'
        + `# fleet: ${description}.\n`);
    }
    return { description, scaleOut: false, env, dataDir: () => shared, bucket, openStores: open(env, shared), cleanup };
  } catch (e) {
    await cleanup().catch(() => undefined);
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// The fleet
// ---------------------------------------------------------------------------------------------

export interface FleetLogLine {
  /** Which process (index in the fleet). */
  i: number;
  pid: number;
  /** When this process received the line (ms since the epoch). */
  at: number;
  rec: Record<string, unknown>;
}

export interface FleetOptions {
  /** How many processes; default 3. */
  size?: number;
  /** What they share; default sharedStore(). The fleet cleans it up when it stops. */
  store?: SharedStore;
  /** More WHARF_* variables for every process (e.g. a short gc.interval). */
  env?: Record<string, string>;
  /** Called with every log line of every process. */
  onLog?: (line: FleetLogLine) => void;
}

export interface Fleet {
  size: number;
  store: SharedStore;
  proxy: RoundRobinProxy;
  /** http://127.0.0.1:PORT of the proxy */
  url: string;
  /** 127.0.0.1:PORT of the proxy */
  addr: string;
  /** Every log line of every process, in the order received. */
  logs: FleetLogLine[];
  /** The running process `i` (throws when it is not running). */
  server(i: number): WharfServer;
  /** http://host:port of process `i` itself (not through the proxy). */
  urlOf(i: number): string;
  /** Indexes of the running processes. */
  alive(): number[];
  /** SIGKILL process `i` (its slot in the proxy then refuses connections and is skipped). */
  kill(i: number): Promise<void>;
  /** Stops (SIGTERM) process `i` if it runs, starts it again with the same data directory, points the proxy at it. */
  restart(i: number): Promise<void>;
  /** Stops the proxy and every process, then cleans up the store. */
  stop(): Promise<void>;
}

export async function startFleet(opts: FleetOptions = {}): Promise<Fleet> {
  const size = opts.size ?? 3;
  const store = opts.store ?? await sharedStore();
  const logs: FleetLogLine[] = [];
  const servers: (WharfServer | null)[] = Array.from({ length: size }, () => null);
  let proxy: RoundRobinProxy | null = null;

  const start = async (i: number): Promise<WharfServer> => {
    const dataDir = store.dataDir(i);
    let pid = 0;
    const early: { at: number; rec: Record<string, unknown> }[] = [];
    const s = await startWharf({
      dataDir,
      env: { ...store.env, ...opts.env },
      timeoutMs: 30_000,
      onLog: (rec) => {
        if (pid === 0) { early.push({ at: Date.now(), rec }); return; }
        const line = { i, pid, at: Date.now(), rec };
        logs.push(line);
        opts.onLog?.(line);
      },
    });
    pid = s.proc.pid ?? -1;
    for (const { at, rec } of early) {
      const line = { i, pid, at, rec };
      logs.push(line);
      opts.onLog?.(line);
    }
    if (store.scaleOut) {
      // A process that ignored the shared stores would keep its own in its data directory.
      const local = ['meta.db', 'blobs'].filter((f) => existsSync(join(dataDir, f)));
      if (local.length) {
        await s.kill();
        throw new Error(`fleet process ${i} keeps ${local.join(' and ')} in its own data directory ${dataDir}: it did not take the shared stores `
          + `(${Object.keys(store.env).filter((k) => !k.includes('SECRET')).join(', ')}). Is the PostgreSQL driver in this build?`);
      }
    }
    return s;
  };

  const stopAll = async (): Promise<void> => {
    const errors: unknown[] = [];
    await proxy?.close().catch((e: unknown) => errors.push(e));
    await Promise.all(servers.map(async (s, i) => {
      if (!s) return;
      servers[i] = null;
      await s.stop().catch((e: unknown) => errors.push(e));
    }));
    await store.cleanup().catch((e: unknown) => errors.push(e));
    if (errors.length) throw errors[0];
  };

  try {
    // Together, as a deployment starts them (the first start of a database races its migrations).
    const started = await Promise.allSettled(Array.from({ length: size }, (_, i) => start(i)));
    started.forEach((r, i) => { if (r.status === 'fulfilled') servers[i] = r.value; });
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    proxy = await startRoundRobinProxy(servers.map((s) => s!.addr));
  } catch (e) {
    await stopAll().catch(() => undefined);
    throw e;
  }
  const p = proxy;

  const server = (i: number): WharfServer => {
    const s = servers[i];
    if (!s) throw new Error(`fleet process ${i} is not running`);
    return s;
  };

  return {
    size,
    store,
    proxy: p,
    url: p.url,
    addr: p.addr,
    logs,
    server,
    urlOf: (i) => server(i).url,
    alive: () => servers.flatMap((s, i) => (s ? [i] : [])),
    async kill(i) {
      const s = server(i);
      servers[i] = null;
      await s.kill();
    },
    async restart(i) {
      const old = servers[i];
      servers[i] = null;
      await old?.stop();
      const s = await start(i);
      servers[i] = s;
      p.setUpstream(i, s.addr);
    },
    stop: stopAll,
  };
}
