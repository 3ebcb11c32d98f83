// Immutable tag patterns: `*` and `?` globs anchored to the whole tag.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertTagPattern, isValidTagPattern, tagPatternMatches } from '../../src/oci/tag-patterns.js';

test('tag patterns: * is any run, ? one character, anchored to the whole tag, case-sensitive', () => {
  const cases: [string, string, boolean][] = [
    ['v*', 'v1', true], ['v*', 'v1.2.3', true], ['v*', 'v', true], ['v*', 'latest', false], ['v*', 'xv1', false], ['v*', 'V1', false],
    ['release-*', 'release-2024.01', true], ['release-*', 'release', false], ['release-*', 'prerelease-1', false],
    ['release-?', 'release-1', true], ['release-?', 'release-10', false], ['release-?', 'release-', false],
    ['*', 'anything', true], ['latest', 'latest', true], ['latest', 'latest2', false], ['latest', 'latest-', false],
    ['*-rc*', '1.0-rc1', true], ['*-rc*', '1.0-rc', true], ['*-rc*', '1.0', false], ['*.*.*', '1.2.3', true], ['*.*.*', '1.2', false],
    ['a*b*c', 'abc', true], ['a*b*c', 'aXbYbZc', true], ['a*b*c', 'aXbYcZ', false], ['??', 'ab', true], ['??', 'a', false],
    ['v1.0', 'v1x0', false],
  ];
  for (const [p, t, want] of cases) assert.equal(tagPatternMatches(p, t), want, `${p} ~ ${t}`);
});

test('tag patterns: only the characters of a tag and the two wildcards, 1-128 of them', () => {
  for (const ok of ['v*', 'release-?', '*', 'a_b.c-d', 'x'.repeat(128)]) assert.ok(isValidTagPattern(ok), ok);
  for (const bad of ['', 'v[0-9]', 'a/b', 'v 1', '^v.*$', 'x'.repeat(129), 'ü*']) assert.ok(!isValidTagPattern(bad), bad);
  assert.throws(() => assertTagPattern('v[1]'), /invalid tag pattern "v\[1\]"/);
});
