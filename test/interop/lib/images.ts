// Builds tiny container images entirely in-process (no network) and writes them as OCI image layouts
// that skopeo/umoci can read (`oci:DIR:TAG`). Everything is deterministic: the same spec always yields
// the same bytes and therefore the same digests, which the interop tests rely on.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';

export const MT = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerTar: 'application/vnd.oci.image.layer.v1.tar',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

export function sha256(data: Buffer | string): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}

// ---------------------------------------------------------------------------------------------
// Minimal ustar writer
// ---------------------------------------------------------------------------------------------

export interface TarEntry {
  /** Path inside the archive, no leading slash; directories end with '/'. */
  path: string;
  /** File contents (omit for directories). */
  content?: string | Buffer;
  mode?: number;
}

/** A fixed mtime so layers are byte-for-byte reproducible (2020-01-01T00:00:00Z). */
const TAR_MTIME = 1577836800;

function octal(n: number, width: number): string {
  // width includes the trailing NUL
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

function tarHeader(name: string, size: number, mode: number, type: '0' | '5'): Buffer {
  const h = Buffer.alloc(512, 0);
  let prefix = '';
  let base = name;
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', 154);
    if (cut <= 0 || Buffer.byteLength(name.slice(cut + 1)) > 100) throw new Error(`tar path too long: ${name}`);
    prefix = name.slice(0, cut);
    base = name.slice(cut + 1);
  }
  h.write(base, 0, 100, 'utf8');
  h.write(octal(mode, 8), 100, 8, 'ascii');
  h.write(octal(0, 8), 108, 8, 'ascii'); // uid
  h.write(octal(0, 8), 116, 8, 'ascii'); // gid
  h.write(octal(size, 12), 124, 12, 'ascii');
  h.write(octal(TAR_MTIME, 12), 136, 12, 'ascii');
  h.write('        ', 148, 8, 'ascii'); // checksum placeholder: 8 spaces
  h.write(type, 156, 1, 'ascii');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  h.write('root', 265, 32, 'ascii');
  h.write('root', 297, 32, 'ascii');
  h.write(octal(0, 8), 329, 8, 'ascii');
  h.write(octal(0, 8), 337, 8, 'ascii');
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  return h;
}

/** Writes a ustar archive (with the two terminating zero blocks). */
export function makeTar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    if (e.path.endsWith('/')) {
      parts.push(tarHeader(e.path, 0, e.mode ?? 0o755, '5'));
      continue;
    }
    const body = typeof e.content === 'string' ? Buffer.from(e.content) : (e.content ?? Buffer.alloc(0));
    parts.push(tarHeader(e.path, body.length, e.mode ?? 0o644, '0'));
    parts.push(body);
    const pad = (512 - (body.length % 512)) % 512;
    if (pad) parts.push(Buffer.alloc(pad, 0));
  }
  parts.push(Buffer.alloc(1024, 0));
  return Buffer.concat(parts);
}

/** Parses a (possibly gzip'd) tar archive into regular-file and directory entries. Handles ustar prefix and pax paths. */
export function readTar(archive: Buffer): { path: string; type: string; content: Buffer }[] {
  const buf = archive[0] === 0x1f && archive[1] === 0x8b ? gunzipSync(archive) : archive;
  const out: { path: string; type: string; content: Buffer }[] = [];
  let off = 0;
  let paxPath: string | undefined;
  const str = (a: number, n: number) => buf.toString('utf8', off + a, off + a + n).replace(/\0.*$/s, '');
  while (off + 512 <= buf.length) {
    if (buf.subarray(off, off + 512).every((b) => b === 0)) break;
    const size = parseInt(str(124, 12).trim() || '0', 8);
    const type = str(156, 1) || '0';
    const prefix = str(345, 155);
    const name = paxPath ?? (prefix ? `${prefix}/${str(0, 100)}` : str(0, 100));
    const content = buf.subarray(off + 512, off + 512 + size);
    paxPath = undefined;
    if (type === 'x') {
      const m = /\d+ path=([^\n]*)\n/.exec(content.toString('utf8'));
      if (m) paxPath = m[1];
    } else if (type !== 'g') {
      out.push({ path: name.replace(/^\.\//, ''), type, content: Buffer.from(content) });
    }
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Images
// ---------------------------------------------------------------------------------------------

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string; variant?: string };
  annotations?: Record<string, string>;
}

export interface Blob {
  digest: string;
  data: Buffer;
}

export interface BuiltImage {
  manifest: Buffer;
  manifestDigest: string;
  config: Buffer;
  configDigest: string;
  /** Compressed layer blobs, in order. */
  layers: Blob[];
  /** sha256 of the uncompressed layer tars (config rootfs.diff_ids). */
  diffIds: string[];
  architecture: string;
  os: string;
  labels: Record<string, string>;
  env: string[];
  cmd: string[];
  /** All blobs including the manifest itself. */
  blobs: Blob[];
}

export interface ImageSpec {
  /** One entry per layer; each layer is a list of tar entries. */
  layers: TarEntry[][];
  architecture?: string;
  os?: string;
  variant?: string;
  labels?: Record<string, string>;
  env?: string[];
  cmd?: string[];
  /** Extra manifest annotations. */
  annotations?: Record<string, string>;
}

export function buildImage(spec: ImageSpec): BuiltImage {
  const architecture = spec.architecture ?? 'amd64';
  const os = spec.os ?? 'linux';
  const labels = spec.labels ?? {};
  const env = spec.env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'];
  const cmd = spec.cmd ?? ['/bin/hello'];
  const layers: Blob[] = [];
  const diffIds: string[] = [];
  for (const entries of spec.layers) {
    const tar = makeTar(entries);
    diffIds.push(sha256(tar));
    const gz = gzipSync(tar, { level: 9 });
    layers.push({ digest: sha256(gz), data: gz });
  }
  const created = '2020-01-01T00:00:00Z';
  const configObj: Record<string, unknown> = {
    created,
    architecture,
    os,
    ...(spec.variant ? { variant: spec.variant } : {}),
    config: { Env: env, Cmd: cmd, Labels: labels, WorkingDir: '/' },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: spec.layers.map((_, i) => ({ created, created_by: `wharf-interop layer ${i}`, comment: 'interop test' })),
  };
  const config = Buffer.from(JSON.stringify(configObj));
  const configDigest = sha256(config);
  const manifestObj: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    config: { mediaType: MT.ociConfig, digest: configDigest, size: config.length },
    layers: layers.map((l) => ({ mediaType: MT.ociLayerGzip, digest: l.digest, size: l.data.length })),
    ...(spec.annotations ? { annotations: spec.annotations } : {}),
  };
  const manifest = Buffer.from(JSON.stringify(manifestObj));
  const manifestDigest = sha256(manifest);
  return {
    manifest, manifestDigest, config, configDigest, layers, diffIds, architecture, os, labels, env, cmd,
    blobs: [...layers, { digest: configDigest, data: config }, { digest: manifestDigest, data: manifest }],
  };
}

export interface BuiltIndex {
  index: Buffer;
  indexDigest: string;
  images: BuiltImage[];
  blobs: Blob[];
}

export function buildIndex(images: BuiltImage[]): BuiltIndex {
  const obj = {
    schemaVersion: 2,
    mediaType: MT.ociIndex,
    manifests: images.map((im) => ({
      mediaType: MT.ociManifest,
      digest: im.manifestDigest,
      size: im.manifest.length,
      platform: { architecture: im.architecture, os: im.os },
    })),
  };
  const index = Buffer.from(JSON.stringify(obj));
  const indexDigest = sha256(index);
  return { index, indexDigest, images, blobs: [...images.flatMap((i) => i.blobs), { digest: indexDigest, data: index }] };
}

/** A small but non-trivial image: two layers, a few files, labels/env/cmd. `seed` varies the content. */
export function sampleImage(seed: string, opts: { architecture?: string; layers?: 1 | 2; labels?: Record<string, string> } = {}): BuiltImage {
  const arch = opts.architecture ?? 'amd64';
  const layers: TarEntry[][] = [[
    { path: 'etc/' },
    { path: 'etc/os-release', content: `NAME="Wharf interop"\nID=wharf\nVERSION_ID="${seed}"\n` },
    { path: 'bin/' },
    { path: 'bin/hello', content: `#!/bin/sh\necho hello from ${seed} on ${arch}\n`, mode: 0o755 },
  ]];
  if ((opts.layers ?? 2) === 2) {
    layers.push([
      { path: 'srv/' },
      { path: 'srv/data.txt', content: `seed=${seed}\narch=${arch}\n` + 'x'.repeat(700) + '\n' },
      { path: 'srv/nested/' },
      { path: 'srv/nested/deep.txt', content: `deep ${seed}\n` },
    ]);
  }
  return buildImage({
    layers,
    architecture: arch,
    labels: { 'org.wharf.test.seed': seed, 'org.wharf.test.arch': arch, ...(opts.labels ?? {}) },
    env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', `WHARF_SEED=${seed}`],
    cmd: ['/bin/hello'],
  });
}

/** Deterministic incompressible bytes (xorshift32), for multi-megabyte layers. */
export function pseudoRandom(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i + 4 <= size; i += 4) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    out.writeUInt32LE(x, i);
  }
  return out;
}

/** A two-platform (linux/amd64 + linux/arm64) OCI index of sample images. */
export function sampleIndex(seed: string): BuiltIndex {
  return buildIndex([sampleImage(seed, { architecture: 'amd64' }), sampleImage(seed, { architecture: 'arm64', layers: 1 })]);
}

// ---------------------------------------------------------------------------------------------
// OCI image layout
// ---------------------------------------------------------------------------------------------

export interface LayoutRef {
  tag: string;
  /** Either a single image or an index. */
  image?: BuiltImage;
  index?: BuiltIndex;
}

/**
 * Writes (or extends) an OCI image layout at `dir`: oci-layout, blobs/sha256/*, and index.json with one
 * entry per ref, annotated with org.opencontainers.image.ref.name = tag.
 */
export function writeOciLayout(dir: string, refs: LayoutRef[]): void {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const indexPath = join(dir, 'index.json');
  const top: { schemaVersion: number; mediaType?: string; manifests: Descriptor[] } = existsSync(indexPath)
    ? JSON.parse(readFileSync(indexPath, 'utf8'))
    : { schemaVersion: 2, mediaType: MT.ociIndex, manifests: [] };
  for (const ref of refs) {
    const blobs = ref.image?.blobs ?? ref.index?.blobs ?? [];
    for (const b of blobs) writeFileSync(join(dir, 'blobs', 'sha256', b.digest.slice('sha256:'.length)), b.data);
    const desc: Descriptor = ref.image
      ? { mediaType: MT.ociManifest, digest: ref.image.manifestDigest, size: ref.image.manifest.length }
      : { mediaType: MT.ociIndex, digest: ref.index!.indexDigest, size: ref.index!.index.length };
    desc.annotations = { 'org.opencontainers.image.ref.name': ref.tag };
    top.manifests = top.manifests.filter((m) => m.annotations?.['org.opencontainers.image.ref.name'] !== ref.tag);
    top.manifests.push(desc);
  }
  writeFileSync(indexPath, JSON.stringify(top));
}

/** Reads a blob from an OCI layout (throws if absent). */
export function readLayoutBlob(dir: string, digest: string): Buffer {
  const [alg, hex] = digest.split(':');
  return readFileSync(join(dir, 'blobs', alg!, hex!));
}

/** Finds the descriptor for `tag` in a layout's index.json. */
export function layoutRef(dir: string, tag: string): Descriptor {
  const top = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
  const d = top.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag);
  if (!d) throw new Error(`tag ${tag} not in ${dir}/index.json: ${JSON.stringify(top)}`);
  return d;
}
