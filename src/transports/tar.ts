// Tar helpers, their one home: writing a tar atomically from a list of items, extracting one safely,
// and making member names safe. (Compression is in compression.ts.)
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { replaceFileAtomically } from '../files/atomic-file.js';
import { autoDecompress } from './compression.js';

/** Something to put in a tar: a directory, a file on disk (streamed), small in-memory data, or a symlink. */
export type TarItem =
  | { name: string; type: 'directory' }
  | { name: string; type: 'file'; path: string; size: number }
  | { name: string; type: 'data'; data: Buffer }
  | { name: string; type: 'symlink'; target: string };

/** A fixed mtime, so the same content always makes the same archive. */
const TAR_MTIME = new Date(0);

async function addTarItem(pack: tar.Pack, item: TarItem): Promise<void> {
  const base = { name: item.name, mtime: TAR_MTIME, uid: 0, gid: 0, uname: '', gname: '' };
  switch (item.type) {
    case 'directory':
      await new Promise<void>((res, rej) => pack.entry({ ...base, type: 'directory', mode: 0o755 }, (e) => (e ? rej(e) : res())));
      return;
    case 'symlink':
      await new Promise<void>((res, rej) => pack.entry({ ...base, type: 'symlink', linkname: item.target, mode: 0o777 }, (e) => (e ? rej(e) : res())));
      return;
    case 'data':
      await new Promise<void>((res, rej) => pack.entry({ ...base, type: 'file', mode: 0o644, size: item.data.length }, item.data, (e) => (e ? rej(e) : res())));
      return;
    case 'file': {
      const entry = pack.entry({ ...base, type: 'file', mode: 0o644, size: item.size });
      await pipeline(createReadStream(item.path), entry);
      return;
    }
  }
}

/**
 * Streams a tar of `items` (in order) to a temp file next to `dest`, fsyncs it and renames it to `dest`.
 * On failure the temp file is removed and `dest` is untouched.
 */
export async function writeTarAtomic(dest: string, items: Iterable<TarItem> | AsyncIterable<TarItem>): Promise<void> {
  await replaceFileAtomically(resolve(dest), async (tmp) => {
    const pack = tar.pack();
    // flush: fsync before close; the pipeline ends once the file is closed.
    const out = pipeline(pack, createWriteStream(tmp, { flags: 'wx', mode: 0o644, flush: true }));
    out.catch(() => { /* awaited below */ });
    try {
      for await (const item of items) await addTarItem(pack, item);
      pack.finalize();
      await out;
    } catch (e) {
      pack.destroy(e as Error);
      await out.catch(() => undefined);
      throw e;
    }
  }, { mkdirMode: 0o755 });
}

/** A tar member name made safe: no leading './' or '/', no '..' components; null for the archive root. */
export function safeTarPath(name: string): string | null {
  const norm = posix.normalize(name.replace(/^(\.\/)+/, ''));
  const clean = norm.replace(/\/+$/, '');
  if (clean === '.' || clean === '') return null;
  if (clean.startsWith('/') || clean === '..' || clean.startsWith('../')) throw new Error(`unsafe path in archive: ${JSON.stringify(name)}`);
  return clean;
}

/**
 * Extracts regular files and directories of the (possibly gzip'd) tar at `file` into `dir`, streaming.
 * Links and special files are skipped (an OCI layout has none); unsafe paths are an error.
 */
export async function extractTar(file: string, dir: string): Promise<void> {
  const ex = tar.extract();
  const feeding = pipeline(autoDecompress(createReadStream(file), `archive ${file}`), ex);
  feeding.catch(() => { /* awaited below */ });
  try {
    for await (const entry of ex) {
      const rel = safeTarPath(entry.header.name);
      const type = entry.header.type ?? 'file';
      if (rel !== null && type === 'directory') {
        await mkdir(join(dir, rel), { recursive: true });
        entry.resume();
      } else if (rel !== null && (type === 'file' || type === 'contiguous-file')) {
        const target = join(dir, rel);
        await mkdir(dirname(target), { recursive: true });
        await pipeline(entry, createWriteStream(target, { flags: 'w', mode: 0o644 }));
      } else {
        entry.resume();
      }
    }
    await feeding;
  } catch (e) {
    ex.destroy(e as Error);
    await feeding.catch(() => undefined);
    throw new Error(`reading archive ${file}: ${(e as Error).message}`, { cause: e });
  }
}
