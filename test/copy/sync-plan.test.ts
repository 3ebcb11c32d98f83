import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planFromDirectory, planFromRepository, planFromYaml, tagMatches } from '../../src/copy/sync-plan.js';

const dir = mkdtempSync(join(tmpdir(), 'wharf-sync-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const tags = ['1.0.0', '1.2.3', 'v1.9.0', '2.0.0', '2.0.0-rc1', 'latest', 'beta'];
const listTags = async () => tags;

test('tag filters: include, exclude and semver ranges', () => {
  const f = { include: [/^1\./, /^v/], exclude: [/^1\.0/], semverRange: undefined };
  assert.deepEqual(tags.filter((t) => tagMatches(t, f)), ['1.2.3', 'v1.9.0']);
  assert.deepEqual(tags.filter((t) => tagMatches(t, { include: [], exclude: [], semverRange: '>=1.2 <2' })), ['1.2.3', 'v1.9.0']);
});

test('a repository syncs every matching tag to registry/prefix/last-component (or the full name when scoped)', async () => {
  const plan = await planFromRepository('127.0.0.1:5000/team/app', 'docker', '127.0.0.1:6000/mirror', { include: [/^2/], exclude: [], semverRange: undefined }, false, listTags);
  assert.deepEqual(plan.map((p) => [p.source, p.destination]), [
    ['docker://127.0.0.1:5000/team/app:2.0.0', 'docker://127.0.0.1:6000/mirror/app:2.0.0'],
    ['docker://127.0.0.1:5000/team/app:2.0.0-rc1', 'docker://127.0.0.1:6000/mirror/app:2.0.0-rc1'],
  ]);
  const scoped = await planFromRepository('127.0.0.1:5000/team/app:latest', 'dir', '/backup', { include: [], exclude: [], semverRange: undefined }, true, listTags);
  assert.deepEqual(scoped.map((p) => p.destination), ['dir:/backup/127.0.0.1:5000/team/app:latest']);
});

test('skopeo YAML: images (all or listed tags), by tag regex, by semver, with per-registry access', async () => {
  const yaml = join(dir, 'sync.yaml');
  writeFileSync(yaml, [
    '127.0.0.1:5000:',
    '  tls-verify: false',
    '  credentials: { username: u, password: p }',
    '  images:',
    '    app: ["latest"]',
    '    all: []',
    '  images-by-tag-regex:',
    '    rx: ^v1\\.',
    '  images-by-semver:',
    '    sv: ">= 1.2.0 < 2.0.0"',
  ].join('\n'));
  const plan = await planFromYaml(yaml, 'docker', 'localhost:7000', { include: [], exclude: [], semverRange: undefined }, false, listTags);
  const dests = plan.map((p) => p.destination);
  assert.ok(dests.includes('docker://localhost:7000/app:latest'));
  assert.equal(dests.filter((d) => d.startsWith('docker://localhost:7000/all:')).length, tags.length);
  assert.deepEqual(dests.filter((d) => d.includes('/rx:')), ['docker://localhost:7000/rx:v1.9.0']);
  assert.deepEqual(dests.filter((d) => d.includes('/sv:')), ['docker://localhost:7000/sv:1.2.3', 'docker://localhost:7000/sv:v1.9.0']);
  assert.deepEqual(plan[0]!.sourceAccess, { creds: 'u:p', tlsVerify: false, certDir: undefined });
});

test('a directory of dir: images keeps its relative names', async () => {
  const root = join(dir, 'dirs');
  for (const p of ['team/app:1', 'other:2']) {
    mkdirSync(join(root, p), { recursive: true });
    writeFileSync(join(root, p, 'manifest.json'), '{}');
  }
  const plan = await planFromDirectory(root, 'docker', '127.0.0.1:5000/restored');
  assert.deepEqual(plan.map((p) => p.destination).sort(), ['docker://127.0.0.1:5000/restored/other:2', 'docker://127.0.0.1:5000/restored/team/app:1']);
});
