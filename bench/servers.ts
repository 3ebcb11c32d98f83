// Starts the two registries under test — Wharf and CNCF Distribution (Debian's docker-registry) — behind one interface.
import { startWharf } from '../test/helpers/server.js';
import { startDistribution, type DistributionOptions } from '../test/helpers/distribution.js';
import { assertLoopback, log } from './util.js';

export type ServerKind = 'wharf' | 'distribution';

export interface BenchServer {
  /** Column label in the report. */
  label: string;
  kind: ServerKind;
  /** http://127.0.0.1:PORT */
  url: string;
  /** 127.0.0.1:PORT, as used in docker:// references. */
  host: string;
  /** PID of the server process itself (node for Wharf, docker-registry for Distribution). */
  pid: number;
  /** Warning/error log lines and stderr output the server produced (bounded). */
  logs(): string[];
  /** Stops the server and removes its data directory. Safe to call twice. */
  stop(): Promise<void>;
}

const MAX_LOG_LINES = 200;

function pushBounded(list: string[], line: string): void {
  if (list.length < MAX_LOG_LINES) list.push(line.length > 4000 ? `${line.slice(0, 4000)}…` : line);
}

/** The common face of a started server; `stop` runs once however often it is called. */
function benchServer(label: string, kind: ServerKind, srv: { url: string; addr: string; proc: { pid?: number } }, lines: string[], stop: () => Promise<void>): BenchServer {
  let stopping: Promise<void> | undefined;
  return {
    label,
    kind,
    url: srv.url,
    host: srv.addr,
    pid: srv.proc.pid!,
    logs: () => [...lines],
    stop: () => (stopping ??= stop()),
  };
}

/** Per-server settings beyond the defaults (filesystem storage in a fresh temp dir). */
export interface StartServerOptions {
  /** Extra WHARF_* variables for Wharf (e.g. the S3 driver's). */
  wharfEnv?: Record<string, string>;
  /** Wharf's data directory (another Wharf's, to share its database); default a fresh one, removed on stop. */
  wharfDataDir?: string;
  /** Options for Distribution (e.g. its s3 storage section). */
  distribution?: DistributionOptions;
}

async function startWharfServer(label: string, o: StartServerOptions): Promise<BenchServer> {
  const srv = await startWharf({
    env: { WHARF_LOG_LEVEL: process.env.BENCH_WHARF_LOG_LEVEL ?? 'info', ...o.wharfEnv },
    dataDir: o.wharfDataDir,
    timeoutMs: 30000,
  });
  assertLoopback(srv.url);
  const lines: string[] = [];
  const stdout = srv.proc.stdout!;
  const stderr = srv.proc.stderr!;
  // startWharf keeps a readline interface that JSON-parses every stdout line forever. Under the
  // request-rate tests that would burn CPU in *this* process (which also runs the load generator)
  // only for Wharf, skewing the comparison — so replace it with a cheap scan for warn/error records.
  stdout.removeAllListeners('data');
  let partial = '';
  stdout.on('data', (b: Buffer) => {
    const text = partial + b.toString();
    const parts = text.split('\n');
    partial = (parts.pop() ?? '').slice(-65536);
    for (const line of parts) {
      // pino levels: 40 warn, 50 error, 60 fatal.
      if (/"level":(4|5|6)\d/.test(line) || /"level":"(warn|error|fatal)"/.test(line)) pushBounded(lines, `stdout: ${line}`);
    }
  });
  stdout.resume();
  stderr.on('data', (b: Buffer) => { for (const line of b.toString().split('\n')) if (line.trim()) pushBounded(lines, `stderr: ${line}`); });
  return benchServer(label, 'wharf', srv, lines, async () => {
    try { await srv.stop(); } finally { if (!o.wharfDataDir) srv.cleanup(); }
  });
}

async function startDistributionServer(label: string, o: StartServerOptions): Promise<BenchServer> {
  const srv = await startDistribution(o.distribution);
  assertLoopback(srv.url);
  const lines: string[] = [];
  srv.proc.stderr!.on('data', (b: Buffer) => {
    for (const line of b.toString().split('\n')) {
      // skopeo HEADs every blob before uploading it; Distribution logs each expected 404 at error level.
      if (line.includes('err.code="blob unknown"') && line.includes('http.request.method=HEAD')) continue;
      if (line.trim()) pushBounded(lines, `stderr: ${line}`);
    }
  });
  return benchServer(label, 'distribution', srv, lines, () => srv.stop());
}

export async function startServer(kind: ServerKind, label: string, opts: StartServerOptions = {}): Promise<BenchServer> {
  const srv = kind === 'wharf' ? await startWharfServer(label, opts) : await startDistributionServer(label, opts);
  log(`${label}: ${kind} listening on ${srv.url} (pid ${srv.pid})`);
  return srv;
}
