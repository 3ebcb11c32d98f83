// A Distribution storage tree in a bucket, as Distribution's s3 driver writes it: the same paths as on
// a filesystem, under `<rootdirectory>/docker/registry/v2/` (its rootdirectory without the leading `/`).
// Directories are key prefixes: listed with ListObjectsV2 and the delimiter `/`, page by page; link
// files are read whole with GetObject, blob data is streamed from GetObject's body.
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { createS3Client, isS3NotFound, s3ErrorName, type S3ConnectionOptions } from '../store/blobs/s3-client.js';
import { TooLargeError, type DistributionStorage } from './distribution-storage.js';

export interface S3Location {
  bucket: string;
  /** Key prefix without leading or trailing `/` ('' for the bucket's top). */
  prefix: string;
}

/** `s3://BUCKET[/PREFIX]`; throws with a message naming the URL when it is not one. */
export function parseS3Url(url: string): S3Location {
  const m = /^s3:\/\/([^/]+)(?:\/(.*))?$/i.exec(url);
  if (!m) throw new Error(`--from ${url}: not an s3://BUCKET[/PREFIX] URL`);
  return { bucket: m[1]!, prefix: trimSlashes(m[2] ?? '') };
}

export interface S3DistributionOptions extends S3Location {
  /** How to reach the bucket (endpoint, region, path style, keys; keys unset: the SDK's default chain). */
  connection: S3ConnectionOptions;
  /** Keys per ListObjectsV2 page (the store's default, 1000, when unset); small in tests to see paging. */
  pageSize?: number;
}

/**
 * Opens the tree at `prefix` in `bucket`: `prefix` is Distribution's rootdirectory or the
 * `docker/registry/v2` under it. Throws with a clear message when the bucket is missing or holds no tree there.
 */
export async function openS3Distribution(o: S3DistributionOptions): Promise<DistributionStorage> {
  const client = createS3Client(o.connection);
  try {
    const root = await findV2Root(client, o);
    return new S3DistributionStorage(client, o.bucket, root, o.pageSize);
  } catch (e) {
    client.destroy();
    throw e;
  }
}

function trimSlashes(s: string): string {
  return s.replace(/^\/+|\/+$/g, '');
}

function url(bucket: string, key: string): string {
  return `s3://${bucket}/${key}`.replace(/\/+$/, '');
}

/** The key prefix (ending in `/`, or '') of the v2 directory: `prefix/docker/registry/v2/` when it holds one, else `prefix/`. */
async function findV2Root(client: S3Client, o: S3DistributionOptions): Promise<string> {
  const base = o.prefix === '' ? '' : `${o.prefix}/`;
  const where = url(o.bucket, o.prefix);
  for (const candidate of [`${base}docker/registry/v2/`, base]) {
    for (const marker of ['repositories/', 'blobs/']) {
      let page;
      try {
        page = await client.send(new ListObjectsV2Command({ Bucket: o.bucket, Prefix: candidate + marker, MaxKeys: 1 }));
      } catch (e) {
        throw new Error(`--from ${where}: ${describeS3Error(e, o.bucket)}`, { cause: e });
      }
      if ((page.KeyCount ?? page.Contents?.length ?? 0) > 0) return candidate;
    }
  }
  throw new Error(`--from ${where}: not a Distribution storage root (no key under ${url(o.bucket, `${base}docker/registry/v2/repositories/`)} or ${url(o.bucket, `${base}repositories/`)}, nor blobs/ beside them)`);
}

/** An SDK failure as a sentence (its code and HTTP status; never the request, which names the credentials' key id). */
function describeS3Error(e: unknown, bucket: string): string {
  const name = s3ErrorName(e);
  const status = (e as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
  if (name === 'NoSuchBucket') return `no such bucket ${bucket}`;
  if (name === 'AccessDenied' || name === 'InvalidAccessKeyId' || name === 'SignatureDoesNotMatch' || status === 403) {
    return `access denied (${name ?? status}): check the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE) and --from-endpoint`;
  }
  if (name === 'CredentialsProviderError') return 'no credentials for the source bucket: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE';
  const message = e instanceof Error ? e.message : String(e);
  return [name, status !== undefined ? `HTTP ${status}` : null, message !== name ? message : null].filter((x) => x).join(': ');
}

class S3DistributionStorage implements DistributionStorage {
  readonly location: string;

  constructor(private readonly client: S3Client, private readonly bucket: string, private readonly root: string, private readonly pageSize?: number) {
    this.location = url(bucket, root);
  }

  private key(path: string): string {
    return this.root + path;
  }

  async listDirs(path: string): Promise<string[]> {
    const prefix = path === '' ? this.root : `${this.key(path)}/`;
    const names: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({
        Bucket: this.bucket, Prefix: prefix, Delimiter: '/', ContinuationToken: token, MaxKeys: this.pageSize,
      }));
      for (const p of page.CommonPrefixes ?? []) {
        if (p.Prefix !== undefined && p.Prefix.startsWith(prefix)) names.push(p.Prefix.slice(prefix.length, -1));
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
      if (page.IsTruncated && token === undefined) throw new Error(`listing ${url(this.bucket, prefix)}: the store said there is more but gave no continuation token`);
    } while (token !== undefined);
    return names.filter((n) => n !== '').sort();
  }

  async readSmall(path: string, maxBytes: number): Promise<Buffer | null> {
    const body = await this.get(path);
    if (body === null) return null;
    if (body.length !== null && body.length > maxBytes) {
      body.stream.destroy();
      throw new TooLargeError(`${path}: ${body.length} bytes, more than ${maxBytes}`);
    }
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of body.stream) {
      total += (chunk as Buffer).length;
      if (total > maxBytes) {
        body.stream.destroy();
        throw new TooLargeError(`${path}: more than ${maxBytes} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks, total);
  }

  async size(path: string): Promise<number | null> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(path) }));
      return head.ContentLength ?? null;
    } catch (e) {
      if (isS3NotFound(e)) return null;
      throw new Error(`${url(this.bucket, this.key(path))}: ${describeS3Error(e, this.bucket)}`, { cause: e });
    }
  }

  async open(path: string): Promise<Readable> {
    const body = await this.get(path);
    if (body === null) throw new Error(`${url(this.bucket, this.key(path))}: no such object`);
    return body.stream;
  }

  /** GetObject's body as a Node stream and its length, or null when there is no such object. */
  private async get(path: string): Promise<{ stream: Readable; length: number | null } | null> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(path) }));
      // In Node the SDK's body is the response's IncomingMessage (a Readable), read as it arrives.
      return { stream: res.Body as Readable, length: res.ContentLength ?? null };
    } catch (e) {
      if (isS3NotFound(e)) return null;
      throw new Error(`${url(this.bucket, this.key(path))}: ${describeS3Error(e, this.bucket)}`, { cause: e });
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
