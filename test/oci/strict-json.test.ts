import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findDuplicateKey } from '../../src/oci/strict-json.js';

test('findDuplicateKey finds keys given twice in one object, at any depth, however spelled', () => {
  assert.equal(findDuplicateKey('{"a":1,"b":2}'), null);
  assert.equal(findDuplicateKey('{"a":1,"a":2}'), 'a');
  assert.equal(findDuplicateKey('{"a":1,"\\u0061":2}'), 'a');
  assert.equal(findDuplicateKey('{"x":{"a":1,"b":{"a":1}},"y":[{"a":1},{"a":2}]}'), null, 'same key in different objects is fine');
  assert.equal(findDuplicateKey('{"x":[{"k":"a","k":"b"}]}'), 'k');
  assert.equal(findDuplicateKey('{"s":"a,\\"b\\":{","s2":"}","s":1}'), 's', 'braces and quotes inside strings are not structure');
  assert.equal(findDuplicateKey('{"a":[1,2,"a"],"b":"a"}'), null, 'values are not keys');
});
