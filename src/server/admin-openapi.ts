// The OpenAPI 3.1 document of the admin API, made from the same route table and zod schemas that
// validate its requests, so the document cannot drift from what the server accepts.
import { z } from 'zod';

export interface ApiRoute {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path under the prefix, with {param} segments. */
  path: string;
  summary: string;
  body?: z.ZodType;
  query?: z.ZodType;
  response?: z.ZodType;
  /** The success status when it is not 200. */
  status?: number;
}

const errorBody = {
  type: 'object',
  properties: { errors: { type: 'array', items: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' }, detail: {} }, required: ['code', 'message'] } } },
  required: ['errors'],
};

function schemaOf(s: z.ZodType): Record<string, unknown> {
  const json = z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  delete json.$schema;
  return json;
}

export function buildOpenApi(routes: readonly ApiRoute[], prefix: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const params = [...r.path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    const query = r.query ? Object.entries((schemaOf(r.query).properties ?? {}) as Record<string, unknown>).map(([name, schema]) => ({ name, in: 'query', required: false, schema })) : [];
    const ok = String(r.status ?? 200);
    const op: Record<string, unknown> = {
      summary: r.summary,
      parameters: [...params, ...query],
      responses: {
        [ok]: ok === '204' ? { description: 'done' } : { description: 'done', content: r.response ? { 'application/json': { schema: schemaOf(r.response) } } : { 'application/json': {} } },
        default: { description: 'an error', content: { 'application/json': { schema: errorBody } } },
      },
    };
    if (r.body) op.requestBody = { required: true, content: { 'application/json': { schema: schemaOf(r.body) } } };
    (paths[prefix + r.path] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: { title: 'Wharf admin API', version: '1' },
    components: { securitySchemes: { basic: { type: 'http', scheme: 'basic' } } },
    security: [{ basic: [] }],
    paths,
  };
}
