// A minimal round-robin HTTP proxy for the scale section: each request goes to the next upstream in turn
// (per request, not per connection), bodies streamed both ways with backpressure, keep-alive to the
// upstreams. Run as its own process (startRoundRobinProxy), so that it never shares an event loop with
// the load generator:  node dist/bench/round-robin.js http://127.0.0.1:A http://127.0.0.1:B
// (prints "listening http://127.0.0.1:PORT"). Nothing of Wharf's is in here: any load balancer would do.
// Not the fleet test's proxy (test/helpers/round-robin-proxy.ts), on purpose: that one opens a connection
// per request, to find a killed process before sending it a byte; this one keeps its upstream connections
// alive, as a production load balancer does, so that the rows measure the registry, not TCP set-up.
import { spawn } from 'node:child_process';
import http from 'node:http';
import { pipeline } from 'node:stream';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { adoptChild, assertLoopback } from './util.js';

export interface RoundRobinProxy {
  /** http://127.0.0.1:PORT */
  url: string;
  /** The proxy's process, when it runs in one of its own (its CPU is then measurable). */
  pid?: number;
  stop(): Promise<void>;
}

/** What the scale section takes: anything that puts one address in front of these upstreams. */
export type StartProxy = (upstreams: string[]) => Promise<RoundRobinProxy>;

/** Hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection and are not forwarded. */
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

function forwarded(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const out: http.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !HOP.has(k)) out[k] = v;
  return out;
}

export function createRoundRobinServer(upstreams: string[]): http.Server {
  if (upstreams.length === 0) throw new Error('no upstreams');
  const targets = upstreams.map((u) => assertLoopback(u));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });
  let next = 0;
  return http.createServer((req, res) => {
    const t = targets[next]!;
    next = (next + 1) % targets.length;
    // The Host header is kept, as a load balancer that preserves it would: Locations stay the proxy's.
    const up = http.request({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers: forwarded(req.headers), agent }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.statusMessage, forwarded(ur.headers));
      pipeline(ur, res, () => undefined);
    });
    up.on('error', (err) => {
      if (!res.headersSent) {
        res.writeHead(502, { 'Content-Type': 'text/plain' });
        res.end(`upstream ${t.host}: ${err.message}\n`);
      } else {
        res.destroy(err);
      }
    });
    pipeline(req, up, () => undefined);
  });
}

/** Starts the proxy as a child process (this file run by node) and waits until it listens. */
export const startRoundRobinProxy: StartProxy = (upstreams) => new Promise((resolve, reject) => {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), ...upstreams], { stdio: ['ignore', 'pipe', 'pipe'] });
  adoptChild(child);
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => { stderr = (stderr + b.toString()).slice(-4000); });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`the proxy did not start: ${stderr}`)); }, 10000);
  child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the proxy exited with ${code}: ${stderr}`)); });
  createInterface({ input: child.stdout! }).once('line', (line) => {
    clearTimeout(timer);
    const m = /^listening (http:\/\/\S+)$/.exec(line);
    if (!m) { child.kill('SIGKILL'); reject(new Error(`unexpected line from the proxy: ${line}`)); return; }
    child.stdout!.resume();
    resolve({
      url: m[1]!,
      pid: child.pid,
      stop: async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        await exited;
      },
    });
  });
});

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const server = createRoundRobinServer(process.argv.slice(2));
  server.keepAliveTimeout = 30000;
  server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    if (a === null || typeof a === 'string') throw new Error('no address');
    process.stdout.write(`listening http://127.0.0.1:${a.port}\n`);
  });
  process.once('SIGTERM', () => { server.closeAllConnections(); server.close(() => process.exit(0)); });
}
