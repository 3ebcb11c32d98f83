// `npm test` after the build: starts what the tests need (a Ceph RGW for the S3 driver and a PostgreSQL
// for the postgres MetaStore, each with its state in a temp folder, on free loopback ports), runs every
// test file, then the black-box API suite a second time in the scale-out setup (S3 and PostgreSQL), and
// stops both services however the run ends.
//
//   WHARF_TEST_S3_ENDPOINT (+ _ACCESS_KEY, _SECRET_KEY, _REGION) set: that endpoint is used, Ceph is not started.
//   WHARF_TEST_POSTGRES_URL set: that server is used (the tests create and drop databases on it).
//   Arguments: test paths instead of dist/test (the second pass of dist/test/api runs only with the default).
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const services = join(root, 'scripts', 'services');
// The SDK's notice that it will want Node 22 from 2027 on is noise in test output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const nodeTest = ['--test', '--test-concurrency=1', '--test-timeout=600000'];

/** A port nobody listens on now (and, for the mon, its v1 twin at +3489 too). */
async function freePort(isFree = async () => true) {
  for (let i = 0; i < 50; i++) {
    const port = 20000 + Math.floor(Math.random() * 25000);
    if (await canListen(port) && await isFree(port)) return port;
  }
  throw new Error('no free port found');
}
function canListen(port) {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

let cephDir = null;
function stopCeph() {
  if (!cephDir) return;
  const dir = cephDir;
  cephDir = null;
  spawnSync(join(services, 'stop-ceph-rgw.sh'), [dir], { stdio: 'inherit' });
  rmSync(dir, { recursive: true, force: true });
}

async function startCeph() {
  cephDir = mkdtempSync(join(tmpdir(), 'wharf-ceph-'));
  const env = {
    ...process.env,
    RGW_PORT: String(await freePort()),
    CEPH_MON_PORT: String(await freePort((p) => canListen(p + 3489))),
  };
  const r = spawnSync(join(services, 'start-ceph-rgw.sh'), [cephDir], { env, stdio: ['ignore', 'ignore', 'inherit'], timeout: 300_000 });
  if (r.status !== 0) throw new Error(`Ceph RGW did not start (exit ${r.status ?? r.signal}); is ceph installed? (apt-get install ceph-mon ceph-osd ceph-mgr radosgw ceph-common)`);
  const vars = Object.fromEntries(readFileSync(join(cephDir, 's3.env'), 'utf8').split('\n').filter(Boolean).map((l) => l.split(/=(.*)/s).slice(0, 2)));
  process.env.WHARF_TEST_S3_ENDPOINT = vars.S3_ENDPOINT;
  process.env.WHARF_TEST_S3_ACCESS_KEY = vars.S3_ACCESS_KEY;
  process.env.WHARF_TEST_S3_SECRET_KEY = vars.S3_SECRET_KEY;
  process.env.WHARF_TEST_S3_REGION = vars.S3_REGION;
}

let pgDir = null;
function stopPostgres() {
  if (!pgDir) return;
  const dir = pgDir;
  pgDir = null;
  spawnSync(join(services, 'stop-postgres.sh'), [join(dir, 'data')], { stdio: 'inherit' });
  rmSync(dir, { recursive: true, force: true });
}

async function startPostgres() {
  pgDir = mkdtempSync(join(tmpdir(), 'wharf-pg-'));
  // As root the server runs as the postgres user, which must be able to reach its folder.
  chmodSync(pgDir, 0o711);
  const r = spawnSync(join(services, 'start-postgres.sh'), [join(pgDir, 'data'), String(await freePort())],
    { env: { ...process.env, PG_DB: 'wharf' }, stdio: ['ignore', 'pipe', 'inherit'], timeout: 120_000 });
  if (r.status !== 0) throw new Error(`PostgreSQL did not start (exit ${r.status ?? r.signal}); is it installed? (apt-get install postgresql)`);
  const url = /DATABASE_URL=(\S+)/.exec(r.stdout.toString())?.[1];
  if (!url) throw new Error('start-postgres.sh printed no DATABASE_URL');
  process.env.WHARF_TEST_POSTGRES_URL = url;
}

let child = null;
function runNodeTest(paths, extraEnv = {}) {
  return new Promise((resolve) => {
    // Its own process group, so that an interrupted run can stop the servers its tests started, too.
    child = spawn(process.execPath, [...nodeTest, ...paths], { cwd: root, env: { ...process.env, ...extraEnv }, stdio: 'inherit', detached: true });
    child.once('exit', (code, signal) => { child = null; resolve(code ?? (signal ? 1 : 0)); });
  });
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    if (child) {
      try { process.kill(-child.pid, 'SIGTERM'); } catch { /* already gone */ }
    }
    stopCeph();
    stopPostgres();
    process.exit(130);
  });
}

// Every line any `wharf serve` of the suite prints is kept here (test/helpers/server.ts), and searched
// at the end for anything that looks like a secret: a generated one, a JWT, a Basic or Bearer header.
const logDir = mkdtempSync(join(tmpdir(), 'wharf-test-logs-'));
process.env.WHARF_TEST_LOG_DIR = logDir;
const SECRET_PATTERNS = [
  [/wharf_(?:pat|rt|robot|whsec)_[A-Za-z0-9_-]{20,}/, 'a generated secret'],
  [/eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/, 'a JWT'],
];
/** A Basic credential: base64 that decodes to user:password. */
function hasBasicCredential(line) {
  for (const m of line.matchAll(/\bBasic ([A-Za-z0-9+/]{6,}={0,2})/g)) {
    if (/^[\x20-\x7e]+:[\x20-\x7e]+$/.test(Buffer.from(m[1], 'base64').toString('latin1'))) return true;
  }
  return false;
}

function secretsInLogs() {
  const found = [];
  let lines = 0;
  for (const f of readdirSync(logDir)) {
    for (const line of readFileSync(join(logDir, f), 'utf8').split('\n')) {
      lines++;
      for (const [re, what] of SECRET_PATTERNS) if (re.test(line)) found.push(`${what} in ${f}: ${line.slice(0, 300)}`);
      if (hasBasicCredential(line)) found.push(`a Basic credential in ${f}: ${line.slice(0, 300)}`);
    }
  }
  return { found, lines };
}

let status;
try {
  if (!process.env.WHARF_TEST_POSTGRES_URL) await startPostgres();
  if (!process.env.WHARF_TEST_S3_ENDPOINT) await startCeph();
  const paths = process.argv.slice(2);
  status = await runNodeTest(paths.length > 0 ? paths : ['dist/test']);
  if (paths.length === 0) {
    console.log('# the black-box API suite again, scaled out: blobs on S3, metadata on PostgreSQL');
    const scaledOut = await runNodeTest(['dist/test/api'], { WHARF_TEST_STORAGE: 's3', WHARF_TEST_META: 'postgres' });
    if (status === 0) status = scaledOut;
  }
} catch (e) {
  console.error(String(e instanceof Error ? e.message : e));
  status = 1;
} finally {
  stopCeph();
  stopPostgres();
}
const { found, lines } = secretsInLogs();
console.log(`# ${lines} server log lines searched for secrets: ${found.length} found`);
for (const f of found.slice(0, 20)) console.log(`#   ${f}`);
if (found.length > 0 && status === 0) status = 1;
rmSync(logDir, { recursive: true, force: true });
process.exit(status);
