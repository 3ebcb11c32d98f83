// Atomic small writes (writeFileAtomic, and FsBlobStore.putSmall over it): a write that fails midway —
// a failing file-system wrapper, or a real full tmpfs in a private mount namespace — leaves nothing new at
// the target and no temp file; a concurrent reader sees nothing or the whole bytes, never a part; and a
// file left at a manifest's path that does not hold its bytes (a truncated manifest from an old crash) is
// replaced by putSmall, not kept.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { realFileSystem, writeFileAtomic, type AtomicFileSystem } from '../../src/files/atomic-file.js';
import { FsBlobStore } from '../../src/store/blobs/fs-blob-store.js';
import { digestOf } from '../../src/oci/digest.js';

const roots: string[] = [];
after(() => { for (const r of roots) rmSync(r, { recursive: true, force: true }); });

function freshDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'wharf-atomic-'));
  roots.push(d);
  return d;
}

/** Every file under `dir`, relative, sorted. */
function filesUnder(dir: string): string[] {
  return (readdirSync(dir, { recursive: true, withFileTypes: true }) as import('node:fs').Dirent[])
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath ?? (e as unknown as { path: string }).path, e.name).slice(dir.length + 1))
    .sort();
}

/** A file system whose file writes put half the bytes on disk, then fail with EIO (a disk giving up midway). */
function failingMidWrite(): AtomicFileSystem {
  const open = (async (...args: Parameters<typeof fsp.open>) => {
    const fh = await fsp.open(...args);
    return new Proxy(fh, {
      get(target, prop, receiver) {
        if (prop === 'writeFile') {
          return async (data: Uint8Array | string) => {
            const buf = Buffer.from(data);
            await target.write(buf, 0, Math.floor(buf.length / 2));
            throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
          };
        }
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }) as typeof fsp.open;
  return { ...realFileSystem, open };
}

/** A file system whose rename fails (e.g. EXDEV, or the disk going read-only at the last step). */
const failingRename: AtomicFileSystem = {
  ...realFileSystem,
  rename: (async () => { throw Object.assign(new Error('EROFS: read-only file system, rename'), { code: 'EROFS' }); }) as typeof fsp.rename,
};

describe('writeFileAtomic', () => {
  test('a write that fails midway leaves no file at the target and no temp file', async () => {
    const dir = freshDir();
    const target = join(dir, 'index.json');
    await assert.rejects(writeFileAtomic(target, randomBytes(64 * 1024), { fs: failingMidWrite() }), /EIO/);
    assert.equal(existsSync(target), false, 'a partial file was left at the target');
    assert.deepEqual(filesUnder(dir), [], 'a temp file was left behind');
  });

  test('a write that fails midway over an existing file keeps the old bytes', async () => {
    const dir = freshDir();
    const target = join(dir, 'index.json');
    const old = Buffer.from('{"old":true}');
    writeFileSync(target, old);
    await assert.rejects(writeFileAtomic(target, randomBytes(64 * 1024), { fs: failingMidWrite() }), /EIO/);
    assert.ok(readFileSync(target).equals(old), 'the old file was changed');
    assert.deepEqual(filesUnder(dir), ['index.json']);
    await assert.rejects(writeFileAtomic(target, randomBytes(100), { fs: failingRename }), /EROFS/);
    assert.ok(readFileSync(target).equals(old), 'the old file was changed');
    assert.deepEqual(filesUnder(dir), ['index.json'], 'a temp file was left behind after a failed rename');
  });

  test('with a separate temp directory, nothing is left there either', async () => {
    const dir = freshDir();
    const tmp = join(dir, 'tmp');
    mkdirSync(tmp);
    await assert.rejects(writeFileAtomic(join(dir, 'x'), randomBytes(4096), { tmpDir: tmp, fs: failingMidWrite() }));
    assert.deepEqual(filesUnder(dir), []);
  });

  test('a concurrent reader sees nothing or the whole bytes', async () => {
    const dir = freshDir();
    const data = randomBytes(8 << 20);
    let partial = 0;
    let whole = 0;
    for (let round = 0; round < 6; round++) {
      const target = join(dir, `m${round}`);
      let done = false;
      const reader = (async () => {
        // Bounded: the writer finishes in well under a second per round.
        for (let i = 0; i < 100_000 && !done; i++) {
          const got = await fsp.readFile(target).catch((e: NodeJS.ErrnoException) => { if (e.code === 'ENOENT') return null; throw e; });
          if (got === null) continue;
          if (got.equals(data)) whole++;
          else partial++;
        }
      })();
      await writeFileAtomic(target, data, { fsync: false });
      done = true;
      await reader;
    }
    assert.equal(partial, 0, `a reader saw a partly written file ${partial} times`);
    assert.ok(whole >= 0);
  });
});

describe('FsBlobStore.putSmall', () => {
  async function store(fs?: AtomicFileSystem): Promise<{ s: FsBlobStore; root: string }> {
    const root = freshDir();
    return { s: await FsBlobStore.open({ root, fsync: true, fs }), root };
  }

  const blobFile = (root: string, digest: string): string => join(root, 'blobs', 'sha256', digest.slice(7, 9), digest.slice(7));

  test('a write that fails midway leaves nothing at the target and nothing in tmp/', async () => {
    const { s, root } = await store(failingMidWrite());
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, pad: randomBytes(32 * 1024).toString('hex') }));
    const digest = digestOf(bytes);
    await assert.rejects(s.putSmall(digest, bytes), /EIO/);
    assert.equal(existsSync(blobFile(root, digest)), false, 'a partial manifest was left at its digest');
    assert.equal(await s.readSmall(digest), null);
    assert.equal(await s.stat(digest), null);
    assert.deepEqual(filesUnder(join(root, 'tmp')), [], 'a temp file was left in tmp/');
    await s.close();
  });

  test('a truncated manifest at the target (an old crash) is replaced, not kept', async () => {
    const { s, root } = await store();
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', layers: [] }));
    const digest = digestOf(bytes);
    const file = blobFile(root, digest);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, bytes.subarray(0, 10));
    await s.putSmall(digest, bytes);
    assert.ok((await s.readSmall(digest))!.equals(bytes), 'the truncated manifest was kept');
    // Same length, different bytes (a torn write): replaced too.
    const torn = Buffer.from(bytes);
    torn[torn.length - 2] ^= 0xff;
    writeFileSync(file, torn);
    await s.putSmall(digest, bytes);
    assert.ok(readFileSync(file).equals(bytes), 'the torn manifest was kept');
    assert.deepEqual(filesUnder(join(root, 'tmp')), []);
    await s.close();
  });

  test('a concurrent reader of readSmall sees nothing or the whole manifest', async () => {
    const { s } = await store();
    let partial = 0;
    for (let round = 0; round < 4; round++) {
      const bytes = Buffer.from(JSON.stringify({ round, pad: randomBytes(3 << 20).toString('base64') }));
      const digest = digestOf(bytes);
      let done = false;
      const reader = (async () => {
        for (let i = 0; i < 100_000 && !done; i++) {
          const got = await s.readSmall(digest);
          if (got !== null && !got.equals(bytes)) partial++;
        }
      })();
      await s.putSmall(digest, bytes);
      done = true;
      await reader;
    }
    assert.equal(partial, 0, `readSmall returned a partly written manifest ${partial} times`);
    await s.close();
  });
});

describe('on a full file system (a 256 KiB tmpfs in a private mount namespace)', () => {
  const here = dirname(fileURLToPath(import.meta.url));
  const atomicModule = pathToFileURL(resolve(here, '../../src/files/atomic-file.js')).href;
  const storeModule = pathToFileURL(resolve(here, '../../src/store/blobs/fs-blob-store.js')).href;

  /** Runs `code` (an ES module body; `dir` is the tmpfs mount point) under unshare -m with a fresh tmpfs; resolves its stdout. */
  function onFullTmpfs(code: string): Promise<string> {
    const dir = freshDir();
    const script = `const dir = ${JSON.stringify(dir)};\n${code}`;
    return new Promise((res, rej) => {
      execFile('unshare', ['-m', 'sh', '-c', 'mount -t tmpfs -o size=256k tmpfs "$1" && exec "$2" --input-type=module -e "$3"', 'sh', dir, process.execPath, script],
        { timeout: 60_000 }, (err, stdout, stderr) => (err ? rej(new Error(`${err.message}\n${stderr}`)) : res(stdout)));
    });
  }

  test('writeFileAtomic fails with ENOSPC, the old file stays whole, no temp file', async () => {
    const out = await onFullTmpfs(`
      import { writeFileAtomic } from ${JSON.stringify(atomicModule)};
      import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
      import { join } from 'node:path';
      const target = join(dir, 'index.json');
      writeFileSync(target, 'old');
      let error = null;
      try { await writeFileAtomic(target, Buffer.alloc(1 << 20, 7)); } catch (e) { error = e.code; }
      let fresh = null;
      try { await writeFileAtomic(join(dir, 'new.json'), Buffer.alloc(1 << 20, 7)); } catch (e) { fresh = e.code; }
      console.log(JSON.stringify({ error, fresh, old: readFileSync(target, 'utf8'), newExists: existsSync(join(dir, 'new.json')), files: readdirSync(dir).sort() }));
    `);
    const r = JSON.parse(out) as { error: string; fresh: string; old: string; newExists: boolean; files: string[] };
    assert.equal(r.error, 'ENOSPC');
    assert.equal(r.fresh, 'ENOSPC');
    assert.equal(r.old, 'old', 'the existing file was damaged');
    assert.equal(r.newExists, false, 'a partial file was left at the target');
    assert.deepEqual(r.files, ['index.json'], 'a temp file was left behind');
  });

  test('putSmall fails with ENOSPC and leaves no blob and no temp file', async () => {
    const out = await onFullTmpfs(`
      import { FsBlobStore } from ${JSON.stringify(storeModule)};
      import { createHash } from 'node:crypto';
      import { existsSync, readdirSync } from 'node:fs';
      import { join } from 'node:path';
      const s = await FsBlobStore.open({ root: dir, fsync: true });
      const bytes = Buffer.alloc(1 << 20, 65);
      const hex = createHash('sha256').update(bytes).digest('hex');
      let error = null;
      try { await s.putSmall('sha256:' + hex, bytes); } catch (e) { error = e.code; }
      const read = await s.readSmall('sha256:' + hex);
      console.log(JSON.stringify({ error, exists: existsSync(join(dir, 'blobs', 'sha256', hex.slice(0, 2), hex)), read: read === null ? null : read.length, tmp: readdirSync(join(dir, 'tmp')) }));
    `);
    const r = JSON.parse(out) as { error: string; exists: boolean; read: number | null; tmp: string[] };
    assert.equal(r.error, 'ENOSPC');
    assert.equal(r.exists, false, 'a truncated manifest was left at its digest');
    assert.equal(r.read, null);
    assert.deepEqual(r.tmp, [], 'a temp file was left in tmp/');
  });
});
