// One base error class: every error Wharf throws on purpose is a WharfError (and still an Error),
// keeps its own class (instanceof checks elsewhere rely on it) and its name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RegistryError, WharfError } from '../../src/oci/errors.js';
import { ReferenceError } from '../../src/oci/reference.js';
import { ConfigError } from '../../src/config/config.js';
import { DockerArchiveError } from '../../src/transports/docker-archive.js';
import { DirError } from '../../src/transports/dir.js';
import { OciLayoutError } from '../../src/transports/oci-layout.js';
import { TransportError } from '../../src/transports/open.js';
import { VerificationError } from '../../src/transports/verify.js';
import { LocalSpecError } from '../../src/transports/local.js';
import { CredentialHelperError } from '../../src/client/cred-helpers.js';
import { AuthFileError } from '../../src/client/auth-file.js';
import { RegistryHttpError } from '../../src/client/registry-client.js';
import { RegistriesConfError } from '../../src/client/registries-conf.js';
import { TlsSettingsError } from '../../src/client/tls-settings.js';
import { CopyError } from '../../src/copy/copy-image.js';
import { ConversionError } from '../../src/copy/convert.js';
import { ChangeError } from '../../src/copy/dockerfile-changes.js';
import { SyncError } from '../../src/copy/sync-plan.js';

const errors: [Error, new (...args: never[]) => Error][] = [
  [new RegistryError('NAME_INVALID'), RegistryError],
  [new ReferenceError('m'), ReferenceError],
  [new DockerArchiveError('m'), DockerArchiveError],
  [new DirError('m'), DirError],
  [new OciLayoutError('m'), OciLayoutError],
  [new TransportError('m'), TransportError],
  [new VerificationError('m', 'sha256:x'), VerificationError],
  [new LocalSpecError('m'), LocalSpecError],
  [new CredentialHelperError('m', 'pass', 'get'), CredentialHelperError],
  [new AuthFileError('m'), AuthFileError],
  [new RegistryHttpError('m', 500), RegistryHttpError],
  [new RegistriesConfError('m'), RegistriesConfError],
  [new TlsSettingsError('m'), TlsSettingsError],
  [new CopyError('m'), CopyError],
  [new ConversionError('m'), ConversionError],
  [new ChangeError('m'), ChangeError],
  [new SyncError('m'), SyncError],
];

test('every Wharf error class extends WharfError and stays an Error of its own class', () => {
  for (const [e, cls] of errors) {
    assert.ok(e instanceof WharfError, `${cls.name} extends WharfError`);
    assert.ok(e instanceof Error, `${cls.name} is an Error`);
    assert.ok(e instanceof cls, `${cls.name} keeps its class`);
  }
});

test('RegistryError keeps its spec code, status and headers', () => {
  const e = new RegistryError('UNAUTHORIZED', undefined, { headers: { 'WWW-Authenticate': 'Basic realm="r"' } });
  assert.equal(e.code, 'UNAUTHORIZED');
  assert.equal(e.status, 401);
  assert.equal(e.message, 'authentication required');
  assert.deepEqual(e.headers, { 'WWW-Authenticate': 'Basic realm="r"' });
});

test('names that were set stay set', () => {
  assert.equal(new DirError('m').name, 'DirError');
  assert.equal(new VerificationError('m', 'd').name, 'VerificationError');
  assert.equal(new WharfError('m', { cause: 'c' }).cause, 'c');
});

// src/config/config.ts belongs to the lead's branch for issue 7; its ConfigError joins there.
test('ConfigError extends WharfError', () => {
  assert.ok(new ConfigError('m') instanceof WharfError);
});
