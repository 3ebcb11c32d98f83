// The one pre-handler of the /v2 API: authenticate the caller, ask the AccessController whether it may
// do what the route needs, and answer 401 (with the controller's challenge) or 403 when it may not.
// Routes only declare what they need; they never know which controller runs.
import type { FastifyRequest } from 'fastify';
import { ANONYMOUS, scopeOf, type Access, type AccessController, type Identity } from '../access/access-controller.js';
import type { AuditTrail } from './audit-trail.js';
import { RegistryError } from '../oci/errors.js';
import { clientCertificateOf, type PeerSocket } from './client-certificate.js';

const identities = new WeakMap<FastifyRequest, Identity>();

/** scheme://host as the client addressed this server (the Host header was checked by then). */
export function originOf(req: FastifyRequest): string {
  const secure = (req.raw.socket as { encrypted?: boolean }).encrypted === true;
  return `${secure ? 'https' : 'http'}://${req.headers.host ?? 'localhost'}`;
}

/** The identity the pre-handler established for this request (anonymous before it ran). */
export function identityOf(req: FastifyRequest): Identity {
  return identities.get(req) ?? ANONYMOUS;
}

export interface AccessCheck {
  /** Authenticates and authorizes; throws UNAUTHORIZED/DENIED/TOOMANYREQUESTS. Returns the identity. */
  require(req: FastifyRequest, needs: readonly Access[]): Promise<Identity>;
  /** Whether the identity may pull from `repository` (listing filters, optional accesses). */
  may(identity: Identity, access: Access): Promise<boolean>;
}

export function accessCheck(controller: AccessController, audit?: AuditTrail): AccessCheck {
  const unauthorized = (req: FastifyRequest, needs: readonly Access[], message: string, insufficientScope = false): RegistryError => {
    const challenge = controller.challenge(needs, { origin: originOf(req), insufficientScope });
    return new RegistryError('UNAUTHORIZED', message, challenge === null ? {} : { headers: { 'WWW-Authenticate': challenge } });
  };

  return {
    async require(req, needs) {
      const identity = await controller.authenticate({
        authorization: req.headers.authorization,
        remoteAddress: req.socket.remoteAddress ?? '',
        clientCertificate: clientCertificateOf(req.raw.socket as PeerSocket),
        origin: originOf(req),
      });
      identities.set(req, identity);
      const anonymous = identity.kind === 'anonymous';
      // The base endpoint needs nothing but a known caller, whenever the controller has callers to know.
      if (needs.length === 0) {
        if (anonymous && controller.requiresIdentity) throw unauthorized(req, needs, 'authentication required');
        return identity;
      }
      const granted = await controller.authorize(identity, needs);
      if (granted.length === needs.length) return identity;
      if (anonymous) throw unauthorized(req, needs, 'authentication required');
      if (await controller.reasksFor(identity, needs)) throw unauthorized(req, needs, 'the token does not grant this access', true);
      void audit?.record(req, {
        actor: identity.name, actorKind: identity.kind, action: 'access.denied', target: req.url.split('?')[0]!, outcome: 'denied',
        detail: { method: req.method, needs: needs.map(scopeOf) },
      });
      throw new RegistryError('DENIED', 'requested access to the resource is denied');
    },
    async may(identity, access) {
      if (controller.canRead && access.type === 'repository' && access.action === 'pull') return controller.canRead(identity, access.name);
      return (await controller.authorize(identity, [access])).length === 1;
    },
  };
}
