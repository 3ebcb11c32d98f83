// A dropped connection mid-upload: wharf copy asks the registry where the upload stands and sends the rest.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startWharf, wharfBin, type WharfServer } from '../helpers/server.js';
import { buildImage, writeOciLayout } from '../interop/lib/images.js';

let registry: WharfServer;
let proxy: Server;
let proxyAddr = '';
const dir = mkdtempSync(join(tmpdir(), 'wharf-resume-'));
/** Request lines seen by the proxy, and whether it has cut a connection yet. */
const seen: string[] = [];
let cut = false;
const CUT_AFTER = 3 << 20;

before(async () => {
  registry = await startWharf();
  const [host, port] = [registry.addr.split(':')[0]!, Number(registry.addr.split(':')[1])];
  proxy = createServer((client) => {
    const upstream = createConnection({ host, port });
    let forwarded = 0;
    client.on('data', (chunk: Buffer) => {
      for (const m of chunk.toString('latin1').matchAll(/(GET|HEAD|POST|PATCH|PUT) (\/v2\/[^ ]*) HTTP\/1\.1/g)) seen.push(`${m[1]} ${m[2]}`);
      forwarded += chunk.length;
      // Once only: drop the connection in the middle of a big request body.
      if (!cut && forwarded > CUT_AFTER) {
        cut = true;
        client.destroy();
        upstream.destroy();
        return;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  proxyAddr = `127.0.0.1:${(proxy.address() as { port: number }).port}`;
});

after(async () => {
  await new Promise<void>((r) => proxy.close(() => r()));
  await registry.stop();
  registry.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs wharf without blocking this process's event loop (the proxy lives here). */
function wharfAsync(args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [wharfBin, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    const t = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.on('exit', (status) => { clearTimeout(t); resolve({ status, stderr }); });
  });
}

test('an upload cut mid-body resumes from where the registry got to', async () => {
  const image = buildImage({ layers: [[{ path: 'big.bin', content: randomBytes(8 << 20) }]] });
  const layout = join(dir, 'layout');
  writeOciLayout(layout, [{ tag: 'big', image }]);
  writeFileSync(join(dir, 'empty.conf'), '');
  const r = await wharfAsync(['copy', '-q', '--retry-times', '0', '--dest-tls-verify=false', `oci:${layout}:big`, `docker://${proxyAddr}/resume/app:1`],
    { PATH: process.env.PATH, HOME: dir, XDG_RUNTIME_DIR: dir, REGISTRY_AUTH_FILE: join(dir, 'auth.json'), CONTAINERS_REGISTRIES_CONF: join(dir, 'empty.conf') });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(cut, 'the proxy cut the upload');
  // One upload session per blob (config, layer): the layer was resumed, not started again.
  assert.equal(seen.filter((l) => l.startsWith('POST /v2/resume/app/blobs/uploads/')).length, 2, seen.join('\n'));
  assert.ok(seen.some((l) => /^GET \/v2\/resume\/app\/blobs\/uploads\/./.test(l)), 'the client asked for the upload status');
  // config, layer, layer resumed; one more when the registry was still storing bytes of the cut request
  // as it answered the status query (it then refuses the resumed PATCH with 416 and is asked again).
  const patches = seen.filter((l) => l.startsWith('PATCH ')).length;
  assert.ok(patches === 3 || patches === 4, seen.join('\n'));
  const inspect = spawnSync(process.execPath, [wharfBin, 'inspect', '--raw', '--tls-verify=false', `docker://${registry.addr}/resume/app:1`], { encoding: 'utf8', timeout: 30_000, env: { PATH: process.env.PATH, HOME: dir, REGISTRY_AUTH_FILE: join(dir, 'auth.json'), CONTAINERS_REGISTRIES_CONF: join(dir, 'empty.conf') } });
  assert.equal(inspect.stdout, image.manifest.toString());
});
