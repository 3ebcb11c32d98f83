// The /v2 Distribution API: parse the path, call the registry, shape the response. No rules here.
import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RegistryError } from '../oci/errors.js';
import { MediaTypes } from '../oci/media-types.js';
import { assertName } from '../oci/names.js';
import type { Registry } from '../registry/registry.js';
import type { Listing } from '../registry/listing.js';
import type { Access, Identity } from '../access/access-controller.js';
import { requestActor } from './request-actor.js';
import type { AccessCheck } from './access-check.js';
import { contentLength, hasBody, parseRangeHeader, parseUploadContentRange, readBoundedBody } from './http-utils.js';

type Handler = (req: FastifyRequest, reply: FastifyReply, m: RegExpExecArray, query: URLSearchParams, identity: Identity) => Promise<void>;
/** What a request needs before anything else happens (its body is not read until this is granted). */
type Needs = (m: RegExpExecArray) => Access[];
/** `group`: the endpoint's kind, a label of low cardinality for metrics (never the repository). */
type Route = { pattern: RegExp; group: string; methods: Partial<Record<string, { needs: Needs; handle: Handler }>> };

// What each kind of request needs, as Distribution asks it: reads pull; writes pull and push; deletes delete.
// Upload sessions (status, cancel) belong to pushing.
const nothing: Needs = () => [];
const catalog: Needs = () => [{ type: 'registry', name: 'catalog', action: '*' }];
const pull: Needs = (m) => [{ type: 'repository', name: m[1]!, action: 'pull' }];
const push: Needs = (m) => [{ type: 'repository', name: m[1]!, action: 'pull' }, { type: 'repository', name: m[1]!, action: 'push' }];
const del: Needs = (m) => [{ type: 'repository', name: m[1]!, action: 'delete' }];

const API_VERSION = 'registry/2.0';

export function registerDistributionApi(app: FastifyInstance, registry: Registry, access: AccessCheck): void {
  const { blobs, manifests, listing } = registry;

  const uploadHeaders = (reply: FastifyReply, name: string, id: string, size: number): void => {
    reply.header('Location', `/v2/${name}/blobs/uploads/${id}`);
    reply.header('Docker-Upload-UUID', id);
    reply.header('Range', `0-${size > 0 ? size - 1 : 0}`);
    reply.header('Content-Length', '0');
  };

  const blobCreated = (reply: FastifyReply, name: string, digest: string): void => {
    reply.code(201);
    reply.header('Location', `/v2/${name}/blobs/${digest}`);
    reply.header('Docker-Content-Digest', digest);
    reply.header('Content-Length', '0');
    reply.send();
  };

  const sendListing = (reply: FastifyReply, path: string, n: number | undefined, l: Listing, body: object): void => {
    if (l.next !== null) {
      const q = new URLSearchParams({ n: String(n ?? l.items.length), last: l.next });
      reply.header('Link', `<${path}?${q.toString()}>; rel="next"`);
    }
    reply.type('application/json').send(JSON.stringify(body));
  };

  const pageOf = (q: URLSearchParams): { n?: number; last?: string } => {
    const n = q.get('n');
    const last = q.get('last');
    if (n !== null && !/^\d+$/.test(n)) throw new RegistryError('PAGINATION_NUMBER_INVALID', `invalid n: ${n.slice(0, 20)}`);
    return { n: n === null ? undefined : Number(n), last: last ?? undefined };
  };

  const routes: Route[] = [
    {
      pattern: /^\/v2\/?$/, group: 'base',
      methods: {
        GET: { needs: nothing, handle: async (_req, reply) => { reply.type('application/json').send('{}'); } },
        HEAD: { needs: nothing, handle: async (_req, reply) => { reply.type('application/json').send(); } },
      },
    },
    {
      pattern: /^\/v2\/_catalog$/, group: 'catalog',
      methods: {
        GET: {
          needs: catalog,
          handle: async (_req, reply, _m, q, identity) => {
            const page = pageOf(q);
            // Only the repositories this caller may pull from are listed.
            const l = await listing.catalog(page, (name) => access.may(identity, { type: 'repository', name, action: 'pull' }));
            sendListing(reply, '/v2/_catalog', page.n, l, { repositories: l.items });
          },
        },
      },
    },
    {
      pattern: /^\/v2\/(.+)\/manifests\/([^/]+)$/, group: 'manifest',
      methods: {
        GET: { needs: pull, handle: async (req, reply, m, _q, identity) => {
          const { record, bytes } = await manifests.get(m[1]!, m[2]!);
          reply.header('Docker-Content-Digest', record.digest).header('ETag', `"${record.digest}"`).type(record.mediaType).send(bytes);
          // Webhooks: after the answer, and only when some subscription in the namespace wants pulls.
          if (registry.webhooks.wantsPullsOf(m[1]!)) {
            const tag = m[2]!.includes(':') ? null : m[2]!;
            registry.webhooks.pulled({ repository: m[1]!, digest: record.digest, tag, mediaType: record.mediaType, size: record.size, actor: requestActor(req, identity) });
          }
        } },
        HEAD: { needs: pull, handle: async (_req, reply, m) => {
          const record = await manifests.resolve(m[1]!, m[2]!);
          reply.header('Docker-Content-Digest', record.digest).header('ETag', `"${record.digest}"`).type(record.mediaType)
            .header('Content-Length', String(record.size)).send();
        } },
        PUT: { needs: push, handle: async (req, reply, m, _q, identity) => {
          const name = m[1]!;
          const max = registry.ctx.limits.maxManifestBytes;
          const bytes = await readBoundedBody(req.raw, max, () => new RegistryError('MANIFEST_INVALID', `manifest exceeds ${max} bytes`, { status: 413 }));
          const r = await manifests.put(name, m[2]!, bytes, req.headers['content-type'], requestActor(req, identity));
          reply.code(201).header('Location', `/v2/${name}/manifests/${r.digest}`).header('Docker-Content-Digest', r.digest);
          if (r.subject) reply.header('OCI-Subject', r.subject);
          reply.header('Content-Length', '0').send();
        } },
        DELETE: { needs: del, handle: async (req, reply, m, _q, identity) => {
          await manifests.delete(m[1]!, m[2]!, requestActor(req, identity));
          reply.code(202).header('Content-Length', '0').send();
        } },
      },
    },
    {
      pattern: /^\/v2\/(.+)\/blobs\/uploads\/?([^/]*)$/, group: 'blob_upload',
      methods: {
        POST: { needs: push, handle: async (req, reply, m, q, identity) => {
          const name = m[1]!;
          if (m[2]) throw new RegistryError('UNSUPPORTED', 'POST to an upload session', { status: 405 });
          const mount = q.get('mount');
          const from = q.get('from');
          if (mount !== null) {
            const mayRead = (repository: string): Promise<boolean> => access.may(identity, { type: 'repository', name: repository, action: 'pull' });
            const mounted = await blobs.mount(name, mount, from, identity, mayRead);
            if (mounted) return blobCreated(reply, name, mounted.digest);
          }
          const digest = q.get('digest');
          if (digest !== null && mount === null) {
            const b = await blobs.putMonolithic(name, digest, req.raw, contentLength(req.raw), identity);
            return blobCreated(reply, name, b.digest);
          }
          const id = await blobs.startUpload(name);
          uploadHeaders(reply, name, id, 0);
          reply.code(202).send();
        } },
        PATCH: { needs: push, handle: async (req, reply, m) => {
          const [name, id] = [m[1]!, m[2]!];
          const range = parseUploadContentRange(req.headers['content-range']);
          try {
            const size = await blobs.append(name, id, req.raw, range, contentLength(req.raw));
            uploadHeaders(reply, name, id, size);
            reply.code(202).send();
          } catch (e) {
            if (e instanceof RegistryError && e.code === 'RANGE_INVALID') {
              // Tell the client where the upload really is, so it can resume.
              const size = await blobs.uploadOffset(name, id).catch(() => null);
              if (size !== null) uploadHeaders(reply, name, id, size);
            }
            throw e;
          }
        } },
        PUT: { needs: push, handle: async (req, reply, m, q, identity) => {
          const [name, id] = [m[1]!, m[2]!];
          const digest = q.get('digest');
          if (digest === null) throw new RegistryError('DIGEST_INVALID', 'digest query parameter is required');
          const b = await blobs.complete(name, id, digest, hasBody(req.raw) ? req.raw : null, contentLength(req.raw), identity);
          blobCreated(reply, name, b.digest);
        } },
        GET: { needs: push, handle: async (_req, reply, m) => {
          const size = await blobs.uploadOffset(m[1]!, m[2]!);
          uploadHeaders(reply, m[1]!, m[2]!, size);
          reply.code(204).send();
        } },
        DELETE: { needs: push, handle: async (_req, reply, m) => {
          await blobs.cancel(m[1]!, m[2]!);
          reply.code(204).send();
        } },
      },
    },
    {
      pattern: /^\/v2\/(.+)\/blobs\/([^/]+)$/, group: 'blob',
      methods: {
        GET: { needs: pull, handle: async (req, reply, m) => sendBlob(req, reply, m, true) },
        HEAD: { needs: pull, handle: async (req, reply, m) => sendBlob(req, reply, m, false) },
        DELETE: { needs: del, handle: async (_req, reply, m, _q, identity) => {
          await blobs.delete(m[1]!, m[2]!, identity);
          reply.code(202).header('Content-Length', '0').send();
        } },
      },
    },
    {
      pattern: /^\/v2\/(.+)\/tags\/list$/, group: 'tags',
      methods: {
        GET: { needs: pull, handle: async (_req, reply, m, q) => {
          const page = pageOf(q);
          const l = await listing.tags(m[1]!, page);
          sendListing(reply, `/v2/${m[1]!}/tags/list`, page.n, l, { name: m[1]!, tags: l.items });
        } },
      },
    },
    {
      pattern: /^\/v2\/(.+)\/referrers\/([^/]+)$/, group: 'referrers',
      methods: {
        GET: { needs: pull, handle: async (_req, reply, m, q) => {
          const artifactType = q.get('artifactType') ?? undefined;
          const index = await listing.referrers(m[1]!, m[2]!, artifactType);
          if (artifactType !== undefined) reply.header('OCI-Filters-Applied', 'artifactType');
          // A Buffer, so that no charset is appended: the spec wants the media type exactly.
          reply.type(MediaTypes.ociIndex).send(Buffer.from(JSON.stringify(index)));
        } },
      },
    },
  ];

  async function sendBlob(req: FastifyRequest, reply: FastifyReply, m: RegExpExecArray, withBody: boolean): Promise<void> {
    const { digest, size } = await blobs.stat(m[1]!, m[2]!);
    const etag = `"${digest}"`;
    reply.header('Docker-Content-Digest', digest).header('ETag', etag).header('Accept-Ranges', 'bytes')
      .header('Cache-Control', 'max-age=31536000').type('application/octet-stream');
    if (req.headers['if-none-match'] === etag) return void reply.code(304).send();
    // An object store may serve the bytes itself (GET only: HEAD answers here); the client sends its Range there.
    const redirect = withBody ? await blobs.redirectUrl(digest) : null;
    // The URL expires: the answer must not be cached like the blob itself.
    if (redirect !== null) return void reply.code(307).header('Location', redirect).header('Cache-Control', 'no-store').removeHeader('Content-Type').send();
    let range;
    try {
      range = parseRangeHeader(req.headers.range, size);
    } catch (e) {
      reply.header('Content-Range', `bytes */${size}`);
      throw e;
    }
    if (range) {
      reply.code(206).header('Content-Range', `bytes ${range.start}-${range.end}/${size}`);
      reply.header('Content-Length', String(range.end - range.start + 1));
    } else {
      reply.header('Content-Length', String(size));
    }
    if (!withBody || size === 0) return void reply.send();
    // Straight to the socket with backpressure; Fastify's send() would drop the preset Content-Length of a stream.
    reply.hijack();
    const res = reply.raw;
    res.writeHead(reply.statusCode, reply.getHeaders() as OutgoingHttpHeaders);
    try {
      await blobs.sendTo(digest, res, range ?? undefined);
      res.end();
    } catch (err) {
      // Headers are gone already: all we can do is cut the connection so the client sees a short body.
      if (!res.destroyed) req.log.warn({ err }, 'blob download failed');
      res.destroy();
    }
  }

  app.route({
    method: ['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE'],
    url: '/v2*',
    handler: async (req, reply) => {
      reply.header('Docker-Distribution-API-Version', API_VERSION);
      const url = req.raw.url ?? '/';
      const qi = url.indexOf('?');
      const path = qi < 0 ? url : url.slice(0, qi);
      for (const route of routes) {
        const m = route.pattern.exec(path);
        if (!m) continue;
        req.routeGroup = route.group;
        const handler = route.methods[req.method];
        if (!handler) {
          reply.header('Allow', Object.keys(route.methods).join(', '));
          throw new RegistryError('UNSUPPORTED', `method ${req.method} not allowed here`, { status: 405 });
        }
        // The name first, then who asks: a request that will fail is refused before its body is sent.
        if (m[1] !== undefined && route !== routes[0]) assertName(m[1]);
        const identity = await access.require(req, handler.needs(m));
        // app.ts keeps Node from answering `Expect: 100-continue` by itself: only now, with the request
        // allowed, may the client send its body.
        if (req.headers.expect?.toLowerCase() === '100-continue') reply.raw.writeContinue();
        return handler.handle(req, reply, m, new URLSearchParams(qi < 0 ? '' : url.slice(qi + 1)), identity);
      }
      throw notFound(path);
    },
  });
}

function notFound(path: string): RegistryError {
  // Paths under /v2/<name>/... that match no endpoint: an invalid name is the likely cause.
  if (/^\/v2\/.+\/(manifests|blobs|tags|referrers)\//.test(path)) return new RegistryError('NAME_INVALID', 'invalid repository name');
  return new RegistryError('UNSUPPORTED', `no such endpoint: ${path.slice(0, 200)}`, { status: 404 });
}
