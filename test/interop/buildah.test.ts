// buildah 1.28 (vfs storage, private environment) against Wharf and Distribution: build from scratch and
// from a registry image, commit deterministically (--timestamp), push, and verify what the registry serves.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { ClientEnv } from './lib/containers.js';
import { MT, readTar, sampleImage, sha256 } from './lib/images.js';
import { assertServed, dockerRef, inspect, inspectConfigRaw, inspectRaw, pushImage } from './lib/ops.js';
import type { Registry } from './lib/registries.js';
import { uniqueRepo } from './lib/registries.js';
import { InteropSuite } from './lib/suite.js';

const suite = new InteropSuite();
const BASE = sampleImage('buildah-base');
/** 2020-01-01T00:00:00Z: commits with a fixed timestamp are reproducible, so both registries get identical bytes. */
const EPOCH = '1577836800';

interface Manifest {
  mediaType: string;
  config: { mediaType: string; digest: string };
  layers: { mediaType: string; digest: string; size: number }[];
}
interface Config {
  created: string;
  architecture: string;
  os: string;
  config: { Labels?: Record<string, string>; Env?: string[]; Cmd?: string[] };
  rootfs: { diff_ids: string[] };
}

async function getBlob(reg: Registry, repo: string, digest: string): Promise<Buffer> {
  const res = await fetch(`${reg.url}/v2/${repo}/blobs/${digest}`, { signal: AbortSignal.timeout(15_000) });
  const body = Buffer.from(await res.arrayBuffer());
  assert.equal(res.status, 200, `GET /v2/${repo}/blobs/${digest} -> ${res.status}`);
  assert.equal(sha256(body), digest, `blob ${digest} served with wrong content`);
  return body;
}

async function from(env: ClientEnv, name: string, image: string): Promise<string> {
  const out = await env.buildah(['from', '--quiet', '--tls-verify=false', '--name', name, image]);
  const ctr = out.stdout.trim().split('\n').pop()!;
  assert.equal(ctr, name);
  return ctr;
}

suite.scenario('buildah from scratch, copy, config --label, commit, push', async ({ env, reg }) => {
  const repo = uniqueRepo('buildah-scratch');
  const ctxDir = env.tmp('context');
  writeFileSync(join(ctxDir, 'hello.txt'), 'hello from buildah\n');
  const ctr = await from(env, 'scratch-ctr', 'scratch');
  await env.buildah(['copy', '--quiet', ctr, join(ctxDir, 'hello.txt'), '/hello.txt']);
  await env.buildah(['config', '--label', 'org.wharf.test=buildah', '--env', 'FOO=bar', '--cmd', '["/hello.txt"]', '--arch', 'amd64', '--os', 'linux', ctr]);
  await env.buildah(['commit', '--quiet', '--timestamp', EPOCH, '--identity-label=false', ctr, 'localhost/scratch-img:latest']);
  const digestFile = join(env.tmp('digest'), 'digest');
  await env.buildah(['push', '--quiet', '--tls-verify=false', '--digestfile', digestFile, 'localhost/scratch-img:latest', dockerRef(reg, repo, 'v1')]);

  const raw = await inspectRaw(env, dockerRef(reg, repo, 'v1'));
  const pushedDigest = readFileSync(digestFile, 'utf8').trim();
  assert.equal(pushedDigest, sha256(raw), 'buildah --digestfile matches what the registry serves');
  const m = JSON.parse(raw.toString()) as Manifest;
  assert.equal(m.mediaType, MT.ociManifest);
  assert.equal(m.layers.length, 1);
  await assertServed(reg, repo, 'v1', raw, MT.ociManifest);
  await assertServed(reg, repo, pushedDigest, raw, MT.ociManifest);

  const info = await inspect(env, dockerRef(reg, repo, 'v1'));
  assert.equal(info.Digest, pushedDigest);
  assert.equal(info.Labels?.['org.wharf.test'], 'buildah', `label missing: ${JSON.stringify(info.Labels)}`);
  assert.ok(info.Env?.includes('FOO=bar'));
  assert.equal(info.Created, '2020-01-01T00:00:00Z');

  const configRaw = await inspectConfigRaw(env, dockerRef(reg, repo, 'v1'));
  assert.equal(sha256(configRaw), m.config.digest);
  const config = JSON.parse(configRaw.toString()) as Config;
  assert.deepEqual(config.config.Cmd, ['/hello.txt']);
  assert.deepEqual(config.config.Labels, { 'org.wharf.test': 'buildah' });
  // The layer really holds the copied file.
  const layer = await getBlob(reg, repo, m.layers[0]!.digest);
  const entries = readTar(layer);
  const hello = entries.find((e) => e.path === 'hello.txt');
  assert.ok(hello, `hello.txt not in layer: ${entries.map((e) => e.path).join(', ')}`);
  assert.equal(hello.content.toString(), 'hello from buildah\n');
  assert.equal(sha256(gunzipSync(layer)), config.rootfs.diff_ids[0], 'diff_id is the digest of the uncompressed layer');
  return { raw: raw.toString(), config: configRaw.toString() };
}, { compare: true });

suite.scenario('buildah from a registry image, add a layer, push --format v2s2', async ({ env, reg }) => {
  const base = uniqueRepo('buildah-base');
  const derived = uniqueRepo('buildah-derived');
  await pushImage(env, reg, base, 'v1', BASE);
  const ctxDir = env.tmp('context');
  writeFileSync(join(ctxDir, 'added.txt'), 'added on top\n');
  const ctr = await from(env, 'derived-ctr', `${reg.addr}/${base}:v1`);
  await env.buildah(['copy', '--quiet', ctr, join(ctxDir, 'added.txt'), '/srv/added.txt']);
  await env.buildah(['config', '--label', 'org.wharf.test.derived=yes', ctr]);
  await env.buildah(['commit', '--quiet', '--timestamp', EPOCH, '--identity-label=false', ctr, 'localhost/derived-img:latest']);
  await env.buildah(['push', '--quiet', '--tls-verify=false', '--format', 'v2s2', 'localhost/derived-img:latest', dockerRef(reg, derived, 'v1')]);

  const raw = await inspectRaw(env, dockerRef(reg, derived, 'v1'));
  const m = JSON.parse(raw.toString()) as Manifest;
  assert.equal(m.mediaType, MT.dockerManifest);
  assert.equal(m.config.mediaType, MT.dockerConfig);
  assert.equal(m.layers.length, BASE.layers.length + 1);
  assert.deepEqual(m.layers.slice(0, BASE.layers.length).map((l) => l.digest), BASE.layers.map((l) => l.digest), 'base layers reused as-is');
  await assertServed(reg, derived, 'v1', raw, MT.dockerManifest);
  const config = JSON.parse((await inspectConfigRaw(env, dockerRef(reg, derived, 'v1'))).toString()) as Config;
  assert.deepEqual(config.rootfs.diff_ids.slice(0, BASE.diffIds.length), BASE.diffIds);
  assert.deepEqual(config.config.Labels, { ...BASE.labels, 'org.wharf.test.derived': 'yes' });
  const top = readTar(await getBlob(reg, derived, m.layers.at(-1)!.digest));
  assert.equal(top.find((e) => e.path === 'srv/added.txt')?.content.toString(), 'added on top\n');
  // And buildah can pull its own push back.
  const again = await from(env, 'roundtrip-ctr', `${reg.addr}/${derived}:v1`);
  assert.equal(again, 'roundtrip-ctr');
  // The config's history names the base image (registry address and repository): normalise it.
  const configText = (await inspectConfigRaw(env, dockerRef(reg, derived, 'v1'))).toString().replaceAll(`${reg.addr}/${base}`, 'BASE');
  return { layers: m.layers, config: configText };
}, { compare: true });
