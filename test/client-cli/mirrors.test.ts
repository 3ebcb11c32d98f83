// registries.conf mirrors: a pull goes to the first mirror that has the image, then the registry itself.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startWharf, wharfBin, type WharfServer } from '../helpers/server.js';
import { sampleImage, writeOciLayout } from '../interop/lib/images.js';

let primary: WharfServer;
let mirror: WharfServer;
const dir = mkdtempSync(join(tmpdir(), 'wharf-mirrors-'));

function wharf(args: string[], conf: string): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [wharfBin, ...args], {
    encoding: 'utf8', timeout: 60_000,
    env: { PATH: process.env.PATH, HOME: dir, XDG_RUNTIME_DIR: dir, REGISTRY_AUTH_FILE: join(dir, 'auth.json'), CONTAINERS_REGISTRIES_CONF: conf },
  });
}

before(async () => {
  [primary, mirror] = await Promise.all([startWharf(), startWharf()]);
  writeOciLayout(join(dir, 'layout'), [{ tag: 'a', image: sampleImage('mirror-a') }, { tag: 'b', image: sampleImage('mirror-b') }]);
});

after(async () => {
  await Promise.all([primary.stop(), mirror.stop()]);
  primary.cleanup();
  mirror.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

test('pulls come from the mirror when it has the image, else from the registry; blocked registries are refused', () => {
  const plain = join(dir, 'plain.conf');
  writeFileSync(plain, '');
  // Image a only on the mirror (under the same repository name), image b only on the primary.
  assert.equal(wharf(['copy', '-q', '--dest-tls-verify=false', `oci:${join(dir, 'layout')}:a`, `docker://${mirror.addr}/team/app:1`], plain).status, 0);
  assert.equal(wharf(['copy', '-q', '--dest-tls-verify=false', `oci:${join(dir, 'layout')}:b`, `docker://${primary.addr}/team/app:2`], plain).status, 0);

  const conf = join(dir, 'mirrors.conf');
  writeFileSync(conf, [
    '[[registry]]', `location = "${primary.addr}"`, 'insecure = true',
    '[[registry.mirror]]', `location = "${mirror.addr}"`, 'insecure = true',
    '[[registry]]', 'location = "127.0.0.1:9"', 'blocked = true',
  ].join('\n'));
  const fromMirror = wharf(['inspect', '--raw', `docker://${primary.addr}/team/app:1`], conf);
  assert.equal(fromMirror.status, 0, fromMirror.stderr);
  assert.equal(JSON.parse(wharf(['inspect', '--raw', '--tls-verify=false', `docker://${mirror.addr}/team/app:1`], plain).stdout).config.digest, JSON.parse(fromMirror.stdout).config.digest);
  const fromPrimary = wharf(['copy', '-q', `docker://${primary.addr}/team/app:2`, `oci:${join(dir, 'out')}:b`], conf);
  assert.equal(fromPrimary.status, 0, fromPrimary.stderr);
  // Without the mirror configuration, tag 1 does not exist on the primary.
  assert.notEqual(wharf(['inspect', '--tls-verify=false', `docker://${primary.addr}/team/app:1`], plain).status, 0);
  const blocked = wharf(['inspect', 'docker://127.0.0.1:9/x/y:1'], conf);
  assert.notEqual(blocked.status, 0);
  assert.match(blocked.stderr, /blocked/);
});
