// The HTTP application: Fastify with raw bodies, one access-log line per request, spec JSON errors.
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { RegistryError } from '../oci/errors.js';
import type { Registry } from '../registry/registry.js';
import { registerDistributionApi } from './distribution-api.js';
import { drainRequest } from './http-utils.js';
import { accessCheck } from './access-check.js';
import type { AccessController } from '../access/access-controller.js';
import { AllowAllAccessController } from '../access/allow-all.js';

export interface AppOptions {
  logger: FastifyServerOptions['logger'];
  /** Who may do what; everyone everything when absent. */
  accessController?: AccessController;
}

export function buildApp(registry: Registry, opts: AppOptions): FastifyInstance {
  const app = Fastify({
    logger: opts.logger,
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
  });

  // Bodies stay unread streams: blobs are streamed to storage, manifests read with a bound.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined));

  app.addHook('onResponse', async (req, reply) => {
    req.log.info({ method: req.method, url: req.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 }, 'request');
  });

  app.setErrorHandler(async (err, req, reply) => {
    let e: RegistryError;
    if (err instanceof RegistryError) {
      e = err;
    } else if (typeof (err as { statusCode?: number }).statusCode === 'number' && (err as { statusCode: number }).statusCode < 500) {
      e = new RegistryError('UNSUPPORTED', (err as Error).message, { status: (err as { statusCode: number }).statusCode });
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

  app.get('/healthz', async (_req, reply) => { reply.type('application/json').send('{"status":"ok"}'); });

  // Without a listener Node answers `Expect: 100-continue` before any handler runs; the /v2 pre-handler
  // sends it only once the request is allowed, so a refused request never has its body sent.
  app.server.on('checkContinue', (req, res) => app.server.emit('request', req, res));

  registerDistributionApi(app, registry, accessCheck(opts.accessController ?? new AllowAllAccessController()));
  return app;
}
