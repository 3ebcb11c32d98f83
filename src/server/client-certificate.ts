// The TLS client certificate of a request, for the access layer: only one the TLS layer verified
// against tls.clientCA counts. Also the refusal of a certificate that does not verify when
// tls.clientAuth is verify-if-given (the handshake let it through so certificate-less clients could).
import type { PeerCertificate } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import type { ClientCertificate } from '../access/access-controller.js';
import { RegistryError } from '../oci/errors.js';

/**
 * What a request's socket looks like here: a TLSSocket under HTTP/1.1, and under HTTP/2 the compat
 * layer's proxy, which forwards these reads to the session's TLSSocket.
 */
export interface PeerSocket {
  authorized?: boolean;
  authorizationError?: Error | string | null;
  getPeerCertificate?: (detailed?: boolean) => PeerCertificate | Record<string, never>;
}

/** The verified client certificate on `socket`, or null (plain HTTP, none presented, or not verified). */
export function clientCertificateOf(socket: PeerSocket | null | undefined): ClientCertificate | null {
  if (!socket || socket.authorized !== true || typeof socket.getPeerCertificate !== 'function') return null;
  const cert = socket.getPeerCertificate(false);
  if (!cert || !('fingerprint256' in cert) || !cert.fingerprint256) return null;
  const cn = cert.subject?.CN as string | string[] | undefined;
  return {
    commonName: (Array.isArray(cn) ? cn[0] : cn) || null,
    altNames: cert.subjectaltname ? parseSubjectAltName(cert.subjectaltname) : [],
    fingerprint256: cert.fingerprint256,
  };
}

/** Whether the client presented a certificate that failed verification. */
export function presentedUnverifiedCertificate(socket: PeerSocket | null | undefined): string | null {
  if (!socket || socket.authorized !== false || typeof socket.getPeerCertificate !== 'function') return null;
  const cert = socket.getPeerCertificate(false);
  if (!cert || !('raw' in cert) || !cert.raw) return null;
  const why = socket.authorizationError;
  return why ? (typeof why === 'string' ? why : why.message || String((why as { code?: string }).code)) : 'not verified';
}

/**
 * Node's subjectaltname string: `DNS:a.example, IP Address:10.0.0.1, email:x@y`, where a value with
 * a comma, quote or control character is JSON-quoted. Values without their type prefix.
 */
export function parseSubjectAltName(s: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < s.length) {
    const colon = s.indexOf(':', i);
    if (colon < 0) break;
    i = colon + 1;
    let value: string;
    if (s[i] === '"') {
      // A JSON string: find its closing quote, skipping escapes.
      let j = i + 1;
      while (j < s.length && s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
      try {
        value = JSON.parse(s.slice(i, j + 1)) as string;
      } catch {
        value = s.slice(i + 1, j);
      }
      i = j + 1;
    } else {
      const comma = s.indexOf(', ', i);
      const end = comma < 0 ? s.length : comma;
      value = s.slice(i, end);
      i = end;
    }
    out.push(value);
    if (s.startsWith(', ', i)) i += 2;
  }
  return out;
}

/**
 * verify-if-given: a request on a connection whose certificate did not verify is refused (403, the
 * spec's DENIED) with the reason, rather than treated as anonymous.
 */
export function refuseUnverifiedClientCertificates(app: FastifyInstance): void {
  app.addHook('onRequest', async (req) => {
    const why = presentedUnverifiedCertificate(req.raw.socket as PeerSocket);
    if (why !== null) throw new RegistryError('DENIED', `client certificate not accepted: ${why}`);
  });
}
