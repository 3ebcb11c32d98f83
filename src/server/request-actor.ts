// Who caused a registry change, with the request that carried it: what webhook events name (the actor,
// and Distribution's request record with the client's address, the Host it addressed, method and agent).
import type { FastifyRequest } from 'fastify';
import type { Identity } from '../access/access-controller.js';
import type { Actor } from '../registry/events.js';
import { originOf } from './access-check.js';

export function requestActor(req: FastifyRequest, identity: Identity): Actor {
  const origin = originOf(req);
  return {
    ...identity,
    request: {
      id: req.id, addr: req.ip, host: origin.slice(origin.indexOf('//') + 2), method: req.method,
      useragent: req.headers['user-agent'] ?? '', origin,
    },
  };
}
