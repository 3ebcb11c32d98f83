// The one pre-handler of the /v2 API: authenticate the caller, ask the AccessController whether it may
// do what the route needs, and answer 401 (with the controller's challenge) or 403 when it may not.
// Routes only declare what they need; they never know which controller runs.
import type { FastifyRequest } from 'fastify';
import { ANONYMOUS, type Access, type AccessController, type Identity } from '../access/access-controller.js';
import { RegistryError } from '../oci/errors.js';
import { clientCertificateOf, type PeerSocket } from './client-certificate.js';

const identities = new WeakMap<FastifyRequest, Identity>();

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

export function accessCheck(controller: AccessController): AccessCheck {
  const unauthorized = (needs: readonly Access[], message: string): RegistryError => {
    const challenge = controller.challenge(needs);
    return new RegistryError('UNAUTHORIZED', message, challenge === null ? {} : { headers: { 'WWW-Authenticate': challenge } });
  };

  return {
    async require(req, needs) {
      const identity = await controller.authenticate({
        authorization: req.headers.authorization,
        remoteAddress: req.socket.remoteAddress ?? '',
        clientCertificate: clientCertificateOf(req.raw.socket as PeerSocket),
      });
      identities.set(req, identity);
      const anonymous = identity.kind === 'anonymous';
      // The base endpoint needs nothing but a known caller, whenever the controller has callers to know.
      if (needs.length === 0) {
        if (anonymous && controller.requiresIdentity) throw unauthorized(needs, 'authentication required');
        return identity;
      }
      const granted = await controller.authorize(identity, needs);
      if (granted.length === needs.length) return identity;
      if (anonymous || controller.challengesAuthenticated) throw unauthorized(needs, 'authentication required');
      throw new RegistryError('DENIED', 'requested access to the resource is denied');
    },
    async may(identity, access) {
      return (await controller.authorize(identity, [access])).length === 1;
    },
  };
}
