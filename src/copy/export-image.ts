// `wharf export`: the flattened root filesystem of an image as one tar. Layers are read top-down so
// that each path is written once, from the highest layer that has it; whiteouts (.wh.NAME) and opaque
// directories (.wh..wh..opq) hide what lies below them. Nothing is extracted to disk.
import { createWriteStream } from 'node:fs';
import { posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { parseManifest } from '../oci/manifest.js';
import { isIndexMediaType } from '../oci/media-types.js';
import { autoDecompress } from '../transports/compression.js';
import { replaceFileAtomically } from '../files/atomic-file.js';
import { verifyingStream } from '../transports/verify.js';
import type { ImageSource } from '../transports/types.js';
import { choosePlatform, hostPlatform, type Platform } from '../oci/platform.js';

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

function clean(name: string): string {
  return posix.normalize(`/${name}`).replace(/^\/+/, '').replace(/\/+$/, '');
}

/** True when `path` or one of its parents is in `set`. */
function coveredBy(path: string, set: Set<string>): boolean {
  for (let p = path; ; p = posix.dirname(p)) {
    if (set.has(p)) return true;
    if (p === '.' || p === '/' || p === '') return false;
  }
}

/** Whether a path lies strictly below one of the opaque directories. */
function belowOpaque(path: string, opaque: Set<string>): boolean {
  for (let p = posix.dirname(path); p !== '.' && p !== '/' && p !== ''; p = posix.dirname(p)) if (opaque.has(p)) return true;
  return opaque.has('') && path !== '';
}

export async function exportRootfs(src: ImageSource, out: NodeJS.WritableStream, platform?: Partial<Platform>): Promise<void> {
  let m = await src.getManifest();
  if (isIndexMediaType(m.mediaType)) {
    const want = hostPlatform(platform);
    const child = choosePlatform(parseManifest(m.bytes, m.mediaType).children, want);
    if (!child) throw new Error(`no image for ${want.os}/${want.architecture} in ${src.name}`);
    m = await src.getManifest(child.digest);
  }
  const layers = parseManifest(m.bytes, m.mediaType).blobs.slice(1);
  const pack = tar.pack();
  const written = pipeline(pack, out);
  const seen = new Set<string>();
  const hidden = new Set<string>();
  const opaque = new Set<string>();
  for (const layer of [...layers].reverse()) {
    const layerHidden: string[] = [];
    const layerOpaque: string[] = [];
    const extract = tar.extract();
    const done = new Promise<void>((resolve, reject) => {
      extract.on('entry', (header, stream, next) => {
        const path = clean(header.name);
        const base = posix.basename(path);
        const skip = (): void => { stream.on('end', () => next()); stream.resume(); };
        if (base === OPAQUE) { layerOpaque.push(posix.dirname(path) === '.' ? '' : posix.dirname(path)); return skip(); }
        if (base.startsWith(WHITEOUT)) { layerHidden.push(posix.join(posix.dirname(path), base.slice(WHITEOUT.length))); return skip(); }
        if (path === '' || seen.has(path) || coveredBy(path, hidden) || belowOpaque(path, opaque)) return skip();
        seen.add(path);
        const entry = pack.entry({ ...header, name: header.type === 'directory' ? `${path}/` : path }, (err) => (err ? reject(err) : next()));
        stream.pipe(entry);
      });
      extract.on('finish', resolve);
      extract.on('error', reject);
    });
    const body = await src.getBlob({ digest: layer.digest, size: layer.size });
    await Promise.all([pipeline(autoDecompress(body.pipe(verifyingStream(layer.digest, layer.size)), layer.digest), extract), done]);
    // A layer's whiteouts hide only what lies below it.
    for (const h of layerHidden) hidden.add(h);
    for (const o of layerOpaque) opaque.add(o);
  }
  pack.finalize();
  await written;
}

/** Writes the export to FILE atomically (temp file + rename). */
export async function exportRootfsToFile(src: ImageSource, file: string, platform?: Partial<Platform>): Promise<void> {
  await replaceFileAtomically(file, (tmp) => exportRootfs(src, createWriteStream(tmp), platform), { fsync: false });
}
