// The HTTP application: Fastify with raw bodies, one access-log line per request, spec JSON errors.
import { STATUS_CODES, type Server } from 'node:http';
import type { Http2SecureServer, SecureServerOptions } from 'node:http2';
import type { Duplex } from 'node:stream';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyHttpOptions, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { RegistryError } from '../oci/errors.js';
import type { Registry } from '../registry/registry.js';
import { registerDistributionApi } from './distribution-api.js';
import { drainRequest } from './http-utils.js';
import { accessCheck } from './access-check.js';
import type { AccessController } from '../access/access-controller.js';
import { AllowAllAccessController } from '../access/allow-all.js';
import { BuiltinAccessController } from '../access/builtin.js';
import { AuditTrail } from './audit-trail.js';
import { registerTokenApi } from './token-api.js';
import { registerAdminApi, serveOpenApi, type WebhookAdminDeps } from './admin-api.js';
import { REPOSITORY_API_DOC, registerRepositoryApi } from './repository-api.js';
import { registerMetrics, type WharfMetrics } from './metrics.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The kind of endpoint that answered (`manifest`, `blob`, ...: a metrics label); '' until a route says. */
    routeGroup: string;
  }
}

export interface AppOptions {
  /** Logger options, or a pino logger to share (false: silent). */
  logger: FastifyServerOptions['logger'] | FastifyBaseLogger;
  /** Who may do what; everyone everything when absent. */
  accessController?: AccessController;
  /** TLS: HTTP/2 and HTTP/1.1 (ALPN) over TLS with these options. Without it, plain HTTP/1.1. */
  https?: SecureServerOptions;
  /** Record request metrics; with `serve`, answer GET /metrics here too. */
  metrics?: { metrics: WharfMetrics; serve: boolean };
  /** Webhook delivery (auth.mode builtin): the admin API's test delivery. */
  webhooks?: Pick<WebhookAdminDeps, 'test'>;
}

export function buildApp(registry: Registry, opts: AppOptions): FastifyInstance {
  const shared = typeof opts.logger === 'object' && opts.logger !== null && 'child' in opts.logger;
  const options = {
    ...(shared ? { loggerInstance: opts.logger as FastifyBaseLogger } : { logger: opts.logger as FastifyServerOptions['logger'] }),
    // Our onResponse hook writes the one access line per request.
    logController: new LogController({ disableRequestLogging: true }),
    exposeHeadRoutes: false,
    // Repository names plus digests are long; the router must not refuse them.
    routerOptions: { maxParamLength: 8192 },
    // Blob uploads can take long on slow links; only idle sockets time out.
    requestTimeout: 0,
    keepAliveTimeout: 65_000,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // A missing Host is refused by our hook below, with the spec's JSON error, not by Node with an empty 400.
    http: { requireHostHeader: false },
    // What the HTTP parser refuses (malformed request line, headers too large) still gets a JSON error.
    clientErrorHandler: answerClientError,
  };
  // Go clients (skopeo, podman, containerd) may speak HTTP/2 when offered; HTTP/1.1 stays for the others.
  const app = opts.https
    ? Fastify({ ...(options as FastifyServerOptions<Http2SecureServer>), http2: true, https: { ...opts.https, allowHTTP1: true }, http2SessionTimeout: 65_000 }) as unknown as FastifyInstance
    : Fastify(options as FastifyHttpOptions<Server>);

  // Bodies stay unread streams: blobs are streamed to storage, manifests read with a bound.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined));

  // RFC 9112: an HTTP/1.1 request has exactly one Host, and it is a valid host[:port].
  app.addHook('onRequest', async (req) => {
    if (req.raw.httpVersionMajor !== 1) return;
    const hosts = countHeader(req.raw.rawHeaders, 'host');
    if (hosts > 1) throw new RegistryError('UNSUPPORTED', 'more than one Host header', { status: 400 });
    if (hosts === 0 && req.raw.httpVersionMinor >= 1) throw new RegistryError('UNSUPPORTED', 'missing Host header', { status: 400 });
    if (hosts === 1 && !validHost.test(req.headers.host ?? '')) throw new RegistryError('UNSUPPORTED', 'invalid Host header', { status: 400 });
  });

  app.decorateRequest('routeGroup', '');
  if (opts.metrics) registerMetrics(app, opts.metrics.metrics, { serve: opts.metrics.serve });

  app.addHook('onResponse', async (req, reply) => {
    req.log.info({ method: req.method, url: req.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 }, 'request');
  });

  app.setErrorHandler(async (err, req, reply) => {
    let e: RegistryError;
    if (err instanceof RegistryError) {
      e = err;
    } else if (typeof (err as { statusCode?: number }).statusCode === 'number' && (err as { statusCode: number }).statusCode < 500) {
      e = new RegistryError('UNSUPPORTED', (err as Error).message, { status: (err as { statusCode: number }).statusCode });
    } else if (isHangUp(err) && req.raw.destroyed) {
      // Not our failure: the client went away mid-request. Nobody is left to read an answer.
      req.log.info({ method: req.method, url: req.url }, 'client closed the connection mid-request');
      e = new RegistryError('UNKNOWN', 'client closed the connection', { status: 499 });
    } else {
      req.log.error({ err }, 'internal error');
      e = new RegistryError('UNKNOWN', 'internal server error');
    }
    for (const [k, v] of Object.entries(e.headers)) reply.header(k, v);
    drainRequest(req.raw);
    reply.code(e.status).type('application/json').send(JSON.stringify(e.toBody()));
  });

  app.setNotFoundHandler(async (_req, reply) => {
    reply.code(404).type('application/json').send(JSON.stringify(new RegistryError('UNSUPPORTED', 'not found', { status: 404 }).toBody()));
  });

  // Liveness: the process answers. Readiness: its database and blob store answer too (503 otherwise).
  app.get('/healthz', async (_req, reply) => { reply.type('application/json').send('{"status":"ok"}'); });
  app.get('/readyz', async (req, reply) => {
    const r = await registry.readiness();
    const checks: Record<string, string> = {};
    for (const [name, c] of Object.entries(r.checks)) {
      checks[name] = c.ok ? 'ok' : 'failing';
      // The reason goes to the log only: the probe is open to anyone, and errors can name paths and hosts.
      if (!c.ok) req.log.warn({ check: name, error: c.error }, 'not ready');
    }
    reply.code(r.ready ? 200 : 503).header('Cache-Control', 'no-store').type('application/json')
      .send(JSON.stringify({ status: r.ready ? 'ready' : 'unready', checks }));
  });

  // Without a listener Node answers `Expect: 100-continue` before any handler runs; the /v2 pre-handler
  // sends it only once the request is allowed, so a refused request never has its body sent.
  app.server.on('checkContinue', (req, res) => app.server.emit('request', req, res));

  const controller = opts.accessController ?? new AllowAllAccessController();
  let audit: AuditTrail | undefined;
  if (controller instanceof BuiltinAccessController) {
    // Accounts bring their token endpoint and an audit log of who did what.
    audit = new AuditTrail(controller.meta, app.log);
    audit.follow(registry.events);
    registerTokenApi(app, controller, audit);
    const webhooks = opts.webhooks;
    const webhookDeps: WebhookAdminDeps | undefined = webhooks && { test: (w, actor, origin) => webhooks.test(w, actor, origin), changed: () => registry.webhooks.refreshPullSubscriptions() };
    registerAdminApi(app, controller, audit, registry, webhookDeps, REPOSITORY_API_DOC);
  } else {
    serveOpenApi(app, REPOSITORY_API_DOC);
  }
  const access = accessCheck(controller, audit);
  registerDistributionApi(app, registry, access);
  // Tag history and restore: in every auth mode, under the same per-repository checks as /v2.
  registerRepositoryApi(app, registry, access);
  return app;
}

/** host[:port] as RFC 3986 allows it: a reg-name or IPv4 address, or an IPv6 literal in brackets. */
const validHost = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~%!$&'()*+,;=]+)(?::\d{1,5})?$/;

function countHeader(raw: string[], name: string): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === name.length && raw[i]!.toLowerCase() === name) n++;
  return n;
}

function isHangUp(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNABORTED' || code === 'EPIPE';
}

/** Node's parser refused the request: answer with the spec's JSON error, then close. */
function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const body = JSON.stringify(new RegistryError('UNSUPPORTED', status === 400 ? 'malformed HTTP request' : STATUS_CODES[status], { status }).toBody());
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}
