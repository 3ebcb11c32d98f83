// Atomic file replacement, the one home for it: every layer that writes a file readers may see at any
// moment (the blob store's manifests, local transports, auth.json, archives, exports) writes a temp file
// next to the target, fsyncs it, renames it over the target and fsyncs the directory. A reader sees the
// old bytes or the new ones, never a part; a failure at any step leaves the target as it was and no temp
// file behind. (It lives in files/, a bottom layer beside oci/ and config/, so every layer above can use it.)
import { randomBytes } from 'node:crypto';
import * as nodeFs from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** The file-system calls the helpers make; tests pass one that fails on purpose. */
export interface AtomicFileSystem {
  open: typeof nodeFs.open;
  rename: typeof nodeFs.rename;
  rm: typeof nodeFs.rm;
  mkdir: typeof nodeFs.mkdir;
}

export const realFileSystem: AtomicFileSystem = { open: nodeFs.open, rename: nodeFs.rename, rm: nodeFs.rm, mkdir: nodeFs.mkdir };

export interface AtomicWriteOptions {
  /** Where the temp file goes (default: the target's directory). Must be on the target's filesystem. */
  tmpDir?: string;
  /** Permission bits of the new file (default 0o644). */
  mode?: number;
  /** fsync the file and the directory (default true); off trades durability for speed, never atomicity. */
  fsync?: boolean;
  /** Create the target's directory first, with this mode (default: it must exist). */
  mkdirMode?: number;
  fs?: AtomicFileSystem;
}

/** A fresh temp file name in `dir` (hidden, so it is never mistaken for content). */
export function tempPath(dir: string): string {
  return join(dir, `.wharf-${randomBytes(8).toString('hex')}.tmp`);
}

/** fsyncs a directory so renames into it are durable (best effort: not every filesystem allows it). */
export async function fsyncDir(dir: string, fs: AtomicFileSystem = realFileSystem): Promise<void> {
  let fh: nodeFs.FileHandle | undefined;
  try {
    fh = await fs.open(dir, 'r');
    await fh.sync();
  } catch {
    /* e.g. EINVAL/EISDIR on some filesystems */
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

/**
 * Replaces `path` with what `write` puts at the temp path it is given: `write` must leave the file
 * complete (and flushed, when durability matters) before it resolves. Then the temp file is renamed over
 * `path` and the directory fsync'd. On any failure the temp file is removed and `path` is untouched.
 */
export async function replaceFileAtomically(path: string, write: (tmp: string) => Promise<void>, opts: AtomicWriteOptions = {}): Promise<void> {
  const fs = opts.fs ?? realFileSystem;
  const dir = dirname(path);
  if (opts.mkdirMode !== undefined) await fs.mkdir(dir, { recursive: true, mode: opts.mkdirMode });
  const tmp = tempPath(opts.tmpDir ?? dir);
  try {
    await write(tmp);
    await fs.rename(tmp, path);
  } catch (e) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
  if (opts.fsync !== false) await fsyncDir(dir, fs);
}

/** Writes `data` to `path` atomically: temp file, write, fsync, rename, directory fsync. */
export async function writeFileAtomic(path: string, data: Uint8Array | string, opts: AtomicWriteOptions = {}): Promise<void> {
  const fs = opts.fs ?? realFileSystem;
  const mode = opts.mode ?? 0o644;
  await replaceFileAtomically(path, async (tmp) => {
    const fh = await fs.open(tmp, 'wx', mode);
    try {
      await fh.writeFile(data);
      // The umask may have narrowed an explicit mode; secrets (0600) must not end up wider either.
      await fh.chmod(mode);
      if (opts.fsync !== false) await fh.sync();
    } finally {
      await fh.close();
    }
  }, opts);
}
