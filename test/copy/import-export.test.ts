import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildImage, makeTar, readTar, writeOciLayout } from '../interop/lib/images.js';
import { openOciSource } from '../../src/transports/oci-layout.js';
import { exportRootfsToFile } from '../../src/copy/export-image.js';
import { importTarball } from '../../src/copy/import-image.js';
import { applyChanges, ChangeError } from '../../src/copy/dockerfile-changes.js';
import { copyImage } from '../../src/copy/copy-image.js';
import { openOciDestination } from '../../src/transports/oci-layout.js';

const dir = mkdtempSync(join(tmpdir(), 'wharf-export-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const file = (path: string, content: string) => ({ path, content: Buffer.from(content) });

test('export flattens layers: upper files win, whiteouts and opaque directories hide lower content', async () => {
  const image = buildImage({
    layers: [
      [file('a/1', 'lower-1'), file('a/2', 'lower-2'), file('dir/x', 'lower-x'), file('keep', 'lower-keep'), file('over', 'old')],
      [file('a/.wh.1', ''), file('dir/.wh..wh..opq', ''), file('dir/y', 'upper-y'), file('new', 'upper-new'), file('over', 'new')],
    ],
  });
  const layout = join(dir, 'layout');
  writeOciLayout(layout, [{ tag: 'two', image }]);
  const out = join(dir, 'rootfs.tar');
  const src = await openOciSource(`${layout}:two`);
  try {
    await exportRootfsToFile(src, out);
  } finally {
    await src.close();
  }
  const files = new Map(readTar(readFileSync(out)).filter((e) => e.type === '0').map((e) => [e.path.replace(/^\.?\//, ''), e.content.toString()]));
  assert.deepEqual([...files.keys()].sort(), ['a/2', 'dir/y', 'keep', 'new', 'over']);
  assert.equal(files.get('over'), 'new');
  assert.equal(files.get('keep'), 'lower-keep');
});

test('import makes a single-layer image with the --change settings; export gives the files back', async () => {
  const tarball = join(dir, 'rootfs.tgz');
  writeFileSync(tarball, gzipSync(makeTar([file('etc/hello', 'hi'), file('bin/tool', 'x')])));
  const src = await importTarball(tarball, { changes: ['CMD ["/bin/tool"]', 'ENV A=1 B="two words"', 'LABEL k=v', 'EXPOSE 8080', 'WORKDIR /srv', 'USER app'], created: new Date('2020-01-01T00:00:00Z') });
  const layout = join(dir, 'imported');
  const dest = await openOciDestination(`${layout}:v1`);
  try {
    await copyImage(src, dest);
  } finally {
    await src.close();
    await dest.close();
  }
  const back = await openOciSource(`${layout}:v1`);
  try {
    const m = JSON.parse((await back.getManifest()).bytes.toString()) as { config: { digest: string }; layers: unknown[] };
    assert.equal(m.layers.length, 1);
    const chunks: Buffer[] = [];
    for await (const c of await back.getBlob({ digest: m.config.digest, size: -1 })) chunks.push(c as Buffer);
    const cfg = JSON.parse(Buffer.concat(chunks).toString()) as { created: string; config: Record<string, unknown>; rootfs: { diff_ids: string[] } };
    assert.equal(cfg.created, '2020-01-01T00:00:00Z');
    assert.deepEqual(cfg.config, { Cmd: ['/bin/tool'], Env: ['A=1', 'B=two words'], Labels: { k: 'v' }, ExposedPorts: { '8080/tcp': {} }, WorkingDir: '/srv', User: 'app' });
    assert.equal(cfg.rootfs.diff_ids.length, 1);
    const out = join(dir, 'back.tar');
    await exportRootfsToFile(back, out);
    const files = readTar(readFileSync(out)).filter((e) => e.type === '0').map((e) => `${e.path.replace(/^\.?\//, '')}=${e.content.toString()}`).sort();
    assert.deepEqual(files, ['bin/tool=x', 'etc/hello=hi']);
  } finally {
    await back.close();
  }
});

test('--change: shell form, and bad instructions are errors', () => {
  assert.deepEqual(applyChanges({}, ['ENTRYPOINT run me']).Entrypoint, ['/bin/sh', '-c', 'run me']);
  assert.throws(() => applyChanges({}, ['RUN apt-get update']), ChangeError);
  assert.throws(() => applyChanges({}, ['EXPOSE eighty']), ChangeError);
  assert.throws(() => applyChanges({}, ['CMD ["unterminated']), ChangeError);
});
