// webhooks.*: delivery timeout, retry schedule, attempts, concurrency and the CloudEvents source, from the
// file or WHARF_WEBHOOKS_* variables; bad values refused with the key and its variable named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../src/config/config.js';

test('webhooks: defaults (10s timeout, retries from 10s up to 1h, 10 attempts, 8 at once, source from the request)', () => {
  assert.deepEqual(loadConfig({ env: {} }).webhooks, { timeout: 10_000, retry: { initial: 10_000, max: 3_600_000 }, maxAttempts: 10, concurrency: 8 });
});

test('webhooks: the environment and the file set every key', () => {
  const env = {
    WHARF_WEBHOOKS_TIMEOUT: '2s', WHARF_WEBHOOKS_RETRY_INITIAL: '500ms', WHARF_WEBHOOKS_RETRY_MAX: '5m', WHARF_WEBHOOKS_MAX_ATTEMPTS: '4',
    WHARF_WEBHOOKS_CONCURRENCY: '2', WHARF_WEBHOOKS_SOURCE: 'https://registry.example.com',
  };
  assert.deepEqual(loadConfig({ env }).webhooks, { timeout: 2_000, retry: { initial: 500, max: 300_000 }, maxAttempts: 4, concurrency: 2, source: 'https://registry.example.com' });
  const dir = mkdtempSync(join(tmpdir(), 'wharf-webhooks-config-'));
  try {
    const file = join(dir, 'wharf.yaml');
    writeFileSync(file, 'webhooks:\n  timeout: 30s\n  retry:\n    max: 2h\n  maxAttempts: 20\n');
    assert.deepEqual(loadConfig({ env: {}, file }).webhooks, { timeout: 30_000, retry: { initial: 10_000, max: 7_200_000 }, maxAttempts: 20, concurrency: 8 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('webhooks: bad values are refused, naming the key and its variable', () => {
  const refused = (env: Record<string, string>, re: RegExp): void => {
    assert.throws(() => loadConfig({ env }), (e: unknown) => e instanceof ConfigError && re.test(e.message), JSON.stringify(env));
  };
  refused({ WHARF_WEBHOOKS_TIMEOUT: 'soon' }, /webhooks\.timeout \(WHARF_WEBHOOKS_TIMEOUT\): expected a duration/);
  refused({ WHARF_WEBHOOKS_RETRY_INITIAL: '-1s' }, /webhooks\.retry\.initial \(WHARF_WEBHOOKS_RETRY_INITIAL\)/);
  refused({ WHARF_WEBHOOKS_MAX_ATTEMPTS: '0' }, /webhooks\.maxAttempts \(WHARF_WEBHOOKS_MAX_ATTEMPTS\)/);
  refused({ WHARF_WEBHOOKS_CONCURRENCY: 'many' }, /webhooks\.concurrency \(WHARF_WEBHOOKS_CONCURRENCY\)/);
  refused({ WHARF_WEBHOOKS_SOURCE: 'has space' }, /webhooks\.source \(WHARF_WEBHOOKS_SOURCE\)/);
});
