// umoci 0.4.7 validates the OCI layouts skopeo writes from what the registry serves, and builds a new
// image layer whose result goes back through the registry.
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { ClientEnv } from './lib/containers.js';
import { MT, layoutRef, sampleImage } from './lib/images.js';
import { COPY_TLS_OFF, assertServed, dockerRef, inspect, inspectRaw, pushImage } from './lib/ops.js';
import { uniqueRepo } from './lib/registries.js';
import { InteropSuite } from './lib/suite.js';

const suite = new InteropSuite();
const IMG = sampleImage('umoci-a');

interface UmociStat {
  history: { created?: string; created_by?: string; comment?: string; empty_layer?: boolean; layer?: { digest: string } | null }[];
}

/** Relative path -> sha256 of content ('dir' for directories) for every entry under `root`. */
function tree(root: string, rel = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(join(root, rel)).sort()) {
    const p = rel ? `${rel}/${name}` : name;
    const st = statSync(join(root, p));
    if (st.isDirectory()) { out[p] = 'dir'; Object.assign(out, tree(root, p)); }
    else out[p] = createHash('sha256').update(readFileSync(join(root, p))).digest('hex');
  }
  return out;
}

async function copyToLayout(env: ClientEnv, ref: string, tag: string): Promise<string> {
  const out = env.tmp('oci');
  await env.skopeo(['copy', '--quiet', ...COPY_TLS_OFF, ref, `oci:${out}:${tag}`]);
  return out;
}

suite.scenario('umoci ls / stat / unpack a layout copied back from the registry', async ({ env, reg }) => {
  const repo = uniqueRepo('umoci');
  await pushImage(env, reg, repo, 'v1', IMG);
  const layout = await copyToLayout(env, dockerRef(reg, repo, 'v1'), 'v1');

  const ls = await env.umoci(['ls', '--layout', layout]);
  assert.deepEqual(ls.stdout.trim().split('\n'), ['v1']);
  const stat = JSON.parse((await env.umoci(['stat', '--json', '--image', `${layout}:v1`])).stdout) as UmociStat;
  assert.deepEqual(stat.history.map((h) => h.created_by), IMG.layers.map((_, i) => `wharf-interop layer ${i}`));
  assert.deepEqual(stat.history.map((h) => h.layer?.digest), IMG.layers.map((l) => l.digest));

  const bundle = env.path('bundle');
  await env.umoci(['unpack', '--image', `${layout}:v1`, bundle]);
  const rootfs = join(bundle, 'rootfs');
  assert.equal(readFileSync(join(rootfs, 'etc/os-release'), 'utf8'), 'NAME="Wharf interop"\nID=wharf\nVERSION_ID="umoci-a"\n');
  assert.equal(statSync(join(rootfs, 'bin/hello')).mode & 0o777, 0o755);
  assert.equal(readFileSync(join(rootfs, 'srv/nested/deep.txt'), 'utf8'), 'deep umoci-a\n');
  const runtime = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as { process: { args: string[]; env: string[] } };
  assert.deepEqual(runtime.process.args, IMG.cmd);
  for (const e of IMG.env) assert.ok(runtime.process.env.includes(e), `runtime env lacks ${e}`);
  return { files: tree(rootfs), tags: ls.stdout };
}, { compare: true });

suite.scenario('umoci repack + config, pushed with skopeo, pulled and unpacked again', async ({ env, reg }) => {
  const repo = uniqueRepo('umoci-repack');
  await pushImage(env, reg, repo, 'v1', IMG);
  const layout = await copyToLayout(env, dockerRef(reg, repo, 'v1'), 'v1');
  const bundle = env.path('bundle');
  await env.umoci(['unpack', '--image', `${layout}:v1`, bundle]);
  writeFileSync(join(bundle, 'rootfs', 'srv', 'umoci.txt'), 'written by umoci test\n');
  await env.umoci(['repack', '--history.created_by', 'umoci interop', '--image', `${layout}:v2`, bundle]);
  await env.umoci(['config', '--image', `${layout}:v2`, '--config.label', 'org.wharf.test.umoci=yes']);
  await env.umoci(['gc', '--layout', layout]);
  const desc = layoutRef(layout, 'v2');
  assert.equal(desc.mediaType, MT.ociManifest);

  await env.skopeo(['copy', '--quiet', ...COPY_TLS_OFF, `oci:${layout}:v2`, dockerRef(reg, repo, 'v2')]);
  const raw = await inspectRaw(env, dockerRef(reg, repo, 'v2'));
  assert.equal((await inspect(env, dockerRef(reg, repo, 'v2'))).Digest, desc.digest, 'registry digest equals the layout digest');
  await assertServed(reg, repo, 'v2', raw, MT.ociManifest);
  const info = await inspect(env, dockerRef(reg, repo, 'v2'));
  assert.equal(info.Labels?.['org.wharf.test.umoci'], 'yes');
  assert.equal(info.Layers.length, IMG.layers.length + 1);
  assert.deepEqual(info.Layers.slice(0, IMG.layers.length), IMG.layers.map((l) => l.digest));

  const back = await copyToLayout(env, dockerRef(reg, repo, 'v2'), 'v2');
  assert.equal(layoutRef(back, 'v2').digest, desc.digest);
  const bundle2 = env.path('bundle2');
  await env.umoci(['unpack', '--image', `${back}:v2`, bundle2]);
  assert.equal(readFileSync(join(bundle2, 'rootfs', 'srv', 'umoci.txt'), 'utf8'), 'written by umoci test\n');
  assert.deepEqual(tree(join(bundle2, 'rootfs')), tree(join(bundle, 'rootfs')), 'the round trip through the registry preserves the filesystem');
});
