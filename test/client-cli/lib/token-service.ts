// A Docker token-auth service for client tests (what Docker Hub, ghcr.io and quay.io run in front of their
// registries), in the test process on 127.0.0.1, and Debian's docker-registry configured to trust it
// (`auth: token:` with its signing certificate as rootcertbundle).
//
// Tokens are JWTs signed with ES256 by a key generated here; the header carries the self-signed signing
// certificate as x5c, which Distribution 2.8 verifies against the rootcertbundle (registry/auth/token/
// token.go: VerifySigningKey, x5c first). The service speaks both grants of Docker's token spec:
//   GET  /token?service=&scope=…      with Basic username:password          -> {token, access_token, expires_in}
//   POST /token grant_type=password    (username, password[, access_type=offline]) -> {access_token, refresh_token?}
//   POST /token grant_type=refresh_token (refresh_token)                     -> {access_token}
// and records every request: its grant, its scopes, and whether it was refused.
import 'reflect-metadata';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { KeyObject, randomBytes, sign, webcrypto } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { startDistribution, type DistributionServer } from '../../helpers/distribution.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export type Grant = 'basic' | 'anonymous' | 'password' | 'refresh_token';

export interface TokenRequest {
  method: string;
  grant: Grant;
  /** The requested scopes, sorted and joined with a space ('' for none). */
  scopes: string;
  /** Whether the service refused it (bad credentials or refresh token). */
  refused: boolean;
}

export interface TokenService {
  /** http://127.0.0.1:PORT/token */
  realm: string;
  service: string;
  issuer: string;
  /** PEM of the signing certificate, for the registry's rootcertbundle. */
  certPem: string;
  user: string;
  password: string;
  requests: TokenRequest[];
  /** expires_in of the tokens it issues from now on (seconds). */
  expiresIn: number;
  /** The next this-many tokens are already expired when issued (the registry refuses them), though expires_in says otherwise. */
  staleTokens: number;
  /** The refresh tokens it has issued (identity tokens, as `docker login` stores them). */
  refreshTokens: Set<string>;
  /** Issues a refresh token directly (what a password grant with access_type=offline returns). */
  issueRefreshToken(): string;
  /** Token requests for exactly this scope set (scopes sorted, joined with a space). */
  count(scopes: string, grant?: Grant): number;
  reset(): void;
  stop(): Promise<void>;
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

/** The scopes of a request: every `scope` parameter, each possibly a space-separated list. */
function scopesOf(params: URLSearchParams): string[] {
  return params.getAll('scope').flatMap((s) => s.split(' ')).filter((s) => s !== '').sort();
}

/** Grants every action asked for (`repository:team/app:pull,push` -> {type, name, actions}). */
function accessOf(scopes: string[]): { type: string; name: string; actions: string[] }[] {
  return scopes.map((s) => {
    const first = s.indexOf(':');
    const last = s.lastIndexOf(':');
    return { type: s.slice(0, first), name: s.slice(first + 1, last), actions: s.slice(last + 1).split(',') };
  });
}

export async function startTokenService(opts: { user?: string; password?: string; expiresIn?: number } = {}): Promise<TokenService> {
  const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(8).toString('hex'),
    name: 'CN=wharf test token signer',
    notBefore: new Date(now - 3_600_000),
    notAfter: new Date(now + 86_400_000),
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign, true),
    ],
  });
  const signingKey = KeyObject.from(keys.privateKey);
  const x5c = [Buffer.from(cert.rawData).toString('base64')];
  const service = 'wharf-test-registry';
  const issuer = 'wharf-test-token-issuer';
  const user = opts.user ?? 'alice';
  const password = opts.password ?? `S3cr3t-${randomBytes(6).toString('hex')}`;
  const sockets = new Set<Socket>();

  const jwt = (scopes: string[], subject: string, expiresIn: number): string => {
    const t = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'ES256', x5c };
    const claims = { iss: issuer, sub: subject, aud: service, exp: t + expiresIn, nbf: t - 1, iat: t, jti: randomBytes(8).toString('hex'), access: accessOf(scopes) };
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = sign('sha256', Buffer.from(signingInput), { key: signingKey, dsaEncoding: 'ieee-p1363' });
    return `${signingInput}.${b64url(sig)}`;
  };

  const svc: TokenService = {
    realm: '',
    service,
    issuer,
    certPem: cert.toString('pem'),
    user,
    password,
    requests: [],
    expiresIn: opts.expiresIn ?? 300,
    refreshTokens: new Set(),
    staleTokens: 0,
    issueRefreshToken() {
      const r = `refresh-${randomBytes(12).toString('hex')}`;
      svc.refreshTokens.add(r);
      return r;
    },
    count(scopes, grant) {
      return svc.requests.filter((r) => r.scopes === scopes && !r.refused && (grant === undefined || r.grant === grant)).length;
    },
    reset() {
      svc.requests.length = 0;
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const reply = (res: ServerResponse, status: number, body: object): void => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== '/token') return reply(res, 404, { errors: [{ code: 'NOT_FOUND' }] });
    let params = url.searchParams;
    let grant: Grant;
    let ok: boolean;
    let refresh: string | undefined;
    if (req.method === 'POST') {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      params = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const g = params.get('grant_type');
      if (g === 'password') {
        grant = 'password';
        ok = params.get('username') === user && params.get('password') === password;
        if (ok && params.get('access_type') === 'offline') refresh = svc.issueRefreshToken();
      } else if (g === 'refresh_token') {
        grant = 'refresh_token';
        ok = svc.refreshTokens.has(params.get('refresh_token') ?? '');
      } else {
        return reply(res, 400, { error: 'unsupported_grant_type' });
      }
    } else {
      const auth = req.headers.authorization;
      if (auth?.startsWith('Basic ')) {
        grant = 'basic';
        const decoded = Buffer.from(auth.slice(6), 'base64').toString('utf8');
        ok = decoded === `${user}:${password}`;
      } else {
        // This registry has no anonymous access.
        grant = 'anonymous';
        ok = false;
      }
    }
    const scopes = scopesOf(params);
    svc.requests.push({ method: req.method ?? '', grant, scopes: scopes.join(' '), refused: !ok });
    if (!ok) {
      const status = grant === 'refresh_token' || grant === 'password' ? 400 : 401;
      if (status === 401) res.setHeader('www-authenticate', `Basic realm="${service}"`);
      return reply(res, status, grant === 'refresh_token' ? { error: 'invalid_grant' } : { details: 'incorrect username or password' });
    }
    const stale = svc.staleTokens > 0;
    if (stale) svc.staleTokens--;
    const token = jwt(scopes, user, stale ? -3600 : svc.expiresIn);
    const body: Record<string, unknown> = { access_token: token, expires_in: svc.expiresIn, issued_at: new Date().toISOString() };
    if (req.method === 'GET') body.token = token;
    if (refresh) body.refresh_token = refresh;
    if (req.method === 'POST') body.scope = scopes.join(' ');
    reply(res, 200, body);
  };

  const server = createServer((req, res) => { handle(req, res).catch(() => { if (!res.headersSent) res.writeHead(500); res.end(); }); });
  server.on('connection', (s: Socket) => { sockets.add(s); s.once('close', () => sockets.delete(s)); });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  svc.realm = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
  return svc;
}

/** Debian's docker-registry (plain HTTP on 127.0.0.1) trusting `svc`'s tokens. */
export async function startTokenAuthDistribution(svc: TokenService): Promise<DistributionServer> {
  const dir = mkdtempSync(join(tmpdir(), 'wharf-token-root-'));
  const bundle = join(dir, 'root.pem');
  writeFileSync(bundle, svc.certPem);
  const reg = await startDistribution({
    extraConfig: [
      'auth:',
      '  token:',
      `    realm: ${svc.realm}`,
      `    service: ${svc.service}`,
      `    issuer: ${svc.issuer}`,
      `    rootcertbundle: ${bundle}`,
      '',
    ].join('\n'),
  });
  return { ...reg, async stop() { await reg.stop(); rmSync(dir, { recursive: true, force: true }); } };
}
