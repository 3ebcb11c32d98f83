// Distribution's (registry:2) storage layout, read-only:
//
//   blobs/<alg>/<first two hex>/<hex>/data                          the bytes of every blob and manifest
//   repositories/<name>/_layers/<alg>/<hex>/link                    a blob linked to the repository
//   repositories/<name>/_manifests/revisions/<alg>/<hex>/link       a manifest of the repository
//   repositories/<name>/_manifests/tags/<tag>/current/link          the manifest a tag points at
//
// Names nest (`team/app` is repositories/team/app); a directory is a repository when it holds
// `_layers` or `_manifests`, and entries starting with `_` are Distribution's own, never name parts.
// A link file holds the digest it names (`sha256:…`).
import { tryParseDigest, type Digest } from '../oci/digest.js';
import type { Readable } from 'node:stream';
import type { DistributionStorage } from './distribution-storage.js';

/** A link file as found: the digest it names, or why it names none. */
export type Link = { digest: string; problem?: undefined } | { digest?: undefined; problem: string };

export interface TagLink {
  tag: string;
  link: Link;
}

/** Link files hold a digest (71 bytes for sha256); anything much larger is not one. */
const MAX_LINK_BYTES = 1024;

export class DistributionLayout {
  constructor(readonly storage: DistributionStorage) {}

  /** Every repository name, in lexical order of its path (Distribution's catalog order). */
  async *repositories(): AsyncGenerator<string> {
    yield* this.walk('');
  }

  private async *walk(name: string): AsyncGenerator<string> {
    const children = await this.storage.listDirs(name === '' ? 'repositories' : `repositories/${name}`);
    if (name !== '' && (children.includes('_layers') || children.includes('_manifests'))) yield name;
    for (const child of children) {
      if (child.startsWith('_')) continue;
      yield* this.walk(name === '' ? child : `${name}/${child}`);
    }
  }

  /** The blobs linked to the repository (`_layers`), in digest order. */
  layerLinks(repository: string): Promise<Link[]> {
    return this.digestLinks(`repositories/${repository}/_layers`);
  }

  /** The repository's manifests (`_manifests/revisions`), in digest order. */
  revisions(repository: string): Promise<Link[]> {
    return this.digestLinks(`repositories/${repository}/_manifests/revisions`);
  }

  /** The repository's tags and the manifest each points at (`current/link`), in tag order. */
  async tags(repository: string): Promise<TagLink[]> {
    const base = `repositories/${repository}/_manifests/tags`;
    const out: TagLink[] = [];
    for (const tag of await this.storage.listDirs(base)) {
      out.push({ tag, link: await this.readLink(`${base}/${tag}/current/link`, null) });
    }
    return out;
  }

  /** The size of the blob's bytes, or null when Distribution no longer holds them (e.g. after its GC). */
  blobSize(digest: Digest): Promise<number | null> {
    return this.storage.size(blobPath(digest));
  }

  openBlob(digest: Digest): Promise<Readable> {
    return this.storage.open(blobPath(digest));
  }

  /** A small blob (a manifest) whole, or null when absent; throws when larger than `maxBytes`. */
  readSmallBlob(digest: Digest, maxBytes: number): Promise<Buffer | null> {
    return this.storage.readSmall(blobPath(digest), maxBytes);
  }

  /** The links under `<alg>/<hex>/link` below `base`; each must name the digest its directory does. */
  private async digestLinks(base: string): Promise<Link[]> {
    const out: Link[] = [];
    for (const algorithm of await this.storage.listDirs(base)) {
      for (const hex of await this.storage.listDirs(`${base}/${algorithm}`)) {
        out.push(await this.readLink(`${base}/${algorithm}/${hex}/link`, `${algorithm}:${hex}`));
      }
    }
    return out;
  }

  private async readLink(path: string, expected: string | null): Promise<Link> {
    let bytes: Buffer | null;
    try {
      bytes = await this.storage.readSmall(path, MAX_LINK_BYTES);
    } catch (e) {
      return { problem: `${path}: ${e instanceof Error ? e.message : String(e)}` };
    }
    if (bytes === null) return { problem: `${path} is missing` };
    const text = bytes.toString('utf8').trim();
    if (!tryParseDigest(text)) return { problem: `${path} holds no valid digest (${JSON.stringify(text.slice(0, 80))})` };
    if (expected !== null && text !== expected) return { problem: `${path} names ${text}, its directory ${expected}` };
    return { digest: text };
  }
}

function blobPath(d: Digest): string {
  return `blobs/${d.algorithm}/${d.hex.slice(0, 2)}/${d.hex}/data`;
}
