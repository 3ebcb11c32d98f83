// Minimal Distribution API client steps for tests: push blobs and manifests, verify stored data.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** fetch() takes any Uint8Array at run time; TypeScript 5.9's lib types only admit ArrayBuffer-backed views. */
export function body(b: Uint8Array): ArrayBuffer {
  return b as unknown as ArrayBuffer;
}

export function sha256(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Monolithic push: POST to start, PUT ?digest= with the whole body. */
export async function pushBlob(base: string, repo: string, data: Buffer): Promise<string> {
  const digest = sha256(data);
  const start = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  await start.arrayBuffer();
  if (start.status !== 202) throw new Error(`start upload: ${start.status}`);
  const loc = new URL(start.headers.get('location')!, base);
  loc.searchParams.set('digest', digest);
  const put = await fetch(loc, { method: 'PUT', body: body(data), headers: { 'content-type': 'application/octet-stream' } });
  const text = await put.text();
  if (put.status !== 201) throw new Error(`put blob: ${put.status} ${text}`);
  return digest;
}

export const EMPTY_CONFIG = Buffer.from('{}');

/** An OCI image manifest over the given config and layers. */
export function imageManifest(config: { digest: string; size: number }, layers: { digest: string; size: number }[], extra: object = {}): Buffer {
  return Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...l })),
    ...extra,
  }));
}

export async function putManifest(base: string, repo: string, ref: string, bytes: Buffer, mediaType = 'application/vnd.oci.image.manifest.v1+json'): Promise<Response> {
  return fetch(`${base}/v2/${repo}/manifests/${ref}`, { method: 'PUT', body: body(bytes), headers: { 'content-type': mediaType } });
}

/** Pushes a small random image (config + one layer) and tags it. Returns the manifest digest. */
export async function pushImage(base: string, repo: string, tag: string, layer: Buffer): Promise<string> {
  const cfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(layer)] } }));
  const configDigest = await pushBlob(base, repo, cfg);
  const layerDigest = await pushBlob(base, repo, layer);
  const m = imageManifest({ digest: configDigest, size: cfg.length }, [{ digest: layerDigest, size: layer.length }]);
  const res = await putManifest(base, repo, tag, m);
  const text = await res.text();
  if (res.status !== 201) throw new Error(`put manifest: ${res.status} ${text}`);
  return sha256(m);
}

/** Every blob file under a Wharf data dir hashes to its name; returns how many were checked. */
export async function verifyStoredBlobs(dataDir: string): Promise<number> {
  const root = join(dataDir, 'blobs', 'sha256');
  let checked = 0;
  const prefixes = await readdir(root).catch(() => [] as string[]);
  for (const p of prefixes) {
    for (const hex of await readdir(join(root, p))) {
      const h = createHash('sha256');
      for await (const c of createReadStream(join(root, p, hex))) h.update(c as Buffer);
      const got = h.digest('hex');
      if (got !== hex) throw new Error(`blob ${hex} is corrupt: content hashes to ${got}`);
      checked++;
    }
  }
  return checked;
}
