// The htpasswd file as the real `htpasswd` writes it: bcrypt accepted ($2y$ as Apache writes it,
// $2a$, $2b$), every other hash refused at start with the file, line and user named, never the hash.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import bcrypt from 'bcrypt';
import { WharfError } from '../../src/oci/errors.js';
import { FileChangeWatch, HtpasswdFileError, loadHtpasswd, parseHtpasswd } from '../../src/access/htpasswd-file.js';
import { HtpasswdAccessController } from '../../src/access/htpasswd.js';
import { basic, captureLogger, htpasswd, htpasswdLine, tempDir, waitFor } from './lib/htpasswd.js';

test('a file made by htpasswd -B (comments, blank lines, several users) is read and its $2y$ hashes verify', async (t) => {
  const tmp = tempDir();
  t.after(() => tmp.cleanup());
  const path = join(tmp.dir, 'htpasswd');
  htpasswd('-cbB', path, 'alice', 'wonder land');
  htpasswd('-bB', path, 'bob', 'p:a:s:s');
  writeFileSync(path, `# the registry's users\n\n${readFileSync(path, 'utf8')}\n   \n# end\n`);

  const users = await loadHtpasswd(path);
  assert.deepEqual([...users.keys()], ['alice', 'bob']);
  assert.equal(users.get('alice')!.cost, 5);

  const c = await HtpasswdAccessController.open({ path, logger: captureLogger(), watch: false });
  t.after(() => c.close());
  assert.deepEqual(await c.authenticate({ authorization: basic('alice', 'wonder land'), remoteAddress: '127.0.0.1', clientCertificate: null }), { kind: 'user', name: 'alice', via: 'basic' });
  assert.deepEqual(await c.authenticate({ authorization: basic('bob', 'p:a:s:s'), remoteAddress: '127.0.0.1', clientCertificate: null }), { kind: 'user', name: 'bob', via: 'basic' });
});

test('$2a$ and $2b$ bcrypt hashes are accepted too', async () => {
  const b = await bcrypt.hash('pw', 4);
  assert.match(b, /^\$2b\$/);
  const a = b.replace(/^\$2b\$/, '$2a$');
  const users = parseHtpasswd(`x:${b}\ny:${a}\nz:${htpasswdLine('B', 'z', 'pw').split(':')[1]}\n`, 'f');
  assert.equal(users.size, 3);
  assert.equal(await bcrypt.compare('pw', users.get('y')!.hash), true);
  assert.equal(await bcrypt.compare('pw', users.get('z')!.hash), true);
});

for (const [flag, kind] of [['m', /MD5/], ['s', /SHA-1/], ['d', /crypt or plain/], ['p', /crypt or plain/]] as const) {
  test(`a hash made by htpasswd -${flag} is refused at start, naming the file, the line and the user, not the hash`, async (t) => {
    const tmp = tempDir();
    t.after(() => tmp.cleanup());
    const path = join(tmp.dir, 'users');
    const bad = htpasswdLine(flag, 'mallory', 'secret-pw');
    const badHash = bad.slice(bad.indexOf(':') + 1);
    writeFileSync(path, `# users\n${htpasswdLine('B', 'alice', 'pw')}\n${bad}\n`);
    await assert.rejects(HtpasswdAccessController.open({ path, logger: captureLogger(), watch: false }), (e: unknown) => {
      assert.ok(e instanceof HtpasswdFileError && e instanceof WharfError);
      assert.ok(e.message.startsWith(`${path}:3: user "mallory"`), e.message);
      assert.match(e.message, kind);
      assert.match(e.message, /only bcrypt/);
      assert.equal(e.line, 3);
      assert.ok(!e.message.includes(badHash), 'the hash is not in the message');
      assert.ok(!e.message.includes('secret-pw'));
      return true;
    });
  });
}

test('lines without a user, duplicate users and a missing file are refused with the place named', async () => {
  const ok = htpasswdLine('B', 'alice', 'pw');
  assert.throws(() => parseHtpasswd(`${ok}\nnocolon\n`, 'f'), /^HtpasswdFileError: f:2: expected "user:hash"/);
  assert.throws(() => parseHtpasswd(`${ok}\n:${ok.split(':')[1]}\n`, 'f'), /f:2: expected "user:hash"/);
  assert.throws(() => parseHtpasswd(`${ok}\n\n${ok}\n`, 'f'), /f:3: user "alice" appears again \(first on line 1\)/);
  assert.throws(() => parseHtpasswd(`alice:$2y$05$tooShort\n`, 'f'), /f:1: user "alice": the password hash is a malformed bcrypt hash/);
  await assert.rejects(loadHtpasswd('/nonexistent/wharf/htpasswd'), /\/nonexistent\/wharf\/htpasswd: cannot read the htpasswd file: ENOENT/);
  assert.equal(parseHtpasswd('# nobody yet\n', 'f').size, 0);
});

test('without file system events, the poll still notices a change (and only a change)', async (t) => {
  const tmp = tempDir();
  t.after(() => tmp.cleanup());
  const path = join(tmp.dir, 'htpasswd');
  htpasswd('-cbB', path, 'alice', 'pw');
  let changes = 0;
  const w = await FileChangeWatch.start(path, async () => void changes++, { events: false, pollMs: 50, debounceMs: 10 });
  t.after(() => w.close());
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(changes, 0, 'an unchanged file is not reported');
  htpasswd('-bB', path, 'alice', 'pw2');
  assert.ok(await waitFor(() => changes === 1));
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(changes, 1);
});
