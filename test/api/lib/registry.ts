// Distribution API client steps for the tests: push blobs and manifests, list with pagination,
// and snapshot what a client can observe (to prove rejected requests change nothing).
import assert from 'node:assert/strict';
import { ALL_MANIFEST_TYPES, MT, content, desc, encode, ociImage, randomBlob, type Content, type Doc } from './content.js';
import { expectStatus, nextLink, parseJson, req, show, type Res } from './http.js';

/** Starts an upload session (POST), asserts 202, returns the absolute upload URL. */
export async function startUpload(base: string, repo: string): Promise<URL> {
  const res = await req(base, `/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  expectStatus(res, 202, 'start upload');
  const loc = res.headers.get('location');
  assert.ok(loc, `upload start without Location: ${show(res)}`);
  return new URL(loc, base);
}

/** `upload` with `digest` set as a query parameter (keeping any parameters the registry put there). */
export function withDigest(upload: URL, digest: string): URL {
  const u = new URL(upload);
  u.searchParams.set('digest', digest);
  return u;
}

/** Pushes a blob the way most clients do: POST for a session, then PUT ?digest= with the whole body. */
export async function pushBlob(base: string, repo: string, c: Content): Promise<void> {
  const upload = await startUpload(base, repo);
  const res = await req(base, withDigest(upload, c.digest), {
    method: 'PUT', body: c.data, headers: { 'content-type': 'application/octet-stream' },
  });
  expectStatus(res, 201, `push blob ${c.digest} to ${repo}`);
}

export async function putManifest(base: string, repo: string, ref: string, m: Content, contentType: string | null): Promise<Res> {
  const headers: Record<string, string> = contentType === null ? {} : { 'content-type': contentType };
  return req(base, `/v2/${repo}/manifests/${ref}`, { method: 'PUT', body: m.data, headers });
}

/** PUTs a manifest document, asserts 201, returns the pushed bytes and digest. */
export async function pushManifest(base: string, repo: string, ref: string, doc: Doc | Content, contentType?: string | null): Promise<Content> {
  const m = 'data' in doc && Buffer.isBuffer(doc.data) ? (doc as Content) : encode(doc);
  const ct = contentType === undefined ? (typeof (doc as Doc).mediaType === 'string' ? (doc as Doc).mediaType as string : MT.ociManifest) : contentType;
  const res = await putManifest(base, repo, ref, m, ct);
  expectStatus(res, 201, `push manifest ${repo}:${ref}`);
  return m;
}

export async function getManifest(base: string, repo: string, ref: string, method: 'GET' | 'HEAD' = 'GET'): Promise<Res> {
  return req(base, `/v2/${repo}/manifests/${ref}`, { method, headers: { accept: ALL_MANIFEST_TYPES } });
}

export interface Image {
  config: Content;
  layers: Content[];
  manifest: Content;
  /** Digest of the manifest. */
  digest: string;
}

export interface ImageOptions {
  layers?: number;
  layerSize?: number;
  extra?: Doc;
  style?: 'compact' | 'pretty' | 'odd';
}

/** Builds (without pushing) an OCI image: a random config, random layers, the manifest. */
export function makeImage(opts: ImageOptions = {}): Image {
  const layers = Array.from({ length: opts.layers ?? 1 }, () => randomBlob(opts.layerSize ?? 64));
  const config = content(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } }));
  const manifest = encode(ociImage(desc(MT.ociConfig, config), layers.map((l) => desc(MT.ociLayer, l)), opts.extra ?? {}), opts.style);
  return { config, layers, manifest, digest: manifest.digest };
}

/** Pushes an image's blobs, then its manifest under `ref` (a tag, or its digest when null). */
export async function pushImage(base: string, repo: string, ref: string | null, opts: ImageOptions = {}): Promise<Image> {
  const img = makeImage(opts);
  await pushImageParts(base, repo, ref, img);
  return img;
}

export async function pushImageParts(base: string, repo: string, ref: string | null, img: Image): Promise<void> {
  await pushBlob(base, repo, img.config);
  for (const l of img.layers) await pushBlob(base, repo, l);
  await pushManifest(base, repo, ref ?? img.digest, img.manifest, MT.ociManifest);
}

export interface Listed {
  items: string[];
  /** The responses, page by page. */
  pages: Res[];
}

/** GETs `path` and follows rel="next" Links to the end, collecting `key` of each page. */
export async function listAll(base: string, path: string, key: 'tags' | 'repositories'): Promise<Listed> {
  const items: string[] = [];
  const pages: Res[] = [];
  let next: string | null = path;
  while (next !== null) {
    assert.ok(pages.length < 1000, `pagination does not end: ${next}`);
    const res = await req(base, next);
    expectStatus(res, 200, 'listing page');
    const doc = parseJson<Record<string, unknown>>(res);
    const page = doc[key] ?? [];
    assert.ok(Array.isArray(page), `${key} must be an array: ${show(res)}`);
    items.push(...(page as string[]));
    pages.push(res);
    next = nextLink(res);
  }
  return { items, pages };
}

export async function catalog(base: string): Promise<string[]> {
  return (await listAll(base, '/v2/_catalog', 'repositories')).items;
}

/** Tags of a repository, or null when the repository is unknown (404). */
export async function tagsOf(base: string, repo: string): Promise<string[] | null> {
  const res = await req(base, `/v2/${repo}/tags/list`);
  if (res.status === 404) return null;
  expectStatus(res, 200, 'tags list');
  return parseJson<{ tags: string[] | null }>(res).tags ?? [];
}

/** Status of HEAD /v2/<repo>/blobs/<digest>. */
export async function blobStatus(base: string, repo: string, digest: string): Promise<number> {
  return (await req(base, `/v2/${repo}/blobs/${digest}`, { method: 'HEAD' })).status;
}

/** Everything a client can see of the given repositories and blobs, for before/after comparisons. */
export interface Snapshot {
  catalog: string[];
  repos: Record<string, { tags: string[] | null; tagged: Record<string, string | null> }>;
  blobs: Record<string, number>;
}

export async function snapshot(base: string, repos: string[], blobs: { repo: string; digest: string }[] = []): Promise<Snapshot> {
  const cat = await catalog(base);
  const out: Snapshot = { catalog: cat, repos: {}, blobs: {} };
  for (const repo of [...new Set([...cat, ...repos])].sort()) {
    const tags = await tagsOf(base, repo);
    const tagged: Record<string, string | null> = {};
    for (const t of tags ?? []) tagged[t] = (await getManifest(base, repo, t, 'HEAD')).headers.get('docker-content-digest');
    out.repos[repo] = { tags, tagged };
  }
  for (const b of blobs) out.blobs[`${b.repo}@${b.digest}`] = await blobStatus(base, b.repo, b.digest);
  return out;
}
