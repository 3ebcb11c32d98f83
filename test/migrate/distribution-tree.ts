// Writes a synthetic Distribution (registry:2) storage tree, the layout its filesystem driver makes,
// so that the importer can be tested without running docker-registry.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const sha256 = (data: Buffer | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

export interface TreeImage {
  digest: string;
  bytes: Buffer;
  config: { digest: string; data: Buffer };
  layers: { digest: string; data: Buffer }[];
}

export class DistributionTree {
  /** The storage root (Distribution's `rootdirectory`). */
  readonly root: string;
  readonly v2: string;
  /** Digests of every manifest written. */
  readonly manifests = new Set<string>();

  constructor() {
    this.root = mkdtempSync(join(tmpdir(), 'distribution-tree-'));
    this.v2 = join(this.root, 'docker', 'registry', 'v2');
    mkdirSync(join(this.v2, 'repositories'), { recursive: true });
  }

  cleanup(): void {
    rmSync(this.root, { recursive: true, force: true });
  }

  private write(path: string, data: Buffer | string): void {
    const file = join(this.v2, ...path.split('/'));
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, data);
  }

  /** Stores bytes under `digest` (their own digest unless told otherwise: a corrupt blob). */
  blob(data: Buffer | string, digest = sha256(data)): string {
    const hex = digest.slice('sha256:'.length);
    this.write(`blobs/sha256/${hex.slice(0, 2)}/${hex}/data`, data);
    return digest;
  }

  layerLink(repo: string, digest: string, content = digest): void {
    this.write(`repositories/${repo}/_layers/sha256/${digest.slice(7)}/link`, content);
  }

  revision(repo: string, digest: string): void {
    this.write(`repositories/${repo}/_manifests/revisions/sha256/${digest.slice(7)}/link`, digest);
  }

  tag(repo: string, tag: string, digest: string): void {
    this.write(`repositories/${repo}/_manifests/tags/${tag}/current/link`, digest);
    this.write(`repositories/${repo}/_manifests/tags/${tag}/index/sha256/${digest.slice(7)}/link`, digest);
  }

  /** A manifest as Distribution stores a push: its bytes as a blob, a revision link, optionally a tag. */
  manifest(repo: string, doc: object | Buffer, tag?: string): { digest: string; bytes: Buffer } {
    const bytes = Buffer.isBuffer(doc) ? doc : Buffer.from(JSON.stringify(doc));
    const digest = this.blob(bytes);
    this.manifests.add(digest);
    this.revision(repo, digest);
    if (tag !== undefined) this.tag(repo, tag, digest);
    return { digest, bytes };
  }

  /** An image pushed to `repo`: config and layers stored and linked, then its manifest. */
  image(repo: string, seed: string, opts: { tag?: string; extra?: object; layers?: (Buffer | string)[]; mediaType?: string | null } = {}): TreeImage {
    const configData = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed }));
    const config = { digest: this.blob(configData), data: configData };
    this.layerLink(repo, config.digest);
    const layers = (opts.layers ?? [`layer one of ${seed}`, `layer two of ${seed}`]).map((l) => {
      const data = Buffer.from(l);
      const digest = this.blob(data);
      this.layerLink(repo, digest);
      return { digest, data };
    });
    const mediaType = opts.mediaType === undefined ? OCI_MANIFEST : opts.mediaType;
    const doc = {
      schemaVersion: 2,
      ...(mediaType === null ? {} : { mediaType }),
      config: { mediaType: mediaType === OCI_MANIFEST || mediaType === null ? 'application/vnd.oci.image.config.v1+json' : 'application/vnd.docker.container.image.v1+json', digest: config.digest, size: configData.length },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: l.digest, size: l.data.length })),
      ...opts.extra,
    };
    return { ...this.manifest(repo, doc, opts.tag), config, layers };
  }

  index(repo: string, children: { digest: string; bytes: Buffer }[], tag?: string): { digest: string; bytes: Buffer } {
    return this.manifest(repo, {
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: children.map((c, i) => ({ mediaType: OCI_MANIFEST, digest: c.digest, size: c.bytes.length, platform: { architecture: i === 0 ? 'amd64' : 'arm64', os: 'linux' } })),
    }, tag);
  }
}
