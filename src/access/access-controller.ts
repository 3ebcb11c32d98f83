// The access seam: who is asking (authenticate), what they may do (authorize), and how to ask them
// for credentials (challenge). The server's one pre-handler drives it; no route knows which
// implementation runs. Implementations: none (everything allowed), htpasswd, certificate, and builtin
// (accounts, roles and the token service).

/** One thing a request needs, in the Docker token scope's terms (`repository:team/app:pull`). */
export type Access =
  | { type: 'repository'; name: string; action: 'pull' | 'push' | 'delete' }
  | { type: 'registry'; name: 'catalog'; action: '*' };

export interface Identity {
  /** Who the caller is; 'anonymous' when they did not say; 'system' for the registry's own jobs (retention). */
  kind: 'anonymous' | 'user' | 'robot' | 'certificate' | 'system';
  /** The account, robot (`ORG+NAME`) or certificate subject name; '' when anonymous. */
  name: string;
  /** How they proved it (absent when anonymous). */
  via?: 'basic' | 'bearer' | 'certificate';
  /** The client's address, where the controller records it (the audit log says from where). */
  remote?: string;
}

/** Where the request came to: what a challenge may need to point back at (the token realm). */
export interface ChallengeContext {
  /** scheme://host[:port] as the client addressed this server. */
  origin: string;
  /** The caller holds a bearer token that lacks the access: say so (RFC 6750 insufficient_scope). */
  insufficientScope?: boolean;
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
  /** scheme://host as the client addressed the server (for challenges that point back at it). */
  origin?: string;
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
   * Whether the caller may read the repository where no scope was asked for it: listings, and the
   * source of a mount without `from`. Without it, `authorize` of a pull decides. A bearer token carries
   * only the scope its client asked for; the rules behind it may allow more.
   */
  canRead?(identity: Identity, repository: string): Promise<boolean>;
  /**
   * The WWW-Authenticate value for a request that lacks some of `wanted`, or null when this
   * controller never asks for credentials.
   */
  challenge(wanted?: readonly Access[], ctx?: ChallengeContext): string | null;
  /**
   * Whether an authenticated caller who lacks some of `wanted` is asked for other credentials (401 and
   * the challenge with insufficient_scope: a bearer token narrower than what its holder may do) rather
   * than refused (403 DENIED).
   */
  reasksFor(identity: Identity, wanted: readonly Access[]): Promise<boolean>;
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
