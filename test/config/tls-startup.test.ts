// wharf serve refuses to start on TLS files it cannot use: exit 2 and a message naming the key.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { wharfBin } from '../helpers/server.js';
import { generateCerts } from '../tls/lib/tls.js';

const work = mkdtempSync(join(tmpdir(), 'wharf-tls-startup-'));
const a = generateCerts({ parent: work });
const b = generateCerts({ parent: work });
after(() => rmSync(work, { recursive: true, force: true }));

function serve(env: Record<string, string>): { code: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [wharfBin, 'serve', '--addr', '127.0.0.1:0', '--data', join(work, 'data')], {
    env: { ...process.env, WHARF_LOG_FORMAT: 'json', ...env }, encoding: 'utf8', timeout: 30_000,
  });
  return { code: r.status, stderr: r.stderr };
}

test('cert without key: exit 2, the message names tls.key', () => {
  const r = serve({ WHARF_TLS_CERT: a.cert });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /tls\.key \(WHARF_TLS_KEY\)/);
});

test('unreadable, invalid or mismatched files: exit 2, the message names the key and the file', () => {
  const garbage = join(work, 'garbage.pem');
  writeFileSync(garbage, 'not a certificate\n');
  const cases: [Record<string, string>, RegExp][] = [
    [{ WHARF_TLS_CERT: join(work, 'missing.crt'), WHARF_TLS_KEY: a.key }, /tls\.cert \(WHARF_TLS_CERT\): cannot read .*missing\.crt/],
    [{ WHARF_TLS_CERT: garbage, WHARF_TLS_KEY: a.key }, /tls\.cert \(WHARF_TLS_CERT\): .*garbage\.pem holds no PEM certificate/],
    [{ WHARF_TLS_CERT: a.cert, WHARF_TLS_KEY: garbage }, /tls\.key \(WHARF_TLS_KEY\): .*garbage\.pem is not a PEM private key/],
    [{ WHARF_TLS_CERT: a.cert, WHARF_TLS_KEY: b.key }, /tls\.key \(WHARF_TLS_KEY\): .*does not match the certificate/],
    [{ WHARF_TLS_CERT: a.cert, WHARF_TLS_KEY: a.key, WHARF_TLS_CLIENT_CA: garbage }, /tls\.clientCA \(WHARF_TLS_CLIENT_CA\): .*no PEM certificate/],
  ];
  for (const [env, re] of cases) {
    const r = serve(env);
    assert.equal(r.code, 2, `${JSON.stringify(env)}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.ok(!r.stderr.includes('PRIVATE KEY'), 'no key material in the message');
  }
});
