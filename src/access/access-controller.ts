// The access seam: who is asking (authenticate), what they may do (authorize), and how to ask them
// for credentials (challenge). The server's one pre-handler drives it; no route knows which
// implementation runs. Implementations: none (everything allowed), htpasswd, certificate; the token
// service and roles plug in here too.

/** One thing a request needs, in the Docker token scope's terms (`repository:team/app:pull`). */
export type Access =
  | { type: 'repository'; name: string; action: 'pull' | 'push' | 'delete' }
  | { type: 'registry'; name: 'catalog'; action: '*' };

export interface Identity {
  /** How the caller proved who they are; 'anonymous' when they did not. */
  kind: 'anonymous' | 'user' | 'certificate';
  /** The account (or certificate subject) name; '' when anonymous. */
  name: string;
}

export const ANONYMOUS: Identity = Object.freeze({ kind: 'anonymous', name: '' });

/** A verified TLS client certificate, as the connection presented it. */
export interface ClientCertificate {
  /** The subject's common name, when it has one. */
  commonName: string | null;
  /** subjectAltName entries without their type prefix (DNS names, e-mail addresses, URIs, IPs). */
  altNames: string[];
  /** SHA-256 fingerprint, colon-separated hex, as Node's tls reports it. */
  fingerprint256: string;
}

/** What a controller may look at: never the body, never more than the headers it needs. */
export interface AuthRequest {
  /** The Authorization header, if any. */
  authorization: string | undefined;
  /** The client's address (throttling, the log line of a failed attempt). */
  remoteAddress: string;
  /** The client certificate the TLS layer verified, or null. */
  clientCertificate: ClientCertificate | null;
}

export interface AccessController {
  /** For logs and /healthz-style introspection: 'none', 'htpasswd', 'certificate', … */
  readonly kind: string;
  /**
   * Who is asking. No credentials: ANONYMOUS. Bad credentials: throws a RegistryError
   * (UNAUTHORIZED with this controller's challenge, or TOOMANYREQUESTS with Retry-After).
   */
  authenticate(req: AuthRequest): Promise<Identity>;
  /** The subset of `wanted` that `identity` may do (same objects, same order). */
  authorize(identity: Identity, wanted: readonly Access[]): Promise<Access[]>;
  /**
   * The WWW-Authenticate value for a request that lacks some of `wanted`, or null when this
   * controller never asks for credentials.
   */
  challenge(wanted: readonly Access[]): string | null;
  /**
   * Whether an authenticated caller who lacks access is asked again (401 + challenge, as bearer
   * tokens with too narrow a scope are) rather than refused (403 DENIED).
   */
  readonly challengesAuthenticated: boolean;
  /**
   * Whether the base endpoint (`/v2/`) turns anonymous callers away with 401, as every registry with
   * logins does (clients read it to learn how to log in); false only for the open registry.
   */
  readonly requiresIdentity: boolean;
  close(): Promise<void>;
}

/** `repository:NAME:ACTION` / `registry:catalog:*`, the scope syntax of Docker token auth. */
export function scopeOf(a: Access): string {
  return `${a.type}:${a.name}:${a.action}`;
}
