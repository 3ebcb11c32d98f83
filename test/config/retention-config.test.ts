// retention.interval and retention.default: the job's interval (off or 0 disables it) and the policy of
// repositories without their own or their namespace's, from the file or WHARF_RETENTION_* variables.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../src/config/config.js';

const refused = (env: Record<string, string>, message: RegExp): void => {
  assert.throws(() => loadConfig({ env }), (e: unknown) => e instanceof ConfigError && message.test(e.message), JSON.stringify(env));
};

test('retention.interval: 1h by default; a duration; off or 0 disables the job', () => {
  assert.equal(loadConfig({ env: {} }).retention.interval, 3_600_000);
  assert.equal(loadConfig({ env: { WHARF_RETENTION_INTERVAL: '30m' } }).retention.interval, 1_800_000);
  assert.equal(loadConfig({ env: { WHARF_RETENTION_INTERVAL: 'off' } }).retention.interval, 0);
  assert.equal(loadConfig({ env: { WHARF_RETENTION_INTERVAL: '0' } }).retention.interval, 0);
  refused({ WHARF_RETENTION_INTERVAL: 'sometimes' }, /retention\.interval \(WHARF_RETENTION_INTERVAL\)/);
});

test('retention.default: none by default; the rules from the file or the environment, durations in milliseconds', () => {
  assert.equal(loadConfig({ env: {} }).retention.default, undefined);
  const dir = mkdtempSync(join(tmpdir(), 'wharf-retention-config-'));
  try {
    const file = join(dir, 'wharf.yaml');
    writeFileSync(file, 'retention:\n  default:\n    keepLast: 10\n    match: "v.*"\n    keepWithin: 7d\n    keep: stable\n    untaggedOlderThan: 30d\n');
    assert.deepEqual(loadConfig({ env: {}, file }).retention.default,
      { keepLast: 10, match: 'v.*', keepWithin: 7 * 86_400_000, keep: 'stable', untaggedOlderThan: 30 * 86_400_000 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(loadConfig({ env: { WHARF_RETENTION_DEFAULT_KEEP_LAST: '5', WHARF_RETENTION_DEFAULT_UNTAGGED_OLDER_THAN: '12h' } }).retention.default,
    { keepLast: 5, untaggedOlderThan: 43_200_000 });
});

test('retention.default: rules that are not a policy stop the start, naming the key and what is wrong', () => {
  refused({ WHARF_RETENTION_DEFAULT_MATCH: 'v.*' }, /retention\.default: match limits keepLast/);
  const dir = mkdtempSync(join(tmpdir(), 'wharf-retention-config-'));
  try {
    const file = join(dir, 'wharf.yaml');
    writeFileSync(file, 'retention:\n  default: {}\n');
    assert.throws(() => loadConfig({ env: {}, file }), (e: unknown) => e instanceof ConfigError && /retention\.default: a retention policy needs at least one rule/.test(e.message));
    writeFileSync(file, 'retention:\n  default:\n    keepLatest: 3\n');
    assert.throws(() => loadConfig({ env: {}, file }), (e: unknown) => e instanceof ConfigError && /retention\.default.*keepLatest/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  refused({ WHARF_RETENTION_DEFAULT_KEEP: '(' }, /retention\.default: keep is not a valid regular expression/);
  refused({ WHARF_RETENTION_DEFAULT_KEEP_LAST: '0' }, /retention\.default: keepLast is a whole number from 1/);
  refused({ WHARF_RETENTION_DEFAULT_KEEP_LAST: 'many' }, /retention\.default\.keepLast/);
  refused({ WHARF_RETENTION_DEFAULT_KEEP_WITHIN: 'a week' }, /retention\.default: keepWithin is a duration/);
});
