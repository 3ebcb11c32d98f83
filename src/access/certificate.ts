// auth.mode: certificate — the caller is whoever the TLS client certificate names (verified against
// tls.clientCA by the TLS layer before this runs). A certified caller may do everything; a caller
// without a certificate nothing. There are no credentials to ask for, so there is no challenge.
import { ANONYMOUS, type Access, type AccessController, type AuthRequest, type ClientCertificate, type Identity } from './access-controller.js';
import { RegistryError } from '../oci/errors.js';

/** The name a certificate stands for: its subject CN, else its first subjectAltName, else null. */
export function certificateSubjectName(cert: ClientCertificate): string | null {
  const cn = cert.commonName?.trim();
  if (cn) return cn;
  return cert.altNames.find((n) => n.trim() !== '') ?? null;
}

export class CertificateAccessController implements AccessController {
  readonly kind = 'certificate';
  async reasksFor(): Promise<boolean> { return false; }
  readonly requiresIdentity = true;

  async authenticate(req: AuthRequest): Promise<Identity> {
    if (!req.clientCertificate) return ANONYMOUS;
    const name = certificateSubjectName(req.clientCertificate);
    // A verified certificate that names nobody cannot be an identity; it is not anonymous either.
    if (name === null) throw new RegistryError('UNAUTHORIZED', 'client certificate has neither a subject CN nor a subjectAltName');
    return { kind: 'certificate', name, via: 'certificate' };
  }

  async authorize(identity: Identity, wanted: readonly Access[]): Promise<Access[]> {
    return identity.kind === 'certificate' ? [...wanted] : [];
  }

  challenge(): string | null {
    return null;
  }

  async close(): Promise<void> {}
}
