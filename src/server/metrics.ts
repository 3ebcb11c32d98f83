// GET /metrics in the Prometheus text format (prom-client). Every label has a small fixed set of values:
// requests are labelled by the kind of endpoint (`manifest`, `blob`, ...), never by repository or tag.
//
// The hot path (a manifest HEAD answers tens of thousands of times a second) does no string building of
// its own: the route label is set by the /v2 dispatcher (request.routeGroup) or found by one map lookup
// of the route's template (request.routeOptions.url), and prom-client's per-label-set children are
// cached in nested maps, so one request costs a few map lookups and prom-client's observe/inc.
//
// Storage per namespace (one series per namespace) is computed off the scrape path: a scrape serves the
// last values and, when they are older than the refresh interval, starts computing new ones behind it.
import { createServer, type Server } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry as PromRegistry } from 'prom-client';
import type { GcReport } from '../registry/gc.js';
import type { RunOutcome } from '../jobs/scheduler.js';
import type { DeliveryOutcome } from '../store/meta/meta-store.js';

/** Every value the `route` label takes. */
export const ROUTE_GROUPS = ['manifest', 'blob', 'blob_upload', 'tags', 'catalog', 'referrers', 'base', 'token', 'admin', 'health', 'metrics', 'other'] as const;

const METHODS = new Set(['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE', 'OPTIONS']);

/** The route label of a route template that does not set request.routeGroup itself. */
function groupOfTemplate(url: string | undefined): string {
  if (url === undefined) return 'other'; // answered by the not-found handler
  if (url === '/token') return 'token';
  if (url.startsWith('/api/')) return 'admin';
  if (url === '/healthz' || url === '/readyz') return 'health';
  if (url === '/metrics') return 'metrics';
  return 'other'; // includes /v2* when the dispatcher matched no endpoint
}

type HistogramChild = ReturnType<Histogram<string>['labels']>;
type CounterChild = ReturnType<Counter<string>['labels']>;

export class WharfMetrics {
  readonly registry = new PromRegistry();
  private readonly duration: Histogram<'route' | 'method' | 'code'>;
  private readonly received: Counter<'route'>;
  private readonly sent: Counter<'route'>;
  private readonly uploads: Gauge;
  private readonly jobRuns: Counter<'job' | 'outcome'>;
  private readonly gcRuns: Counter<'outcome'>;
  private readonly gcBytesFreed: Counter;
  private readonly gcBlobsDeleted: Counter;
  private readonly gcManifestsDeleted: Counter;
  private readonly namespaceStorage: Gauge<'namespace'>;
  private storage: StorageWatch | null = null;
  private readonly retentionRemovals: Counter<'kind'>;
  private readonly webhookDeliveries: Counter<'outcome'>;
  private readonly webhookDuration: Histogram;
  /** Counts the outbox's waiting deliveries at a scrape (set when webhooks run). */
  private webhookPending: (() => Promise<number>) | null = null;
  /** route template -> route label (a fixed set of templates: bounded). */
  private readonly templateGroups = new Map<string | undefined, string>();
  /** route -> method -> status -> child. */
  private readonly durationChildren = new Map<string, Map<string, Map<number, HistogramChild>>>();
  private readonly receivedChildren = new Map<string, CounterChild>();
  private readonly sentChildren = new Map<string, CounterChild>();

  constructor(version: string) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    new Gauge({ name: 'wharf_build_info', help: 'Always 1; the labels say which Wharf this is', labelNames: ['version'], registers }).set({ version }, 1);
    this.duration = new Histogram({
      name: 'wharf_http_request_duration_seconds', help: 'Time from request to response, by kind of endpoint, method and status code',
      labelNames: ['route', 'method', 'code'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers,
    });
    this.received = new Counter({ name: 'wharf_http_request_body_bytes_total', help: 'Request body bytes received, as declared by Content-Length', labelNames: ['route'], registers });
    this.sent = new Counter({ name: 'wharf_http_response_body_bytes_total', help: 'Response body bytes sent, as declared by Content-Length (HEAD and 304 count none)', labelNames: ['route'], registers });
    this.uploads = new Gauge({ name: 'wharf_uploads_in_progress', help: 'Blob upload requests (POST, PATCH, PUT on an upload) this process is receiving now', registers });
    this.jobRuns = new Counter({ name: 'wharf_job_runs_total', help: 'Scheduled job runs by job and outcome (skipped: another process held the lease)', labelNames: ['job', 'outcome'], registers });
    this.gcRuns = new Counter({ name: 'wharf_gc_runs_total', help: 'Garbage collection runs by outcome', labelNames: ['outcome'], registers });
    this.gcBytesFreed = new Counter({ name: 'wharf_gc_bytes_freed_total', help: 'Bytes of blobs and orphan objects garbage collection deleted', registers });
    this.gcBlobsDeleted = new Counter({ name: 'wharf_gc_blobs_deleted_total', help: 'Blobs garbage collection deleted (orphan objects included)', registers });
    this.gcManifestsDeleted = new Counter({ name: 'wharf_gc_manifests_deleted_total', help: 'Manifests garbage collection deleted', registers });
    this.namespaceStorage = new Gauge({
      name: 'wharf_namespace_storage_bytes', help: 'Bytes stored per namespace, each blob once per namespace (as quotas count them); computed at most every metrics.storageRefresh',
      labelNames: ['namespace'], registers,
      // Not awaited: the scrape answers with the values at hand.
      collect: () => { this.refreshStorage(); },
    });
    this.retentionRemovals = new Counter({ name: 'wharf_retention_removed_total', help: 'Tags and untagged manifests retention policies removed', labelNames: ['kind'], registers });
    for (const kind of ['tag', 'manifest']) this.retentionRemovals.inc({ kind }, 0);
    this.webhookDeliveries = new Counter({
      name: 'wharf_webhook_deliveries_total', help: 'Webhook delivery attempts by this process, by outcome (gave_up: the last attempt failed)',
      labelNames: ['outcome'], registers,
    });
    for (const outcome of ['delivered', 'failed_attempt', 'gave_up'] satisfies DeliveryOutcome[]) this.webhookDeliveries.inc({ outcome }, 0);
    this.webhookDuration = new Histogram({
      name: 'wharf_webhook_delivery_duration_seconds', help: 'Time a webhook delivery attempt took, answered or not',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers,
    });
    const pending = (): (() => Promise<number>) | null => this.webhookPending;
    new Gauge({
      name: 'wharf_webhook_outbox_pending', help: 'Webhook deliveries waiting in the outbox (shared by every process on the database)', registers,
      async collect() { const count = pending(); this.set(count ? await count() : 0); },
    });
  }

  /** The dispatcher's onAttempt hook. */
  webhookAttempted(outcome: DeliveryOutcome, durationMs: number): void {
    this.webhookDeliveries.inc({ outcome });
    this.webhookDuration.observe(durationMs / 1000);
  }

  /** Where the pending gauge reads its count (one COUNT over the outbox per scrape). */
  watchWebhookOutbox(count: () => Promise<number>): void {
    this.webhookPending = count;
  }

  /**
   * Serves storage per namespace from `source`, computed now and then again when a scrape finds the values
   * older than `refreshMs`; `stop` waits for a computation under way (before the stores close).
   */
  watchNamespaceStorage(source: () => Promise<Map<string, number>>, refreshMs: number, onError: (err: unknown) => void): { stop(): Promise<void> } {
    const watch: StorageWatch = { source, refreshMs, onError, startedAt: -Infinity, running: null, stopped: false };
    this.storage = watch;
    this.refreshStorage();
    return {
      stop: async () => {
        watch.stopped = true;
        await watch.running;
      },
    };
  }

  private refreshStorage(): void {
    const w = this.storage;
    if (!w || w.stopped || w.running || performance.now() - w.startedAt < w.refreshMs) return;
    w.startedAt = performance.now();
    w.running = w.source().then((bytes) => {
      // Replaced at once (no scrape runs in between): namespaces that emptied go, new ones come.
      this.namespaceStorage.reset();
      for (const [namespace, n] of bytes) this.namespaceStorage.set({ namespace }, n);
    }, w.onError).finally(() => { w.running = null; });
  }

  /** The scheduler's onRun hook. */
  jobRan(job: string, outcome: RunOutcome, isGc: boolean): void {
    this.jobRuns.inc({ job, outcome });
    if (isGc) this.gcRuns.inc({ outcome });
  }

  gcCollected(r: GcReport): void {
    if (r.dryRun) return;
    this.gcBytesFreed.inc(r.bytesFreed);
    this.gcBlobsDeleted.inc(r.blobsDeleted + r.orphanObjects.count);
    this.gcManifestsDeleted.inc(r.manifestsDeleted);
  }

  /** A tag or an untagged manifest retention removed. */
  retentionRemoved(kind: 'tag' | 'manifest'): void {
    this.retentionRemovals.inc({ kind });
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** onRequest: an upload request starts receiving. */
  readonly onRequest = async (req: FastifyRequest): Promise<void> => {
    const m = req.method;
    // Cheap before anything else: GET and HEAD (most traffic) stop at the first comparison.
    if ((m === 'PATCH' || m === 'PUT' || m === 'POST') && req.url.includes('/blobs/uploads')) {
      (req as Tracked)[UPLOADING] = true;
      this.uploads.inc();
    }
  };

  readonly onResponse = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if ((req as Tracked)[UPLOADING] === true) this.uploads.dec();
    let route = req.routeGroup;
    if (route === '') {
      const url = req.routeOptions.url;
      route = this.templateGroups.get(url) ?? '';
      if (route === '') this.templateGroups.set(url, route = groupOfTemplate(url));
    }
    const method = METHODS.has(req.method) ? req.method : 'other';
    const code = reply.statusCode;
    this.durationChild(route, method, code).observe(reply.elapsedTime / 1000);
    if (method !== 'GET' && method !== 'HEAD') {
      const n = Number(req.headers['content-length']);
      if (n > 0) this.child(this.receivedChildren, this.received, route).inc(n);
    }
    if (method !== 'HEAD' && code !== 304 && code !== 204) {
      const n = Number(reply.getHeader('content-length'));
      if (n > 0) this.child(this.sentChildren, this.sent, route).inc(n);
    }
  };

  private durationChild(route: string, method: string, code: number): HistogramChild {
    let byMethod = this.durationChildren.get(route);
    if (!byMethod) this.durationChildren.set(route, byMethod = new Map());
    let byCode = byMethod.get(method);
    if (!byCode) byMethod.set(method, byCode = new Map());
    let c = byCode.get(code);
    if (!c) byCode.set(code, c = this.duration.labels(route, method, String(code)));
    return c;
  }

  private child(cache: Map<string, CounterChild>, counter: Counter<'route'>, route: string): CounterChild {
    let c = cache.get(route);
    if (!c) cache.set(route, c = counter.labels(route));
    return c;
  }
}

interface StorageWatch {
  source: () => Promise<Map<string, number>>;
  refreshMs: number;
  onError: (err: unknown) => void;
  startedAt: number;
  running: Promise<void> | null;
  stopped: boolean;
}

const UPLOADING = Symbol('wharf.uploading');
type Tracked = FastifyRequest & { [UPLOADING]?: boolean };

export interface MetricsPluginOptions {
  /** Answer GET /metrics on this app (false: only record; /metrics is served elsewhere, or nowhere). */
  serve: boolean;
}

/** Records every request of `app`; with `serve`, answers GET /metrics. Call before the routes are added. */
export function registerMetrics(app: FastifyInstance, metrics: WharfMetrics, opts: MetricsPluginOptions): void {
  app.addHook('onRequest', metrics.onRequest);
  app.addHook('onResponse', metrics.onResponse);
  if (opts.serve) {
    app.get('/metrics', async (_req, reply) => {
      const { contentType, body } = await metrics.render();
      reply.header('Cache-Control', 'no-store').type(contentType).send(body);
    });
  }
}

/** /metrics on its own plain-HTTP listener (metrics.addr); anything else answers 404. */
export async function listenMetrics(metrics: WharfMetrics, host: string, port: number): Promise<{ server: Server; addr: string }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
      return;
    }
    metrics.render().then(({ contentType, body }) => {
      res.writeHead(200, { 'Content-Type': contentType, 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    }, () => {
      res.writeHead(500, { 'Content-Type': 'text/plain' }).end('internal server error\n');
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(); });
  });
  const a = server.address();
  const addr = a && typeof a === 'object' ? `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : `${host}:${port}`;
  return { server, addr };
}
