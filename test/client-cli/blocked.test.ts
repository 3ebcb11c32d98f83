// registries.conf `blocked` on a repository prefix, not a whole host: pulls of that repository (and of the
// repositories under it) are refused, unless a mirror of the blocked entry has the image (the mirror is
// pulled from, as containers/image does: blocking a source and mirroring it is how air-gapped setups work); its
// siblings — including one whose name merely starts with the same letters — are pulled as usual. skopeo,
// with the same registries.conf, agrees.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sampleImage, writeOciLayout } from '../interop/lib/images.js';
import { startWharf, type WharfServer } from '../helpers/server.js';
import { Cli, withHistory } from './lib/cli.js';

const IMG = sampleImage('cli-blocked');
let server: WharfServer;
let cli: Cli;
let conf: string;
let confWithMirror: string;
let base: string;
const ns = `blk${process.pid}`;

before(async () => {
  server = await startWharf();
  cli = new Cli();
  base = cli.tmp('base');
  writeOciLayout(base, [{ tag: 'img', image: IMG }]);
  for (const repo of [`${ns}/secret`, `${ns}/secret/sub`, `${ns}/secretive`, `${ns}/public`, `mirror/${ns}/secret`]) {
    await cli.wharf(['copy', '--quiet', '--dest-tls-verify=false', `oci:${base}:img`, `docker://${server.addr}/${repo}:v1`]);
  }
  const dir = cli.tmp('conf');
  conf = join(dir, 'blocked.conf');
  writeFileSync(conf, [
    '[[registry]]', `location = "${server.addr}"`, 'insecure = true',
    '[[registry]]', `prefix = "${server.addr}/${ns}/secret"`, `location = "${server.addr}/${ns}/secret"`, 'insecure = true', 'blocked = true',
    '',
  ].join('\n'));
  confWithMirror = join(dir, 'blocked-mirror.conf');
  writeFileSync(confWithMirror, [
    '[[registry]]', `location = "${server.addr}"`, 'insecure = true',
    '[[registry]]', `prefix = "${server.addr}/${ns}/secret"`, `location = "${server.addr}/${ns}/secret"`, 'insecure = true', 'blocked = true',
    '[[registry.mirror]]', `location = "${server.addr}/mirror/${ns}/secret"`, 'insecure = true',
    '',
  ].join('\n'));
});

after(async () => {
  cli?.cleanup();
  await server?.stop();
  server?.cleanup();
});

const ref = (repo: string): string => `docker://${server.addr}/${ns}/${repo}:v1`;
const withConf = (file: string) => ({ env: { CONTAINERS_REGISTRIES_CONF: file } });

describe('registries.conf blocked on a repository prefix', () => {
  /** `repo` is refused by wharf (inspect and copy) and by skopeo, each saying it is blocked. */
  async function assertRefused(repo: string, file: string): Promise<void> {
    const i = await cli.wharfFails(['inspect', '--format', '{{.Digest}}', ref(repo)], withConf(file));
    assert.match(i.stderr, /blocked/, i.stderr);
    const out = cli.path('blocked-copy');
    const c = await cli.wharfFails(['copy', ref(repo), `oci:${out}:x`], withConf(file));
    assert.match(c.stderr, /blocked/, c.stderr);
    assert.equal(existsSync(join(out, 'index.json')), false, 'a blocked pull wrote an image');
    const s = await cli.skopeo(['--registries-conf', file, 'inspect', '--raw', ref(repo)], { allowFail: true });
    assert.notEqual(s.code, 0, `skopeo pulled ${repo}: the configuration does not mean what the test thinks`);
    assert.match(s.stderr, /blocked/, s.stderr);
  }

  /** `repo` is pulled by wharf (inspect and copy) and by skopeo. */
  async function assertAllowed(repo: string, file: string): Promise<void> {
    const i = await cli.wharf(['inspect', '--format', '{{.Digest}}', ref(repo)], withConf(file));
    assert.equal(i.stdout.trim(), IMG.manifestDigest, `${repo}: ${i.stderr}`);
    const out = cli.path('allowed-copy');
    await cli.wharf(['copy', '--quiet', ref(repo), `oci:${out}:x`], withConf(file));
    assert.ok(existsSync(join(out, 'index.json')));
    const s = await cli.skopeo(['--registries-conf', file, 'inspect', '--raw', ref(repo)]);
    assert.ok(s.stdoutBuf.equals(IMG.manifest), `skopeo reads ${repo} too`);
  }

  test('the repository and those under it are refused, for inspect and copy', () => withHistory(cli, async () => {
    for (const repo of ['secret', 'secret/sub']) await assertRefused(repo, conf);
    // Pushes too (skopeo refuses a blocked destination as well).
    const push = await cli.wharfFails(['copy', `oci:${base}:img`, ref('secret/pushed')], withConf(conf));
    assert.match(push.stderr, /blocked/, push.stderr);
  }));

  test('its siblings are pulled as usual, even one whose name only starts the same', () => withHistory(cli, async () => {
    for (const repo of ['secretive', 'public']) await assertAllowed(repo, conf);
    await cli.wharf(['copy', '--quiet', `oci:${base}:img`, ref('secretive/pushed')], withConf(conf));
  }));

  test("with a mirror on the blocked entry: pulled from the mirror when it has the image (as containers/image does), else refused", () => withHistory(cli, async () => {
    await assertAllowed('secret', confWithMirror);
    await assertRefused('secret/sub', confWithMirror);
    for (const repo of ['secretive', 'public']) await assertAllowed(repo, confWithMirror);
  }));
});
