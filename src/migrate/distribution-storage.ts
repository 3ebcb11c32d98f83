// Where a Distribution (registry:2) storage tree is read from. Paths are relative to its
// `docker/registry/v2` directory, `/`-separated, as Distribution's storage drivers name them, so that
// a bucket written by its s3 driver can be read through the same layout code as a directory.
import { createReadStream } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';

export interface DistributionStorage {
  /** Where it is, for messages. */
  readonly location: string;
  /** Names of the directories directly under `path`, in lexical order ([] when `path` is absent). */
  listDirs(path: string): Promise<string[]>;
  /** The file's bytes when it holds at most `maxBytes`; null when absent; throws when larger. */
  readSmall(path: string, maxBytes: number): Promise<Buffer | null>;
  /** The file's size, or null when absent. */
  size(path: string): Promise<number | null>;
  /** A stream of the file's bytes (the caller has checked that it exists). */
  open(path: string): Promise<Readable>;
  close(): Promise<void>;
}

export class TooLargeError extends Error {}

const isNotFound = (e: unknown): boolean => ['ENOENT', 'ENOTDIR'].includes((e as { code?: string }).code ?? '');

/** The v2 directory under `dir`: `dir` itself when it is one, else `dir/docker/registry/v2`. */
async function findV2Root(dir: string): Promise<string> {
  const abs = resolve(dir);
  const candidates = [join(abs, 'docker', 'registry', 'v2'), abs];
  for (const c of candidates) {
    for (const marker of ['repositories', 'blobs']) {
      const s = await stat(join(c, marker)).catch(() => null);
      if (s?.isDirectory()) return c;
    }
  }
  const s = await stat(abs).catch(() => null);
  if (!s) throw new Error(`--from ${dir}: no such directory`);
  throw new Error(`--from ${dir}: not a Distribution storage root (neither it nor docker/registry/v2 under it holds repositories/ or blobs/)`);
}

export async function openFsDistribution(dir: string): Promise<DistributionStorage> {
  return new FsDistributionStorage(await findV2Root(dir));
}

class FsDistributionStorage implements DistributionStorage {
  constructor(readonly location: string) {}

  private path(p: string): string {
    return join(this.location, ...p.split('/'));
  }

  async listDirs(path: string): Promise<string[]> {
    try {
      const entries = await readdir(this.path(path), { withFileTypes: true });
      return entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
    } catch (e) {
      if (isNotFound(e)) return [];
      throw e;
    }
  }

  async readSmall(path: string, maxBytes: number): Promise<Buffer | null> {
    let fh;
    try {
      fh = await open(this.path(path), 'r');
    } catch (e) {
      if (isNotFound(e)) return null;
      throw e;
    }
    try {
      const { size } = await fh.stat();
      if (size > maxBytes) throw new TooLargeError(`${path}: ${size} bytes, more than ${maxBytes}`);
      return await fh.readFile();
    } finally {
      await fh.close();
    }
  }

  async size(path: string): Promise<number | null> {
    try {
      const s = await stat(this.path(path));
      return s.isFile() ? s.size : null;
    } catch (e) {
      if (isNotFound(e)) return null;
      throw e;
    }
  }

  async open(path: string): Promise<Readable> {
    return createReadStream(this.path(path), { highWaterMark: 1 << 20 });
  }

  async close(): Promise<void> { /* nothing held open */ }
}
