// immutable.patterns: registry-wide immutable tag patterns from the file or WHARF_IMMUTABLE_PATTERNS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../src/config/config.js';

test('immutable.patterns: none by default; a list in the file, comma-separated in the environment; bad patterns refused', () => {
  assert.deepEqual(loadConfig({ env: {} }).immutable.patterns, []);
  assert.deepEqual(loadConfig({ env: { WHARF_IMMUTABLE_PATTERNS: 'v*, release-?' } }).immutable.patterns, ['v*', 'release-?']);
  const dir = mkdtempSync(join(tmpdir(), 'wharf-immutable-config-'));
  try {
    const file = join(dir, 'wharf.yaml');
    writeFileSync(file, 'immutable:\n  patterns: ["v*", "stable"]\n');
    assert.deepEqual(loadConfig({ env: {}, file }).immutable.patterns, ['v*', 'stable']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.throws(() => loadConfig({ env: { WHARF_IMMUTABLE_PATTERNS: 'v[0-9]' } }),
    (e: unknown) => e instanceof ConfigError && /immutable\.patterns \(WHARF_IMMUTABLE_PATTERNS\).*tag patterns/.test(e.message));
});
