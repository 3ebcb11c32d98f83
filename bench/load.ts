// Request-rate tests (manifest HEAD/GET by tag, tags/list) with autocannon's programmatic API.
// Runs in this process; the caller guarantees only one server is loaded at a time with identical settings.
// Large bodies go through ApacheBench instead (runAbLoad): autocannon's JavaScript parser tops out at
// about 50 MiB/s, so a 1 MiB blob row would measure autocannon rather than the server.
import autocannon from 'autocannon';
import { assertLoopback, bodySnippet, runOk } from './util.js';

export interface LoadSpec {
  method: 'GET' | 'HEAD';
  /** Path below the server URL, e.g. /v2/bench/x/manifests/1 */
  path: string;
  headers: Record<string, string>;
  /** If set, every response body must equal this (GET only). */
  expectBody?: string;
}

export interface LoadSettings {
  connections: number;
  durationS: number;
  warmupS: number;
}

export interface LoadResult {
  reqPerSec: number;
  completed: number;
  durationS: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  latencyAvgMs: number;
  statusCodes: Record<string, number>;
}

/**
 * autocannon's parser (http-parser-js) does not know a response belongs to a HEAD request and waits for
 * Content-Length body bytes that never come, so every HEAD would time out. Make the parser skip the body,
 * which is what Node's own http client does for HEAD.
 */
function skipBodies(client: autocannon.Client): void {
  const parser = client.parser;
  const key = parser.constructor.kOnHeadersComplete;
  let handler: ((...args: unknown[]) => unknown) | undefined;
  Object.defineProperty(parser, key, {
    configurable: true,
    get: () => handler,
    set: (fn: (...args: unknown[]) => unknown) => {
      handler = (...args: unknown[]) => { fn(...args); return true; };
    },
  });
}

function describe(r: autocannon.Result): string {
  const codes = Object.entries(r.statusCodeStats).map(([c, s]) => `${c}×${s.count}`).join(', ') || 'none';
  return `2xx=${r['2xx']} non2xx=${r.non2xx} errors=${r.errors} timeouts=${r.timeouts} mismatches=${r.mismatches} resets=${r.resets} statuses: ${codes}`;
}

async function once(url: string, spec: LoadSpec, settings: LoadSettings, durationS: number): Promise<autocannon.Result> {
  return autocannon({
    url,
    method: spec.method,
    headers: spec.headers,
    connections: settings.connections,
    duration: durationS,
    pipelining: 1,
    timeout: 10,
    ...(spec.expectBody !== undefined ? { expectBody: spec.expectBody } : {}),
    ...(spec.method === 'HEAD' ? { setupClient: skipBodies } : {}),
  });
}

/** Sends one request with fetch and throws with the status and body unless it is 2xx. */
export async function probe(baseUrl: string, spec: LoadSpec): Promise<Response> {
  const url = `${baseUrl}${spec.path}`;
  assertLoopback(url);
  const res = await fetch(url, { method: spec.method, headers: spec.headers });
  if (res.status < 200 || res.status > 299) throw new Error(`${spec.method} ${spec.path} → ${res.status}: ${await bodySnippet(res)}`);
  return res;
}

/** Warms up, then measures. Throws ("fails loudly") on any non-2xx, error, timeout or body mismatch. */
export async function runLoad(baseUrl: string, spec: LoadSpec, settings: LoadSettings): Promise<LoadResult> {
  const url = `${baseUrl}${spec.path}`;
  assertLoopback(url);
  await (await probe(baseUrl, spec)).arrayBuffer();
  if (settings.warmupS > 0) await once(url, spec, settings, settings.warmupS);
  const r = await once(url, spec, settings, settings.durationS);
  if (r.non2xx !== 0 || r.errors !== 0 || r.timeouts !== 0 || r.mismatches !== 0 || r['2xx'] === 0) {
    let sample: string;
    try {
      const res = await fetch(url, { method: spec.method, headers: spec.headers });
      sample = ` (a fresh ${spec.method} now → ${res.status}: ${await bodySnippet(res, 500)})`;
    } catch (err) {
      sample = ` (a fresh request failed: ${String(err)})`;
    }
    throw new Error(`${spec.method} ${spec.path} under load: ${describe(r)}${sample}`);
  }
  const statusCodes: Record<string, number> = {};
  for (const [c, s] of Object.entries(r.statusCodeStats)) statusCodes[c] = s.count;
  return {
    reqPerSec: r['2xx'] / r.duration,
    completed: r['2xx'],
    durationS: r.duration,
    latencyP50Ms: r.latency.p50,
    latencyP99Ms: r.latency.p99,
    latencyAvgMs: r.latency.average,
    statusCodes,
  };
}

/**
 * The same measurement with ApacheBench (`ab -k`, one C process, keep-alive): for GETs of large bodies.
 * Every response must be 2xx with a body of `expectBytes` bytes (ab counts any other length as failed).
 */
export async function runAbLoad(baseUrl: string, spec: LoadSpec, settings: LoadSettings, expectBytes: number): Promise<LoadResult> {
  if (spec.method !== 'GET' || spec.expectBody !== undefined) throw new Error('runAbLoad: plain GETs only');
  const url = `${baseUrl}${spec.path}`;
  assertLoopback(url);
  await (await probe(baseUrl, spec)).arrayBuffer();
  const ab = async (seconds: number): Promise<string> => {
    const headers = Object.entries(spec.headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
    const res = await runOk('ab', ['-q', '-k', '-r', '-c', String(settings.connections), '-t', String(seconds), '-n', '100000000', ...headers, url], { timeoutMs: (seconds + 60) * 1000 });
    return res.stdout;
  };
  if (settings.warmupS > 0) await ab(settings.warmupS);
  const out = await ab(settings.durationS);
  const num = (re: RegExp): number | undefined => {
    const m = re.exec(out);
    return m ? Number(m[1]) : undefined;
  };
  const complete = num(/^Complete requests:\s+(\d+)/m) ?? 0;
  const failed = num(/^Failed requests:\s+(\d+)/m) ?? 0;
  const non2xx = num(/^Non-2xx responses:\s+(\d+)/m) ?? 0;
  const length = num(/^Document Length:\s+(\d+) bytes/m);
  const seconds = num(/^Time taken for tests:\s+([\d.]+) seconds/m);
  if (complete === 0 || failed !== 0 || non2xx !== 0 || length !== expectBytes || seconds === undefined) {
    throw new Error(`GET ${spec.path} under load (ab): complete=${complete} failed=${failed} non2xx=${non2xx} length=${length} (expected ${expectBytes})\n${out.slice(-1500)}`);
  }
  const pct = (p: number): number => num(new RegExp(`^\\s*${p}%\\s+(\\d+)`, 'm')) ?? NaN;
  return {
    reqPerSec: complete / seconds,
    completed: complete,
    durationS: seconds,
    latencyP50Ms: pct(50),
    latencyP99Ms: pct(99),
    latencyAvgMs: num(/^Time per request:\s+([\d.]+) \[ms\] \(mean\)$/m) ?? NaN,
    statusCodes: { '2xx': complete },
  };
}
