import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startWharf, wharfBin } from '../helpers/server.js';

test('a bad configuration stops serve with a message naming the key, exit 2', () => {
  const r = spawnSync(process.execPath, [wharfBin, 'serve', '--addr', '127.0.0.1:0'], {
    env: { ...process.env, WHARF_UPLOADS_TTL: 'whenever' }, encoding: 'utf8', timeout: 15000,
  });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /uploads\.ttl \(WHARF_UPLOADS_TTL\)/);
});

test('an unknown key in the config file is refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wharf-cli-'));
  try {
    const file = join(dir, 'wharf.yaml');
    writeFileSync(file, 'adr: 127.0.0.1:5000\n');
    const r = spawnSync(process.execPath, [wharfBin, 'serve', '--config', file], { encoding: 'utf8', timeout: 15000 });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /adr/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('serve reads its config file; flags win; access lines are JSON without credentials', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wharf-cli-'));
  const file = join(dir, 'wharf.json');
  writeFileSync(file, JSON.stringify({ addr: '127.0.0.1:1', manifests: { maxSize: '1k' } }));
  let out = '';
  const srv = await startWharf({ args: ['--config', file] });
  srv.proc.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
  try {
    // --addr 127.0.0.1:0 from the helper overrides the file's port 1.
    assert.match(srv.addr, /^127\.0\.0\.1:\d+$/);
    assert.notEqual(srv.addr, '127.0.0.1:1');
    const big = JSON.stringify({ schemaVersion: 2, pad: 'x'.repeat(2000) });
    const res = await fetch(`${srv.url}/v2/a/manifests/t`, { method: 'PUT', body: big, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json', authorization: 'Basic c2VjcmV0OnNlY3JldA==' } });
    assert.equal(res.status, 413);
    await res.arrayBuffer();
    await new Promise((r) => setTimeout(r, 200));
    const lines = out.split('\n').filter(Boolean);
    const access = lines.map((l) => JSON.parse(l) as { msg: string; status?: number; method?: string }).filter((r) => r.msg === 'request');
    assert.ok(access.some((r) => r.method === 'PUT' && r.status === 413), lines.join('\n'));
    assert.ok(!lines.some((l) => l.includes('c2VjcmV0')), 'credentials must never be logged');
  } finally {
    await srv.stop();
    srv.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});
