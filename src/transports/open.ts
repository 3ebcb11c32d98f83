// Opens a transport from its name (docker://…, oci:…, oci-archive:…, dir:…, docker-archive:…),
// with credentials and TLS the way the containers tools resolve them.
import { RegistryClient, type Credentials } from '../client/registry-client.js';
import { resolveCredentials } from '../client/auth-file.js';
import { loadTlsSettings } from '../client/tls-settings.js';
import { isBlocked, isInsecure, loadRegistriesConf, pullSources, type RegistriesConf } from '../client/registries-conf.js';
import type { Reference } from '../oci/reference.js';
import { DockerDestination, DockerSource, parseDockerSpec } from './docker.js';
import type { ImageDestination, ImageSource } from './types.js';
import { WharfError } from '../oci/errors.js';

export interface RegistryAccess {
  /** USER[:PASS] from --creds / --src-creds / --dest-creds. */
  creds?: string;
  authFile?: string;
  /** undefined: as registries.conf says (default verify). */
  tlsVerify?: boolean;
  certDir?: string;
  retryTimes?: number;
}

export class TransportError extends WharfError {}

const TRANSPORTS = ['docker', 'oci', 'oci-archive', 'dir', 'docker-archive'] as const;
type TransportName = (typeof TRANSPORTS)[number];

export function splitTransport(name: string): { transport: TransportName; spec: string } {
  const i = name.indexOf(':');
  const t = i < 0 ? '' : name.slice(0, i);
  if (!(TRANSPORTS as readonly string[]).includes(t)) {
    throw new TransportError(`invalid image name "${name}": expected TRANSPORT:DETAILS with a transport of ${TRANSPORTS.join(', ')} (e.g. docker://registry/repo:tag)`);
  }
  const spec = name.slice(i + 1);
  if (t === 'docker' && !spec.startsWith('//')) throw new TransportError(`invalid image name "${name}": docker references start with docker://`);
  return { transport: t as TransportName, spec: t === 'docker' ? spec.slice(2) : spec };
}

export function parseCreds(creds: string): Credentials {
  const i = creds.indexOf(':');
  if (i < 0) return { username: creds, password: '' };
  return { username: creds.slice(0, i), password: creds.slice(i + 1) };
}

export async function registryClientFor(ref: Pick<Reference, 'registry' | 'repository'>, a: RegistryAccess, conf?: RegistriesConf | null): Promise<RegistryClient> {
  const credentials = a.creds !== undefined ? parseCreds(a.creds) : await resolveCredentials(ref.registry, ref.repository, { authFile: a.authFile });
  conf ??= await loadRegistriesConf().catch(() => null);
  if (conf && isBlocked(conf, ref)) throw new TransportError(`${ref.registry}/${ref.repository} is blocked in registries.conf`);
  const insecure = a.tlsVerify === false || (a.tlsVerify === undefined && conf !== null && isInsecure(conf, ref.registry));
  const tls = await loadTlsSettings(ref.registry, { certDir: a.certDir, tlsVerify: insecure ? false : a.tlsVerify });
  return new RegistryClient({ registry: ref.registry, credentials, tls, insecure, retryTimes: a.retryTimes });
}

export async function openSource(name: string, a: RegistryAccess = {}): Promise<ImageSource> {
  const { transport, spec } = splitTransport(name);
  switch (transport) {
    case 'docker': return openDockerSource(parseDockerSpec(spec), a);
    // Local transports load on use: a command pays only for the formats it touches.
    case 'oci': return (await import('./oci-layout.js')).openOciSource(spec);
    case 'oci-archive': return (await import('./oci-archive.js')).openOciArchiveSource(spec);
    case 'dir': return (await import('./dir.js')).openDirSource(spec);
    case 'docker-archive': return (await import('./docker-archive.js')).openDockerArchiveSource(spec);
  }
}

/**
 * A registry source, through the mirrors registries.conf lists for it (in order, then the registry
 * itself): the first endpoint that serves the manifest is used. Credentials from --creds go to the
 * registry named; mirrors use their own entries in auth.json.
 */
async function openDockerSource(ref: Reference, a: RegistryAccess): Promise<DockerSource> {
  const conf = await loadRegistriesConf().catch(() => null);
  const endpoints = conf ? pullSources(conf, ref, ref.digest !== undefined) : [];
  if (endpoints.length <= 1 || !endpoints.some((e) => e.mirror)) return new DockerSource(ref, await registryClientFor(ref, a, conf));
  const failures: string[] = [];
  for (const ep of endpoints) {
    const epRef: Reference = { ...ref, registry: ep.registry, repository: ep.repository };
    const access = ep.mirror ? { ...a, creds: undefined, tlsVerify: ep.insecure ? false : a.tlsVerify } : a;
    let src: DockerSource | null = null;
    try {
      src = new DockerSource(epRef, await registryClientFor(epRef, access, conf));
      await src.getManifest();
      return src;
    } catch (e) {
      failures.push(`${ep.registry}/${ep.repository}: ${(e as Error).message}`);
      await src?.close();
    }
  }
  throw new TransportError(`no mirror or registry could serve ${ref.registry}/${ref.repository}:\n  ${failures.join('\n  ')}`);
}

export async function openDestination(name: string, a: RegistryAccess = {}): Promise<ImageDestination> {
  const { transport, spec } = splitTransport(name);
  switch (transport) {
    case 'docker': {
      const ref = parseDockerSpec(spec);
      return new DockerDestination(ref, await registryClientFor(ref, a));
    }
    case 'oci': return (await import('./oci-layout.js')).openOciDestination(spec);
    case 'oci-archive': return (await import('./oci-archive.js')).openOciArchiveDestination(spec);
    case 'dir': return (await import('./dir.js')).openDirDestination(spec);
    case 'docker-archive': return (await import('./docker-archive.js')).openDockerArchiveDestination(spec);
  }
}
