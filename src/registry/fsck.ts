// A check of the store: every blob a manifest needs (its own bytes, config, layers) is linked in
// the repository and present in the blob store with the recorded size, and with `verifyDigests`
// hashes to its digest (streamed); every child of an index is a manifest of the repository.
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { newHasher, tryParseDigest } from '../oci/digest.js';
import type { BlobStore } from '../store/blobs/blob-store.js';
import type { MetaStore } from '../store/meta/meta-store.js';

export interface FsckProblem {
  repository: string;
  manifest: string;
  digest: string;
  kind: 'manifest' | 'config' | 'layer' | 'child';
  problem: 'missing' | 'size' | 'digest' | 'unlinked';
  detail: string;
}

export interface FsckReport {
  repositories: number;
  manifests: number;
  blobsChecked: number;
  verifiedDigests: boolean;
  problems: FsckProblem[];
}

type Verdict = { problem: 'missing' | 'size' | 'digest'; detail: string } | null;

export async function checkStore(d: { blobs: BlobStore; meta: MetaStore }, o: { verifyDigests: boolean }): Promise<FsckReport> {
  const report: FsckReport = { repositories: 0, manifests: 0, blobsChecked: 0, verifiedDigests: o.verifyDigests, problems: [] };
  // Each digest's bytes are checked once, whoever refers to them.
  const verdicts = new Map<string, Verdict>();
  const check = async (digest: string, size: number): Promise<Verdict> => {
    const key = `${digest} ${size}`;
    if (verdicts.has(key)) return verdicts.get(key)!;
    report.blobsChecked++;
    const v = await checkBlob(d.blobs, digest, size, o.verifyDigests);
    verdicts.set(key, v);
    return v;
  };
  for (const repo of await d.meta.gc.repositories()) {
    const g = await d.meta.gc.graph(repo.id);
    if (g.manifests.length === 0) continue;
    report.repositories++;
    const manifests = new Set(g.manifests.map((m) => m.digest));
    const links = new Map<string, number>();
    for (const l of g.links) {
      const link = await d.meta.blobs.get(repo.id, l.digest);
      if (link) links.set(l.digest, link.size);
    }
    const problem = (manifest: string, digest: string, kind: FsckProblem['kind'], p: FsckProblem['problem'], detail: string): void => {
      report.problems.push({ repository: repo.name, manifest, digest, kind, problem: p, detail });
    };
    for (const m of g.manifests) {
      report.manifests++;
      const v = await check(m.digest, m.size);
      if (v) problem(m.digest, m.digest, 'manifest', v.problem, v.detail);
      if (!links.has(m.digest)) problem(m.digest, m.digest, 'manifest', 'unlinked', 'the manifest\'s bytes are not linked in the repository');
    }
    for (const r of g.refs) {
      if (r.kind === 'subject') continue;
      if (r.kind === 'child') {
        if (!manifests.has(r.to)) problem(r.from, r.to, 'child', 'missing', 'the index refers to a manifest the repository does not hold');
        continue;
      }
      const size = links.get(r.to);
      if (size === undefined) { problem(r.from, r.to, r.kind, 'unlinked', 'not linked in the repository'); continue; }
      const v = await check(r.to, size);
      if (v) problem(r.from, r.to, r.kind, v.problem, v.detail);
    }
  }
  return report;
}

async function checkBlob(blobs: BlobStore, digest: string, size: number, verifyDigest: boolean): Promise<Verdict> {
  const st = await blobs.stat(digest);
  if (!st) return { problem: 'missing', detail: 'not in the blob store' };
  if (st.size !== size) return { problem: 'size', detail: `${st.size} bytes stored, ${size} recorded` };
  if (!verifyDigest) return null;
  const want = tryParseDigest(digest);
  if (!want) return { problem: 'digest', detail: 'not a valid digest' };
  const hash = newHasher(want.algorithm);
  await pipeline(await blobs.read(digest), new Writable({ write(chunk: Buffer, _enc, cb) { hash.update(chunk); cb(); } }));
  const actual = hash.digest('hex');
  return actual === want.hex ? null : { problem: 'digest', detail: `content hashes to ${want.algorithm}:${actual}` };
}

export function formatFsckReport(r: FsckReport): string {
  const lines = r.problems.map((p) => `${p.problem.toUpperCase()}  ${p.repository}  manifest ${p.manifest}  ${p.kind} ${p.digest}: ${p.detail}`);
  lines.push(`${r.problems.length === 0 ? 'ok' : `${r.problems.length} problem(s)`}: ${r.repositories} repositories, ${r.manifests} manifests, ${r.blobsChecked} blobs checked${r.verifiedDigests ? ' (digests verified)' : ''}`);
  return `${lines.join('\n')}\n`;
}
