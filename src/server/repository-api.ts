// Tag history and restore over HTTP, in every auth mode (none, htpasswd, certificate, builtin): the
// access each route needs is checked by the same pre-handler as /v2 (401 with the controller's
// challenge, 403 DENIED), and errors have the registry's JSON shape.
//
// Repository names hold slashes, so the name is everything between the prefix and a fixed suffix,
// and a tag (which has no slash) is never a path segment of a GET:
//   GET  /api/v1/repositories/{name}/history[?tag=TAG][&n=N][&before=SEQ]   newest first; `next` is the cursor
//   GET  /api/v1/repositories/{name}/tags/{tag}/history[?n=N][&before=SEQ]   the same for one tag
//   POST /api/v1/repositories/{name}/tags/{tag}/restore   {"digest":"sha256:…"} or {"undelete":true}
// A POST's path ends in /tags/{tag}/restore: its last two segments are the tag and the verb, and
// everything before /tags/{tag} is the name (which may itself hold a `tags` component). A GET ending in
// /tags/X/history could name either; it is the whole history of the repository with that full name when
// one exists, else the history of tag X. History needs pull on the repository; restore needs pull and push.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Access } from '../access/access-controller.js';
import { RegistryError } from '../oci/errors.js';
import { assertName } from '../oci/names.js';
import type { Registry } from '../registry/registry.js';
import type { HistoryItem } from '../registry/tag-history.js';
import type { AccessCheck } from './access-check.js';
import type { ApiRoute } from './admin-openapi.js';
import { parseJsonBody, readBoundedBody } from './http-utils.js';
import { requestActor } from './request-actor.js';

export const REPOSITORY_API_PREFIX = '/api/v1/repositories/';
const BODY_LIMIT = 4096;
const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;

const restoreBody = z.union([
  z.object({ digest: z.string().regex(/^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/, 'expected a digest such as sha256:…') }).strict(),
  z.object({ undelete: z.literal(true) }).strict(),
]);

const historyQuery = z.object({
  n: z.string().optional().describe(`page size, 1 to ${MAX_PAGE} (default ${DEFAULT_PAGE})`),
  before: z.string().optional().describe('the `next` of the previous page'),
});
const historyPage = z.object({
  repository: z.string(),
  tag: z.string().optional(),
  items: z.array(z.object({ tag: z.string(), digest: z.string().nullable(), at: z.string(), restorable: z.boolean() })),
  next: z.string().nullable(),
});
const restored = z.object({ repository: z.string(), tag: z.string(), digest: z.string(), mediaType: z.string() });
const NAME_NOTE = ' ({name} is the repository\'s full name, slashes and all, not escaped)';

/** The routes for the OpenAPI document (served at /api/v1/openapi.json in every auth mode). */
export const REPOSITORY_API_DOC: readonly ApiRoute[] = [
  { method: 'GET', path: '/repositories/{name}/history', summary: `Every tag's moves and deletes, newest first; pull access${NAME_NOTE}`,
    query: historyQuery.extend({ tag: z.string().optional().describe('only this tag') }), response: historyPage },
  { method: 'GET', path: '/repositories/{name}/tags/{tag}/history', summary: `One tag's moves and deletes, newest first; pull access${NAME_NOTE}`,
    query: historyQuery, response: historyPage },
  { method: 'POST', path: '/repositories/{name}/tags/{tag}/restore', summary: `Point the tag back at an earlier digest, or undelete it; pull and push access${NAME_NOTE}`,
    body: restoreBody, response: restored },
];

/** One history entry as the API shows it. */
export interface HistoryEntryOut {
  tag: string;
  digest: string | null;
  at: string;
  restorable: boolean;
}

const entryOut = (e: HistoryItem): HistoryEntryOut => ({ tag: e.tag, digest: e.digest, at: new Date(e.at).toISOString(), restorable: e.restorable });

export function registerRepositoryApi(app: FastifyInstance, registry: Registry, access: AccessCheck): void {
  const pathAndQuery = (req: FastifyRequest): { path: string; query: URLSearchParams } => {
    const url = req.raw.url ?? '/';
    const qi = url.indexOf('?');
    return { path: (qi < 0 ? url : url.slice(0, qi)).slice(REPOSITORY_API_PREFIX.length), query: new URLSearchParams(qi < 0 ? '' : url.slice(qi + 1)) };
  };
  const needs = (name: string, ...actions: ('pull' | 'push')[]): Access[] => actions.map((action) => ({ type: 'repository', name, action }));

  app.get(`${REPOSITORY_API_PREFIX}*`, async (req, reply) => {
    const { path, query } = pathAndQuery(req);
    const route = await historyRoute(path, query, async (name) => (await registry.ctx.meta.repositories.idOf(name)) !== null);
    if (!route) throw new RegistryError('NOT_FOUND', `no such repository API route: ${path.slice(0, 200)}`);
    const { name, tag } = route;
    assertName(name);
    await access.require(req, needs(name, 'pull'));
    const n = pageSize(query.get('n'));
    const before = cursor(query.get('before') ?? query.get('last'));
    const page = { n, ...(before === undefined ? {} : { before }) };
    const items = tag === null ? await registry.history.ofRepository(name, page) : await registry.history.ofTag(name, tag, page);
    const next = items.length === n ? String(items[items.length - 1]!.seq) : null;
    reply.header('Cache-Control', 'no-store').type('application/json')
      .send(JSON.stringify({ repository: name, ...(tag === null ? {} : { tag }), items: items.map(entryOut), next }));
  });

  app.post(`${REPOSITORY_API_PREFIX}*`, async (req, reply) => {
    const { path } = pathAndQuery(req);
    const m = /^(.+)\/tags\/([^/]+)\/restore$/.exec(path);
    if (!m) throw new RegistryError('NOT_FOUND', `no such repository API route: ${path.slice(0, 200)}`);
    const [, name, tag] = m as unknown as [string, string, string];
    assertName(name);
    const identity = await access.require(req, needs(name, 'pull', 'push'));
    if (req.headers.expect?.toLowerCase() === '100-continue') reply.raw.writeContinue();
    const raw = await readBoundedBody(req.raw, BODY_LIMIT, () => new RegistryError('SIZE_INVALID', 'request body too large', { status: 413 }));
    const target = parseJsonBody(raw, restoreBody, 'send {"digest":"sha256:…"} or {"undelete":true}');
    const r = await registry.history.restore(name, tag, 'digest' in target ? { digest: target.digest } : { undelete: true }, requestActor(req, identity));
    reply.header('Cache-Control', 'no-store').type('application/json').send(JSON.stringify({ repository: name, tag, digest: r.digest, mediaType: r.mediaType }));
  });

  app.route({
    method: ['HEAD', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
    url: `${REPOSITORY_API_PREFIX}*`,
    handler: async (req) => { throw new RegistryError('UNSUPPORTED', `method ${req.method} not allowed here`, { status: 405 }); },
  });
}

/** The repository and (for one tag's history) the tag a history GET names, or null for another route. */
async function historyRoute(path: string, query: URLSearchParams, exists: (name: string) => Promise<boolean>): Promise<{ name: string; tag: string | null } | null> {
  const whole = /^(.+)\/history$/.exec(path);
  if (!whole) return null;
  const byTag = /^(.+)\/tags\/([^/]+)\/history$/.exec(path);
  if (byTag && !(await exists(whole[1]!))) return { name: byTag[1]!, tag: byTag[2]! };
  return { name: whole[1]!, tag: query.get('tag') };
}

function pageSize(v: string | null): number {
  if (v === null) return DEFAULT_PAGE;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > MAX_PAGE) throw new RegistryError('PAGINATION_NUMBER_INVALID', `n must be an integer from 1 to ${MAX_PAGE}`);
  return n;
}

function cursor(v: string | null): number | undefined {
  if (v === null) return undefined;
  if (!/^\d{1,15}$/.test(v)) throw new RegistryError('INVALID', 'before (or last) must be the `next` of an earlier page');
  return Number(v);
}
