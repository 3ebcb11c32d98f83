import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, splitAddr } from '../../src/config/config.js';
import { parseDuration, parseSize } from '../../src/config/units.js';

test('defaults need no configuration', () => {
  const c = loadConfig({ env: {} });
  assert.equal(c.addr, '0.0.0.0:5000');
  assert.equal(c.data, './data');
  assert.equal(c.uploads.ttl, 24 * 3600_000);
  assert.equal(c.manifests.maxSize, 4 << 20);
  assert.equal(c.storage.driver, 'fs');
});

test('storage.driver names a known blob driver', () => {
  assert.equal(loadConfig({ env: { WHARF_STORAGE_DRIVER: 'fs' } }).storage.driver, 'fs');
  assert.throws(() => loadConfig({ env: { WHARF_STORAGE_DRIVER: 'ftp' } }), (e: unknown) => e instanceof ConfigError && /storage\.driver \(WHARF_STORAGE_DRIVER\)/.test(e.message));
});

test('storage.driver s3: every storage.s3 key from WHARF_STORAGE_S3_*; a bucket is required; keys come in pairs and are never echoed', () => {
  const c = loadConfig({ env: {
    WHARF_STORAGE_DRIVER: 's3', WHARF_STORAGE_S3_ENDPOINT: 'http://127.0.0.1:7480', WHARF_STORAGE_S3_REGION: 'eu-west-1',
    WHARF_STORAGE_S3_BUCKET: 'images', WHARF_STORAGE_S3_PREFIX: 'wharf/', WHARF_STORAGE_S3_ACCESS_KEY_ID: 'AKID',
    WHARF_STORAGE_S3_SECRET_ACCESS_KEY: 'sekrit', WHARF_STORAGE_S3_FORCE_PATH_STYLE: 'true', WHARF_STORAGE_S3_REDIRECT: 'yes',
  } }).storage;
  assert.deepEqual(c.s3, {
    endpoint: 'http://127.0.0.1:7480', region: 'eu-west-1', bucket: 'images', prefix: 'wharf/', accessKeyId: 'AKID',
    secretAccessKey: 'sekrit', forcePathStyle: true, redirect: true,
  });
  // Without keys the AWS SDK's default chain (AWS_* variables) applies: nothing to set.
  const bare = loadConfig({ env: { WHARF_STORAGE_DRIVER: 's3', WHARF_STORAGE_S3_BUCKET: 'b' } }).storage.s3;
  assert.equal(bare.accessKeyId, undefined);
  assert.equal(bare.forcePathStyle, false);
  assert.equal(bare.redirect, false);
  assert.throws(() => loadConfig({ env: { WHARF_STORAGE_DRIVER: 's3' } }), (e: unknown) => e instanceof ConfigError && /storage\.s3\.bucket \(WHARF_STORAGE_S3_BUCKET\)/.test(e.message));
  assert.throws(() => loadConfig({ env: { WHARF_STORAGE_DRIVER: 's3', WHARF_STORAGE_S3_BUCKET: 'b', WHARF_STORAGE_S3_SECRET_ACCESS_KEY: 'sekrit' } }),
    (e: unknown) => e instanceof ConfigError && /storage\.s3\.accessKeyId/.test(e.message) && !e.message.includes('sekrit'));
  assert.throws(() => loadConfig({ env: { WHARF_STORAGE_DRIVER: 's3', WHARF_STORAGE_S3_BUCKET: 'b', WHARF_STORAGE_S3_ENDPOINT: 'not a url' } }),
    (e: unknown) => e instanceof ConfigError && /storage\.s3\.endpoint \(WHARF_STORAGE_S3_ENDPOINT\)/.test(e.message));
});

test('file < environment < flags', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wharf-config-'));
  try {
    const file = join(dir, 'wharf.yaml');
    writeFileSync(file, 'addr: 127.0.0.1:6000\ndata: /srv/a\nuploads:\n  ttl: 2h\nmanifests:\n  maxSize: 1MiB\n');
    const c = loadConfig({ file, env: { WHARF_DATA: '/srv/b', WHARF_UPLOADS_TTL: '90m' }, flags: { data: '/srv/c' } });
    assert.equal(c.addr, '127.0.0.1:6000');
    assert.equal(c.data, '/srv/c');
    assert.equal(c.uploads.ttl, 90 * 60_000);
    assert.equal(c.manifests.maxSize, 1 << 20);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad configuration names the key', () => {
  assert.throws(() => loadConfig({ env: { WHARF_UPLOADS_TTL: 'soon' } }), (e: unknown) => e instanceof ConfigError && /uploads\.ttl \(WHARF_UPLOADS_TTL\)/.test(e.message));
  assert.throws(() => loadConfig({ env: { WHARF_ADDR: 'nope' } }), (e: unknown) => e instanceof ConfigError && /addr/.test(e.message));
  assert.throws(() => loadConfig({ file: '/nonexistent/wharf.yaml' }), ConfigError);
  const dir = mkdtempSync(join(tmpdir(), 'wharf-config-'));
  try {
    const file = join(dir, 'x.json');
    writeFileSync(file, '{"storage": {"fsycn": true}}');
    assert.throws(() => loadConfig({ file }), (e: unknown) => e instanceof ConfigError && /storage/.test(e.message) && /fsycn/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('units and addresses', () => {
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('x'), null);
  assert.equal(parseSize('4MiB'), 4 << 20);
  assert.equal(parseSize('512k'), 512 * 1024);
  assert.equal(parseSize('3 parsecs'), null);
  assert.deepEqual(splitAddr('[::1]:5000'), { host: '::1', port: 5000 });
  assert.deepEqual(splitAddr('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
});

test('tls keys: defaults, variables, and half a setup names the missing key', () => {
  const d = loadConfig({ env: {} });
  assert.deepEqual(d.tls, { minVersion: 'TLSv1.2' });
  const c = loadConfig({ env: { WHARF_TLS_CERT: '/c.pem', WHARF_TLS_KEY: '/k.pem', WHARF_TLS_CLIENT_CA: '/ca.pem', WHARF_TLS_CLIENT_AUTH: 'verify-if-given', WHARF_TLS_MIN_VERSION: 'TLSv1.3' } });
  assert.deepEqual(c.tls, { cert: '/c.pem', key: '/k.pem', clientCA: '/ca.pem', clientAuth: 'verify-if-given', minVersion: 'TLSv1.3' });
  const fails = (env: Record<string, string>, re: RegExp): void => {
    assert.throws(() => loadConfig({ env }), (e: unknown) => e instanceof ConfigError && re.test(e.message), JSON.stringify(env));
  };
  fails({ WHARF_TLS_CERT: '/c.pem' }, /tls\.key \(WHARF_TLS_KEY\): required when tls\.cert is set/);
  fails({ WHARF_TLS_KEY: '/k.pem' }, /tls\.cert \(WHARF_TLS_CERT\): required when tls\.key is set/);
  fails({ WHARF_TLS_CLIENT_CA: '/ca.pem' }, /tls\.cert \(WHARF_TLS_CERT\): required when tls\.clientCA/);
  fails({ WHARF_TLS_CERT: '/c.pem', WHARF_TLS_KEY: '/k.pem', WHARF_TLS_CLIENT_AUTH: 'require' }, /tls\.clientCA \(WHARF_TLS_CLIENT_CA\): required when tls\.clientAuth/);
  fails({ WHARF_TLS_CERT: '/c.pem', WHARF_TLS_KEY: '/k.pem', WHARF_TLS_CLIENT_CA: '/ca.pem', WHARF_TLS_CLIENT_AUTH: 'optional' }, /tls\.clientAuth \(WHARF_TLS_CLIENT_AUTH\)/);
  fails({ WHARF_TLS_MIN_VERSION: 'TLSv1.1' }, /tls\.minVersion \(WHARF_TLS_MIN_VERSION\)/);
});

test('gc.* keys: defaults of an hour and no untagged collection; each has its WHARF_GC_* variable', () => {
  assert.deepEqual(loadConfig({ env: {} }).gc, { interval: 3_600_000, gracePeriod: 3_600_000, untagged: false });
  const c = loadConfig({ env: { WHARF_GC_INTERVAL: '10m', WHARF_GC_GRACE_PERIOD: '30s', WHARF_GC_UNTAGGED: 'true' } });
  assert.deepEqual(c.gc, { interval: 600_000, gracePeriod: 30_000, untagged: true });
  assert.throws(() => loadConfig({ env: { WHARF_GC_GRACE_PERIOD: 'later' } }), (e: unknown) => e instanceof ConfigError && /gc\.gracePeriod \(WHARF_GC_GRACE_PERIOD\)/.test(e.message));
});
