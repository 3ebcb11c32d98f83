// The verified TLS client certificate of a connection, in the access layer's terms.
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ClientCertificate } from '../access/access-controller.js';

export function clientCertificateOf(socket: Socket | undefined): ClientCertificate | null {
  const tls = socket as TLSSocket | undefined;
  // Only a certificate the TLS layer verified against tls.clientCA counts.
  if (!tls || typeof tls.getPeerCertificate !== 'function' || tls.authorized !== true) return null;
  const cert = tls.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return null;
  const cn = cert.subject?.CN;
  const altNames = (cert.subjectaltname ?? '').split(', ').filter(Boolean).map((e) => e.replace(/^[A-Za-z ]+:/, ''));
  return { commonName: Array.isArray(cn) ? (cn[0] ?? null) : (cn ?? null), altNames, fingerprint256: cert.fingerprint256 };
}
