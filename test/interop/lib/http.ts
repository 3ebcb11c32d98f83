// Direct HTTP probes of a registry, used to check what the clients rely on (Content-Type,
// Docker-Content-Digest, status codes) alongside the client-level assertions.
import { MT, sha256 } from './images.js';

export const ALL_MANIFEST_TYPES = [MT.ociManifest, MT.ociIndex, MT.dockerManifest, MT.dockerList].join(', ');

export interface ManifestResponse {
  status: number;
  contentType: string | null;
  digest: string | null;
  contentLength: string | null;
  body: Buffer;
}

async function timedFetch(url: string, init: RequestInit = {}): Promise<Response> {
  return fetch(url, { ...init, signal: AbortSignal.timeout(15_000) });
}

export async function fetchManifest(baseUrl: string, repo: string, ref: string, opts: { method?: 'GET' | 'HEAD'; accept?: string } = {}): Promise<ManifestResponse> {
  const res = await timedFetch(`${baseUrl}/v2/${repo}/manifests/${ref}`, {
    method: opts.method ?? 'GET',
    headers: { Accept: opts.accept ?? ALL_MANIFEST_TYPES },
  });
  const body = Buffer.from(await res.arrayBuffer());
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    digest: res.headers.get('docker-content-digest'),
    contentLength: res.headers.get('content-length'),
    body,
  };
}

/** Media type without parameters (e.g. "; charset=utf-8"). */
export function bareType(ct: string | null): string | null {
  return ct === null ? null : ct.split(';')[0]!.trim();
}

/**
 * Asserts-by-throwing that GET and HEAD of repo:ref serve exactly `expected` with `mediaType` as
 * Content-Type and the right Docker-Content-Digest. Returns a description of what was wrong, or null.
 */
export async function checkManifestServed(baseUrl: string, repo: string, ref: string, expected: Buffer, mediaType: string): Promise<string | null> {
  const problems: string[] = [];
  const get = await fetchManifest(baseUrl, repo, ref);
  const where = `GET /v2/${repo}/manifests/${ref}`;
  if (get.status !== 200) return `${where} -> ${get.status} ${get.body.toString().slice(0, 300)}`;
  if (!get.body.equals(expected)) problems.push(`${where} body differs from pushed bytes (got ${get.body.length} bytes ${sha256(get.body)}, want ${expected.length} bytes ${sha256(expected)})`);
  if (bareType(get.contentType) !== mediaType) problems.push(`${where} Content-Type ${get.contentType}, want ${mediaType}`);
  if (get.digest !== sha256(expected)) problems.push(`${where} Docker-Content-Digest ${get.digest}, want ${sha256(expected)}`);
  const head = await fetchManifest(baseUrl, repo, ref, { method: 'HEAD' });
  const hw = `HEAD /v2/${repo}/manifests/${ref}`;
  if (head.status !== 200) problems.push(`${hw} -> ${head.status}`);
  else {
    if (bareType(head.contentType) !== mediaType) problems.push(`${hw} Content-Type ${head.contentType}, want ${mediaType}`);
    if (head.digest !== sha256(expected)) problems.push(`${hw} Docker-Content-Digest ${head.digest}, want ${sha256(expected)}`);
    if (head.contentLength !== String(expected.length)) problems.push(`${hw} Content-Length ${head.contentLength}, want ${expected.length}`);
  }
  return problems.length ? problems.join('\n') : null;
}

export async function fetchTags(baseUrl: string, repo: string): Promise<{ status: number; body: unknown }> {
  const res = await timedFetch(`${baseUrl}/v2/${repo}/tags/list`);
  const text = await res.text();
  let body: unknown = text;
  try { body = JSON.parse(text); } catch { /* leave as text */ }
  return { status: res.status, body };
}

export async function blobStatus(baseUrl: string, repo: string, digest: string): Promise<number> {
  const res = await timedFetch(`${baseUrl}/v2/${repo}/blobs/${digest}`, { method: 'HEAD' });
  await res.arrayBuffer();
  return res.status;
}
