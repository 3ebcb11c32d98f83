import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isValidName, isValidTag } from '../../src/oci/names.js';

test('repository names follow the distribution grammar', () => {
  for (const ok of ['a', 'library/alpine', 'a.b/c_d/e__f/g-h---i', 'x/y/z/w', '0', 'a'.repeat(255)]) assert.ok(isValidName(ok), ok);
  for (const bad of ['', 'A', 'a/', '/a', 'a//b', '..', 'a/../b', 'a/./b', 'a___b', '-a', 'a-', 'a:b', 'a b', 'a%2fb', 'a'.repeat(256)]) {
    assert.ok(!isValidName(bad), bad);
  }
});

test('tags follow the distribution grammar', () => {
  for (const ok of ['latest', 'v1.0.0', '_x', 'A-b.C_d', 'a'.repeat(128)]) assert.ok(isValidTag(ok), ok);
  for (const bad of ['', '.x', '-x', 'a:b', 'a/b', 'a'.repeat(129), 'sp ace']) assert.ok(!isValidTag(bad), bad);
});
