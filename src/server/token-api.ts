// The token endpoint of Docker token authentication, built in (auth.mode builtin):
//   GET  /token?service=…&scope=…[&offline_token=true&client_id=…]   Basic credentials or none
//   POST /token  (application/x-www-form-urlencoded, OAuth2: grant_type=password | refresh_token)
// A token grants exactly the part of the asked scope that the caller may have: never more, and
// never an error for asking too much (the registry refuses later, with the right status).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { SignedIn } from '../access/account-sign-in.js';
import { parseBasic } from '../access/basic-auth.js';
import type { BuiltinAccessController } from '../access/builtin.js';
import { accessesOf, formatScope, parseScopes } from '../access/scope.js';
import { newSecret, secretHash } from '../access/secrets.js';
import { RegistryError } from '../oci/errors.js';
import type { AuditTrail } from './audit-trail.js';
import { readBoundedBody } from './http-utils.js';

const FORM_LIMIT = 64 * 1024;

interface Grant {
  subject: string;
  signedIn: SignedIn | null;
  scopes: string[];
  service: string | undefined;
  offline: boolean;
  clientId: string | undefined;
}

export function registerTokenApi(app: FastifyInstance, controller: BuiltinAccessController, audit: AuditTrail): void {
  const service = controller.opts.service;

  const checkService = (asked: string | undefined): void => {
    if (asked !== undefined && asked !== service) {
      throw new RegistryError('UNSUPPORTED', `unknown service ${JSON.stringify(asked)}: this registry is ${JSON.stringify(service)}`, { status: 400 });
    }
  };

  /** Signs in with Basic credentials (or none), recording failures. */
  const signInBasic = async (req: FastifyRequest): Promise<SignedIn | null> => {
    const header = req.headers.authorization;
    if (header === undefined || header === '') return null;
    const basic = parseBasic(header);
    if (!basic) throw new RegistryError('UNAUTHORIZED', 'the token endpoint takes Basic credentials');
    try {
      return await controller.signIn.basic(header, basic.user, basic.password, req.ip);
    } catch (e) {
      await audit.record(req, { actor: basic.user, actorKind: 'unknown', action: 'login', target: service, outcome: 'failed', detail: { reason: (e as RegistryError).code } });
      throw e;
    }
  };

  /** Issues the token; returns the response fields and the scope as asked (parsed once). */
  const grantAndIssue = async (req: FastifyRequest, g: Grant): Promise<{ body: Record<string, unknown>; asked: string }> => {
    checkService(g.service);
    const asked = parseScopes(g.scopes);
    const wanted = accessesOf(asked);
    const subject = g.signedIn?.subject ?? { kind: 'anonymous' as const };
    const granted = await controller.grantable(subject, g.signedIn?.cap ?? null, wanted);
    const issued = await controller.tokens.issue(g.subject, granted, g.signedIn?.cap ?? null);
    const body: Record<string, unknown> = {
      token: issued.token,
      access_token: issued.token,
      expires_in: issued.expiresIn,
      issued_at: issued.issuedAt.toISOString(),
    };
    if (g.offline && g.signedIn) {
      // docker login keeps this as its identity token and trades it for access tokens later (POST).
      const secret = newSecret('refresh');
      await controller.meta.tokens.create({
        kind: 'refresh', owner: { kind: g.signedIn.subject.kind, id: g.signedIn.subject.id }, name: g.clientId ?? 'refresh',
        secretHash: secretHash(secret), actions: g.signedIn.cap, expiresAt: controller.clock.now() + controller.opts.refreshTokenLifetimeMs,
      });
      body.refresh_token = secret;
    }
    if (g.signedIn) {
      await audit.record(req, {
        actor: g.subject, actorKind: g.signedIn.subject.kind, action: 'token.issue', target: service, outcome: 'ok',
        detail: { method: g.signedIn.method, asked: formatScope(asked), granted: formatScope(issued.access) },
      });
    }
    return { body, asked: formatScope(asked) };
  };

  app.get('/token', async (req: FastifyRequest, reply: FastifyReply) => {
    const q = new URLSearchParams(req.raw.url!.slice(req.raw.url!.indexOf('?') + 1 || req.raw.url!.length));
    const signedIn = await signInBasic(req);
    const { body } = await grantAndIssue(req, {
      subject: signedIn?.subject.name ?? '', signedIn, scopes: q.getAll('scope'), service: q.get('service') ?? undefined,
      offline: q.get('offline_token') === 'true', clientId: q.get('client_id') ?? undefined,
    });
    reply.header('Cache-Control', 'no-store').type('application/json').send(JSON.stringify(body));
  });

  app.post('/token', async (req: FastifyRequest, reply: FastifyReply) => {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    const oauthError = (status: number, error: string, description: string): void => {
      reply.code(status).header('Cache-Control', 'no-store').type('application/json').send(JSON.stringify({ error, error_description: description }));
    };
    if (type !== 'application/x-www-form-urlencoded') return oauthError(400, 'invalid_request', 'send the form as application/x-www-form-urlencoded');
    const raw = await readBoundedBody(req.raw, FORM_LIMIT, () => new RegistryError('SIZE_INVALID', 'form too large', { status: 413 }));
    const form = new URLSearchParams(raw.toString('utf8'));
    const grantType = form.get('grant_type');
    let signedIn: SignedIn;
    try {
      if (grantType === 'password') {
        const user = form.get('username') ?? '';
        const password = form.get('password') ?? '';
        if (user === '' || password === '') return oauthError(400, 'invalid_request', 'username and password are required');
        const header = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
        signedIn = await controller.signIn.basic(header, user, password, req.ip);
      } else if (grantType === 'refresh_token') {
        signedIn = await controller.signIn.refresh(form.get('refresh_token') ?? '', req.ip);
      } else {
        return oauthError(400, 'unsupported_grant_type', 'grant_type must be password or refresh_token');
      }
    } catch (e) {
      if (e instanceof RegistryError && e.code === 'UNAUTHORIZED') {
        await audit.record(req, { actor: form.get('username') ?? '', actorKind: 'unknown', action: 'login', target: service, outcome: 'failed', detail: { grant: grantType } });
        return oauthError(401, 'invalid_grant', e.message);
      }
      throw e;
    }
    const { body, asked: scope } = await grantAndIssue(req, {
      subject: signedIn.subject.name, signedIn, scopes: form.getAll('scope'), service: form.get('service') ?? undefined,
      // A refresh grant keeps the refresh token it came with; a password grant asks for one with access_type.
      offline: grantType === 'password' && form.get('access_type') === 'offline', clientId: form.get('client_id') ?? undefined,
    });
    reply.header('Cache-Control', 'no-store').type('application/json').send(JSON.stringify({
      access_token: body.access_token, token_type: 'Bearer', expires_in: body.expires_in, issued_at: body.issued_at, scope,
      ...(body.refresh_token ? { refresh_token: body.refresh_token } : {}),
    }));
  });
}
