// The HTTP application: Fastify with raw bodies, one access-log line per request, spec JSON errors.
import type { Http2SecureServer, SecureServerOptions } from 'node:http2';
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { RegistryError } from '../oci/errors.js';
import type { Registry } from '../registry/registry.js';
import { registerDistributionApi } from './distribution-api.js';
import { drainRequest } from './http-utils.js';

export interface AppOptions {
  logger: FastifyServerOptions['logger'];
  /** TLS: HTTP/2 and HTTP/1.1 (ALPN) over TLS with these options. Without it, plain HTTP/1.1. */
  https?: SecureServerOptions;
}

export function buildApp(registry: Registry, opts: AppOptions): FastifyInstance {
  const options = {
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
  } satisfies FastifyServerOptions;
  // Go clients (skopeo, podman, containerd) speak HTTP/2 when offered; HTTP/1.1 stays for the others.
  const app = opts.https
    ? Fastify({ ...(options as FastifyServerOptions<Http2SecureServer>), http2: true, https: { ...opts.https, allowHTTP1: true }, http2SessionTimeout: 65_000 }) as unknown as FastifyInstance
    : Fastify(options);

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
    if (e.status === 401) reply.header('WWW-Authenticate', 'Basic realm="wharf"');
    drainRequest(req.raw);
    reply.code(e.status).type('application/json').send(JSON.stringify(e.toBody()));
  });

  app.setNotFoundHandler(async (_req, reply) => {
    reply.code(404).type('application/json').send(JSON.stringify(new RegistryError('UNSUPPORTED', 'not found', { status: 404 }).toBody()));
  });

  app.get('/healthz', async (_req, reply) => { reply.type('application/json').send('{"status":"ok"}'); });

  registerDistributionApi(app, registry);
  return app;
}
