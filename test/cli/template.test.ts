import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderTemplate } from '../../src/cli/template.js';

const data = { Digest: 'sha256:x', Labels: { a: '1', b: '2' }, Layers: ['l1', 'l2'], Nested: { Os: 'linux' }, Empty: null };

test('fields, nesting, json, index and range', () => {
  assert.equal(renderTemplate('{{.Digest}} {{.Nested.Os}}', data), 'sha256:x linux');
  assert.equal(renderTemplate('{{json .Labels}}', data), '{"a":"1","b":"2"}');
  assert.equal(renderTemplate('{{index .Labels "b"}}', data), '2');
  assert.equal(renderTemplate('{{index .Labels "missing"}}', data), '');
  assert.equal(renderTemplate('{{range .Layers}}{{.}},{{end}}', data), 'l1,l2,');
  assert.equal(renderTemplate('{{.Labels}} {{.Empty}}', data), 'map[a:1 b:2] <no value>');
});

test('unsupported actions are errors', () => {
  assert.throws(() => renderTemplate('{{printf "%s" .Digest}}', data), /unsupported/);
  assert.throws(() => renderTemplate('{{.Digest', data), /unterminated/);
});
