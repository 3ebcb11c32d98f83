// A development CA and the certificates it signs (server, optionally client), for `wharf certs
// generate`. Built with @peculiar/x509 over Node's WebCrypto: ECDSA P-256, SHA-256, no hand-rolled DER.
// The command's module is loaded only when it runs, and the library stays outside the client bundle.
// reflect-metadata must come before the library (its ASN.1 schemas use decorators).
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { webcrypto } from 'node:crypto';
import { isIP } from 'node:net';

export interface DevCertificateRequest {
  /** DNS names for the server certificate (subjectAltName); the first is also its CN. */
  hosts: string[];
  /** IP addresses for the server certificate (subjectAltName). */
  ips: string[];
  /** A client certificate for this name (CN), signed by the same CA; none when absent. */
  client?: string;
  /** Validity in days, from now. */
  days: number;
}

export interface PemPair {
  cert: string;
  /** PKCS#8 PEM */
  key: string;
}

export interface DevCertificates {
  ca: PemPair;
  server: PemPair;
  client?: PemPair;
}

const EC_KEY = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;

export async function generateDevCertificates(req: DevCertificateRequest): Promise<DevCertificates> {
  for (const ip of req.ips) if (isIP(ip) === 0) throw new Error(`not an IP address: ${ip}`);
  if (req.hosts.length === 0 && req.ips.length === 0) throw new Error('at least one --host or --ip is needed');
  if (!Number.isInteger(req.days) || req.days < 1) throw new Error(`--days must be a positive integer, got ${req.days}`);
  const crypto = webcrypto as unknown as Crypto;
  x509.cryptoProvider.set(crypto);

  const notBefore = new Date(Date.now() - 5 * 60_000); // a little slack for clocks that differ
  const notAfter = new Date(Date.now() + req.days * 86_400_000);
  const exportKey = async (key: CryptoKey): Promise<string> =>
    x509.PemConverter.encode(await crypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
  const newKeys = (): Promise<CryptoKeyPair> => crypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
  const serial = (): string => {
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[0]! &= 0x7f; // positive
    return Buffer.from(b).toString('hex');
  };

  const caKeys = await newKeys();
  // A distinct name per CA, so two generated CAs never look alike to a client's trust store.
  const caName = [{ CN: [`Wharf development CA ${serial().slice(0, 12)}`] }];
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: caName,
    notBefore,
    notAfter,
    keys: caKeys,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });

  const leaf = async (cn: string, sans: { type: 'dns' | 'ip'; value: string }[], usage: string): Promise<PemPair> => {
    const keys = await newKeys();
    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([usage], false),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
    ];
    if (sans.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(sans, false));
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: [{ CN: [cn] }],
      issuer: caCert.subject,
      notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey: caKeys.privateKey,
      signingAlgorithm: SIGNING,
      extensions,
    });
    return { cert: cert.toString('pem') + '\n', key: (await exportKey(keys.privateKey)) + '\n' };
  };

  const sans = [...req.hosts.map((value) => ({ type: 'dns' as const, value })), ...req.ips.map((value) => ({ type: 'ip' as const, value }))];
  const server = await leaf(req.hosts[0] ?? req.ips[0]!, sans, x509.ExtendedKeyUsage.serverAuth);
  const client = req.client !== undefined ? await leaf(req.client, [], x509.ExtendedKeyUsage.clientAuth) : undefined;
  return {
    ca: { cert: caCert.toString('pem') + '\n', key: (await exportKey(caKeys.privateKey)) + '\n' },
    server,
    ...(client ? { client } : {}),
  };
}
