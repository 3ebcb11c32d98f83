// Per-registry TLS material following containers-certs.d(5), as containers/image reads it:
// a directory named host[:port] under ~/.config/containers/certs.d, /etc/containers/certs.d or /etc/docker/certs.d
// (the first that exists is used), or the --cert-dir directory itself. In it:
//   *.crt           CA certificates, added to the system roots
//   NAME.cert       a client certificate, which needs NAME.key
//   NAME.key        a client key, which needs NAME.cert
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFile, readdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { WharfError } from '../oci/errors.js';

export interface TlsSettings {
  verify: boolean;
  /** Extra CAs for this registry; empty means the system CAs only. */
  ca: Buffer[];
  cert?: Buffer;
  key?: Buffer;
  /** The directory the material came from, if one existed. */
  certDir?: string;
}

export interface TlsSettingsOptions {
  /** --cert-dir: read this directory (not a host:port subdirectory of it) instead of the certs.d roots. */
  certDir?: string;
  /** --tls-verify; false disables certificate verification. Default true. */
  tlsVerify?: boolean;
  /** certs.d roots searched in order for a host[:port] subdirectory (tests override the defaults). */
  certsDRoots?: string[];
  /** For HOME (the per-user certs.d root). */
  env?: NodeJS.ProcessEnv;
}

export class TlsSettingsError extends WharfError {
  constructor(message: string) {
    super(message);
    this.name = 'TlsSettingsError';
  }
}

/** The default certs.d roots, in the order containers/image searches them. */
export function defaultCertsDRoots(env: NodeJS.ProcessEnv = process.env): string[] {
  const home = env.HOME || homedir();
  return [join(home, '.config', 'containers', 'certs.d'), '/etc/containers/certs.d', '/etc/docker/certs.d'];
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** The certs.d directory for `registry` (host[:port]), or null when none exists. */
export async function findCertDir(registry: string, roots: string[]): Promise<string | null> {
  if (registry === '' || registry.includes('/') || registry === '.' || registry === '..') return null;
  for (const root of roots) {
    const dir = join(root, registry);
    if (await isDirectory(dir)) return dir;
  }
  return null;
}

function basenameWithout(name: string, ext: string): string {
  return name.slice(0, name.length - ext.length);
}

/** Reads certificates and keys from one directory. A missing directory yields nothing. */
export async function readCertDir(dir: string): Promise<{ ca: Buffer[]; pairs: { cert: Buffer; key: Buffer }[] }> {
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'ENOTDIR') return { ca: [], pairs: [] };
    throw err;
  }
  const present = new Set(names);
  const ca: Buffer[] = [];
  const pairs: { cert: Buffer; key: Buffer }[] = [];
  for (const name of names) {
    const full = join(dir, name);
    if (name.endsWith('.crt')) {
      if (!(await stat(full)).isFile()) continue;
      ca.push(await readFile(full));
    } else if (name.endsWith('.cert')) {
      const keyName = `${basenameWithout(name, '.cert')}.key`;
      if (!present.has(keyName)) {
        throw new TlsSettingsError(
          `missing key ${keyName} for client certificate ${name} in ${dir}. ` +
            'Note that CA certificates should use the extension .crt',
        );
      }
      const cert = await readFile(full);
      const key = await readFile(join(dir, keyName));
      checkPair(cert, key, join(dir, name), join(dir, keyName));
      pairs.push({ cert, key });
    } else if (name.endsWith('.key')) {
      const certName = `${basenameWithout(name, '.key')}.cert`;
      if (!present.has(certName)) {
        throw new TlsSettingsError(`missing client certificate ${certName} for key ${name} in ${dir}`);
      }
    }
  }
  return { ca, pairs };
}

function checkPair(cert: Buffer, key: Buffer, certPath: string, keyPath: string): void {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new TlsSettingsError(`client certificate ${certPath} is not a valid certificate: ${(err as Error).message}`);
  }
  let ok: boolean;
  try {
    ok = x509.checkPrivateKey(createPrivateKey(key));
  } catch (err) {
    throw new TlsSettingsError(`client key ${keyPath} is not a valid private key: ${(err as Error).message}`);
  }
  if (!ok) throw new TlsSettingsError(`client key ${keyPath} does not match client certificate ${certPath}`);
}

/**
 * TLS settings for talking to `registry` (host[:port]). With several client pairs, the first by file name is
 * used. Certificates are loaded even when verification is off (client certificates may still be required).
 */
export async function loadTlsSettings(registry: string, opts: TlsSettingsOptions = {}): Promise<TlsSettings> {
  const verify = opts.tlsVerify !== false;
  const dir = opts.certDir ?? (await findCertDir(registry, opts.certsDRoots ?? defaultCertsDRoots(opts.env)));
  if (!dir) return { verify, ca: [] };
  const { ca, pairs } = await readCertDir(dir);
  const out: TlsSettings = { verify, ca, certDir: dir };
  if (pairs.length > 0) {
    out.cert = pairs[0]!.cert;
    out.key = pairs[0]!.key;
  }
  return out;
}

/**
 * Options for tls.connect / an https.Agent: custom CAs are added to Node's bundled roots (Node's `ca` option
 * replaces them, whereas containers/image adds to the system pool).
 */
export function tlsConnectOptions(settings: TlsSettings): {
  rejectUnauthorized: boolean;
  ca?: (string | Buffer)[];
  cert?: Buffer;
  key?: Buffer;
} {
  return {
    rejectUnauthorized: settings.verify,
    ...(settings.ca.length > 0 ? { ca: [...rootCertificates, ...settings.ca] } : {}),
    ...(settings.cert && settings.key ? { cert: settings.cert, key: settings.key } : {}),
  };
}
