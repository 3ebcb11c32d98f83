// TLS for `wharf serve`: the certificate files as a secure context, the server options (ALPN h2 and
// http/1.1, a minimum version, Mozilla's "intermediate" ciphers), and reloading when the files change.
import { readFileSync, statSync, watch, type FSWatcher } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { SecureServerOptions } from 'node:http2';
import { ConfigError, settableKeys, type Config } from '../config/config.js';

export type TlsConfig = Config['tls'];

/**
 * Mozilla "intermediate" (forward secrecy, AEAD only): the TLS 1.3 suites, then ECDHE with AES-GCM or
 * ChaCha20-Poly1305. No CBC, no RSA key exchange, no SHA-1 MACs.
 */
export const TLS_CIPHERS = [
  'TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/** Whether the configuration turns TLS on (the schema guarantees cert and key come together). */
export function tlsEnabled(tls: TlsConfig): tls is TlsConfig & { cert: string; key: string } {
  return tls.cert !== undefined && tls.key !== undefined;
}

/** The files a TLS configuration reads, by config key. */
function filesOf(tls: TlsConfig & { cert: string; key: string }): { key: string; path: string }[] {
  const files = [{ key: 'tls.cert', path: tls.cert }, { key: 'tls.key', path: tls.key }];
  if (tls.clientCA) files.push({ key: 'tls.clientCA', path: tls.clientCA });
  return files;
}

function keyLabel(key: string): string {
  const env = settableKeys.find((k) => k.path === key)?.env;
  return env ? `${key} (${env})` : key;
}

/** The context options that follow the files: certificate chain, key, client CAs, and the fixed policy. */
export function loadSecureContextOptions(tls: TlsConfig & { cert: string; key: string }): SecureContextOptions {
  const read = (key: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (e) {
      throw new ConfigError(`${keyLabel(key)}: cannot read ${path}: ${(e as Error).message}`);
    }
  };
  const cert = read('tls.cert', tls.cert);
  const key = read('tls.key', tls.key);
  const ca = tls.clientCA ? read('tls.clientCA', tls.clientCA) : undefined;
  const leaf = checkCertificates('tls.cert', tls.cert, cert);
  if (ca) checkCertificates('tls.clientCA', tls.clientCA!, ca);
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (e) {
    throw new ConfigError(`${keyLabel('tls.key')}: ${tls.key} is not a PEM private key: ${(e as Error).message}`);
  }
  // The first certificate is the server's own; its key must be this one.
  if (!leaf.checkPrivateKey(privateKey)) throw new ConfigError(`${keyLabel('tls.key')}: ${tls.key} does not match the certificate in ${tls.cert}`);
  const options: SecureContextOptions = {
    cert, key, ca,
    minVersion: tls.minVersion,
    ciphers: TLS_CIPHERS,
    honorCipherOrder: true,
  };
  try {
    createSecureContext(options); // anything else OpenSSL refuses
  } catch (e) {
    throw new ConfigError(`${keyLabel('tls.cert')}: ${tls.cert} and ${tls.key} are not a usable certificate and key: ${(e as Error).message}`);
  }
  return options;
}

/** At least one PEM certificate, each one parseable (a chain is several); returns the first. */
function checkCertificates(key: string, path: string, pem: Buffer): X509Certificate {
  const blocks = pem.toString('latin1').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new ConfigError(`${keyLabel(key)}: ${path} holds no PEM certificate`);
  const certs = blocks.map((block) => {
    try {
      return new X509Certificate(block);
    } catch (e) {
      throw new ConfigError(`${keyLabel(key)}: ${path} holds an invalid certificate: ${(e as Error).message}`);
    }
  });
  return certs[0]!;
}

/** Options for http2.createSecureServer: both protocols offered by ALPN, client certificates as configured. */
export function secureServerOptions(tls: TlsConfig & { cert: string; key: string }): SecureServerOptions {
  const requestCert = tls.clientCA !== undefined;
  return {
    ...loadSecureContextOptions(tls),
    allowHTTP1: true,
    requestCert,
    // verify-if-given lets a client without a certificate in; one whose certificate fails is refused per request.
    rejectUnauthorized: requestCert && (tls.clientAuth ?? 'require') === 'require',
  };
}

export interface TlsReloadLog {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface TlsWatcher {
  close(): void;
}

/**
 * Watches the certificate, key and client CA files; when they change, loads them and hands the new
 * context options to `apply` (server.setSecureContext). Directories are watched rather than files,
 * so editors and tools that replace a file by rename (and Kubernetes' symlink swaps) are seen; a
 * stat signature filters out events that changed nothing. A broken new set is logged and the
 * running one kept.
 */
export function watchTlsFiles(tls: TlsConfig & { cert: string; key: string }, apply: (o: SecureContextOptions) => void, log: TlsReloadLog, debounceMs = 250): TlsWatcher {
  const paths = filesOf(tls).map((f) => resolve(f.path));
  const signature = (): string => paths.map((p) => {
    try {
      const s = statSync(p);
      return `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch {
      return 'missing';
    }
  }).join('|');
  let current = signature();
  let timer: NodeJS.Timeout | null = null;
  const check = (): void => {
    timer = null;
    const next = signature();
    if (next === current) return;
    current = next;
    try {
      apply(loadSecureContextOptions(tls));
      log.info({ cert: tls.cert }, 'tls certificate reloaded');
    } catch (err) {
      // Often a moment between writing the key and the certificate: the next change retries.
      log.error({ err: { message: (err as Error).message } }, 'tls certificate reload failed; keeping the previous one');
    }
  };
  const watchers: FSWatcher[] = [];
  for (const dir of new Set(paths.map((p) => dirname(p)))) {
    try {
      const w = watch(dir, { persistent: false }, () => {
        if (timer) clearTimeout(timer);
        timer = setTimeout(check, debounceMs);
        timer.unref();
      });
      w.on('error', (err) => log.error({ err: { message: err.message }, dir }, 'tls watch failed'));
      watchers.push(w);
    } catch (err) {
      log.error({ err: { message: (err as Error).message }, dir }, 'cannot watch tls directory; certificates will not be reloaded');
    }
  }
  return {
    close() {
      if (timer) clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}
