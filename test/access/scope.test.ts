// The Docker token `scope`: parsing what clients send, `*`, and the round trip between resources (the
// token's `access` claim) and accesses (what routes need).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RegistryError } from '../../src/oci/errors.js';
import type { Access } from '../../src/access/access-controller.js';
import { accessesOf, expandActions, formatScope, parseScopes, resourcesOf } from '../../src/access/scope.js';

function refused(values: string[], code: 'UNSUPPORTED' | 'NAME_INVALID'): void {
  assert.throws(() => parseScopes(values), (e: unknown) => {
    assert.ok(e instanceof RegistryError, `${JSON.stringify(values)}: ${String(e)}`);
    assert.equal(e.code, code, JSON.stringify(values));
    assert.equal(e.status, 400, JSON.stringify(values));
    return true;
  });
}

test('parseScopes: one scope per value, several values', () => {
  assert.deepEqual(parseScopes(['repository:acme/app:pull,push', 'registry:catalog:*']), [
    { type: 'repository', name: 'acme/app', actions: ['pull', 'push'] },
    { type: 'registry', name: 'catalog', actions: ['*'] },
  ]);
  assert.deepEqual(parseScopes([]), []);
  assert.deepEqual(parseScopes(['']), []);
});

test('parseScopes: several scopes in one value, separated by spaces (OAuth2)', () => {
  assert.deepEqual(parseScopes(['repository:a/b:pull  repository:c/d:push registry:catalog:*']), [
    { type: 'repository', name: 'a/b', actions: ['pull'] },
    { type: 'repository', name: 'c/d', actions: ['push'] },
    { type: 'registry', name: 'catalog', actions: ['*'] },
  ]);
});

test('parseScopes: the same resource twice is merged, its actions once each', () => {
  assert.deepEqual(parseScopes(['repository:a/b:pull,pull', 'repository:a/b:push,pull', 'repository:c/d:pull repository:a/b:delete']), [
    { type: 'repository', name: 'a/b', actions: ['pull', 'push', 'delete'] },
    { type: 'repository', name: 'c/d', actions: ['pull'] },
  ]);
  // Empty actions are dropped; a resource with none is kept (the caller grants nothing on it).
  assert.deepEqual(parseScopes(['repository:a/b:pull,,push,']), [{ type: 'repository', name: 'a/b', actions: ['pull', 'push'] }]);
  assert.deepEqual(parseScopes(['repository:a/b:']), [{ type: 'repository', name: 'a/b', actions: [] }]);
});

test('parseScopes: a name holding host:port keeps its colon (type before the first, actions after the last)', () => {
  assert.deepEqual(parseScopes(['mirror:registry.example.com:5000/library/app:pull']), [
    { type: 'mirror', name: 'registry.example.com:5000/library/app', actions: ['pull'] },
  ]);
  // A repository name never holds a host here: it is a name error, not a malformed scope.
  refused(['repository:localhost:5000/acme/app:pull'], 'NAME_INVALID');
});

test('parseScopes: other resource types are kept for the caller to refuse', () => {
  assert.deepEqual(parseScopes(['repository(plugin):a/b:pull', 'registry:other:x']), [
    { type: 'repository(plugin)', name: 'a/b', actions: ['pull'] },
    { type: 'registry', name: 'other', actions: ['x'] },
  ]);
});

test('parseScopes: a malformed scope is UNSUPPORTED with status 400', () => {
  for (const bad of ['repository', 'repository:a/b', ':a/b:pull', 'pull']) refused([bad], 'UNSUPPORTED');
  // One bad scope in an otherwise good value refuses the whole request.
  refused(['repository:a/b:pull repository:c/d'], 'UNSUPPORTED');
});

test('parseScopes: an invalid repository name is NAME_INVALID with status 400', () => {
  for (const name of ['a/../b', 'A/b', 'a%2Fb', 'a//b', '/a', 'a/', '', '-a/b', 'a/b\tc', 'a'.repeat(256)]) {
    refused([`repository:${name}:pull`], 'NAME_INVALID');
  }
  // The same characters are fine in a name the grammar allows.
  assert.deepEqual(parseScopes(['repository:a.b/c-d/e__f:pull']).map((r) => r.name), ['a.b/c-d/e__f']);
});

test('expandActions: * is every repository action; for the catalog it is the action itself', () => {
  assert.deepEqual(expandActions({ type: 'repository', name: 'a/b', actions: ['*'] }), ['pull', 'push', 'delete']);
  assert.deepEqual(expandActions({ type: 'repository', name: 'a/b', actions: ['pull', '*'] }), ['pull', 'push', 'delete']);
  assert.deepEqual(expandActions({ type: 'repository', name: 'a/b', actions: ['push'] }), ['push']);
  assert.deepEqual(expandActions({ type: 'registry', name: 'catalog', actions: ['*'] }), ['*']);
});

test('accessesOf: one access per known action; unknown types and actions drop out', () => {
  const resources = parseScopes(['repository:a/b:pull,push,frobnicate registry:catalog:* registry:catalog:read repository(plugin):c/d:pull repository:e/f:*']);
  assert.deepEqual(accessesOf(resources), [
    { type: 'repository', name: 'a/b', action: 'pull' },
    { type: 'repository', name: 'a/b', action: 'push' },
    { type: 'registry', name: 'catalog', action: '*' },
    { type: 'repository', name: 'e/f', action: 'pull' },
    { type: 'repository', name: 'e/f', action: 'push' },
    { type: 'repository', name: 'e/f', action: 'delete' },
  ]);
});

test('resourcesOf groups accesses by resource, and formatScope writes them back as a scope', () => {
  const accesses: Access[] = [
    { type: 'repository', name: 'a/b', action: 'pull' },
    { type: 'registry', name: 'catalog', action: '*' },
    { type: 'repository', name: 'a/b', action: 'push' },
    { type: 'repository', name: 'a/b', action: 'pull' },
    { type: 'repository', name: 'c/d', action: 'delete' },
  ];
  const resources = resourcesOf(accesses);
  assert.deepEqual(resources, [
    { type: 'repository', name: 'a/b', actions: ['pull', 'push'] },
    { type: 'registry', name: 'catalog', actions: ['*'] },
    { type: 'repository', name: 'c/d', actions: ['delete'] },
  ]);
  const scope = formatScope(resources);
  assert.equal(scope, 'repository:a/b:pull,push registry:catalog:* repository:c/d:delete');
  // Round trip: scope → resources → accesses → resources → scope.
  assert.deepEqual(parseScopes([scope]), resources);
  assert.deepEqual(accessesOf(parseScopes([scope])), [
    { type: 'repository', name: 'a/b', action: 'pull' },
    { type: 'repository', name: 'a/b', action: 'push' },
    { type: 'registry', name: 'catalog', action: '*' },
    { type: 'repository', name: 'c/d', action: 'delete' },
  ]);
  assert.equal(formatScope(resourcesOf(accessesOf(parseScopes([scope])))), scope);
  assert.equal(formatScope([]), '');
});
