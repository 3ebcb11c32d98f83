// Wharf scaled out: three `wharf serve` processes sharing one metadata store and one blob store
// (test/helpers/fleet.ts: PostgreSQL + S3 when npm test provides them, else one shared data directory),
// behind a round-robin proxy that sends each request to the next process. Real clients push and pull
// through it; uploads move between processes mid-way; what one process writes, the others answer at
// once; a process killed during pushes loses none that were acknowledged; scheduled jobs run under
// leases, once across the fleet, and outlive a dead lease holder.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startFleet, type Fleet, type FleetLogLine } from '../helpers/fleet.js';
import { expectStatus, req, sleep, show, type Res } from '../api/lib/http.js';
import { MT, content, desc, encode, ociImage, randomBlob, repoName, sha256, type Content } from '../api/lib/content.js';
import { catalog, getManifest, makeImage, pushBlob, startUpload, tagsOf, withDigest } from '../api/lib/registry.js';
import { withClientEnv } from '../interop/lib/suite.js';
import { COPY_TLS_OFF } from '../interop/lib/ops.js';
import { checkManifestServed, fetchManifest } from '../interop/lib/http.js';
import { MT as IMT, buildImage, layoutRef, pseudoRandom, readLayoutBlob, sampleImage, writeOciLayout } from '../interop/lib/images.js';
import { uniqueRepo } from '../interop/lib/registries.js';

const MiB = 1 << 20;
const SIZE = 3;

/** An image with a layer big enough for several S3 parts, and a small one. */
const BIG = buildImage({
  layers: [[{ path: 'big/' }, { path: 'big/random.bin', content: pseudoRandom(11 * MiB + 321, 77) }], [{ path: 'small.txt', content: 'small\n' }]],
  labels: { 'org.wharf.test': 'fleet' },
});
const LOCAL = sampleImage('fleet-podman');

describe(`a fleet of ${SIZE} wharf serve processes behind a round-robin proxy`, { timeout: 240_000 }, () => {
  let fleet: Fleet;

  before(async () => {
    // GC every second (nothing is old enough to go: the grace period stays an hour), so that the lease
    // keeping its runs apart is exercised all along, and watched in the last test.
    fleet = await startFleet({ size: SIZE, env: { WHARF_GC_INTERVAL: '1s' } });
  });
  after(async () => { await fleet?.stop(); });

  const urls = (): string[] => fleet.alive().map((i) => fleet.urlOf(i));

  test('skopeo and podman push through the proxy and pull back the same digests; every process served requests', { timeout: 150_000 }, async (t) => {
    t.diagnostic(`stores: ${fleet.store.description}`);
    fleet.proxy.resetCounts();
    await withClientEnv([fleet.addr], async (env) => {
      // skopeo copy from an OCI layout (no conversion: the registry must keep the exact bytes).
      const repo = uniqueRepo('fleet-skopeo');
      const layout = env.tmp('layout');
      writeOciLayout(layout, [{ tag: 'src', image: BIG }]);
      await env.skopeo(['copy', '--quiet', ...COPY_TLS_OFF, `oci:${layout}:src`, `docker://${fleet.addr}/${repo}:v1`], { timeoutMs: 90_000 });
      for (const u of urls()) {
        assert.equal(await checkManifestServed(u, repo, 'v1', BIG.manifest, IMT.ociManifest), null, `${u} serves the pushed manifest`);
      }
      const out = env.tmp('pulled');
      await env.skopeo(['copy', '--quiet', ...COPY_TLS_OFF, `docker://${fleet.addr}/${repo}:v1`, `oci:${out}:v1`], { timeoutMs: 90_000 });
      assert.equal(layoutRef(out, 'v1').digest, BIG.manifestDigest, 'pulled back with the pushed digest');
      for (const b of BIG.blobs) assert.ok(readLayoutBlob(out, b.digest).equals(b.data), `blob ${b.digest} pulled back whole`);

      // podman push of a local image (podman compresses and uploads it afresh), then pull it back.
      const prepo = uniqueRepo('fleet-podman');
      const l2 = env.tmp('layout');
      writeOciLayout(l2, [{ tag: 'local', image: LOCAL }]);
      await env.podman(['pull', `oci:${l2}:local`]);
      const id = LOCAL.configDigest.slice(7);
      const digestFile = join(env.tmp('digest'), 'digest');
      await env.podman(['push', '--tls-verify=false', '--digestfile', digestFile, id, `docker://${fleet.addr}/${prepo}:v1`], { timeoutMs: 90_000 });
      const pushed = readFileSync(digestFile, 'utf8').trim();
      assert.match(pushed, /^sha256:[0-9a-f]{64}$/);
      for (const u of urls()) {
        const m = await fetchManifest(u, prepo, 'v1');
        assert.equal(m.status, 200, `${u} GET ${prepo}:v1`);
        assert.equal(m.digest, pushed, `${u} serves the digest podman pushed`);
        assert.equal(sha256(m.body), pushed);
        const doc = JSON.parse(m.body.toString()) as { config: { digest: string }; layers: { digest: string; size: number }[] };
        for (const d of [doc.config, ...doc.layers]) {
          const b = await req(u, `/v2/${prepo}/blobs/${d.digest}`);
          expectStatus(b, 200, `${u} blob ${d.digest}`);
          assert.equal(sha256(b.body), d.digest);
        }
      }
      await env.podman(['rmi', '--force', id]);
      const pulled = await env.podman(['pull', '--tls-verify=false', `${fleet.addr}/${prepo}:v1`], { timeoutMs: 90_000 });
      assert.equal(pulled.stdout.trim().split('\n').pop(), id, 'podman pulls back the same image');
      const images = JSON.parse((await env.podman(['images', '--format', 'json'])).stdout) as { Id: string; Digest: string }[];
      assert.equal(images.find((i) => i.Id === id)?.Digest, pushed, 'podman records the digest it pushed');
    });
    const counts = [...fleet.proxy.counts];
    t.diagnostic(`requests per process: ${counts.join(', ')}`);
    counts.forEach((n, i) => assert.ok(n > 0, `process ${i} served no request through the proxy (per process: ${counts.join(', ')})`));
  });

  test('a chunked upload moves between processes (POST, PATCHes, PUT each on another); every process serves the exact bytes', async () => {
    const repo = repoName('fleet/chunked');
    const layer = randomBlob(3 * 6 * MiB + 2 * MiB + 777);
    // Parts S3 can take whole (5 MiB and more) and small ones (kept as the upload's tail in between).
    const sizes = [6 * MiB, 1 * MiB, 5 * MiB + 1, 100_000, 6 * MiB];
    const all = urls();
    let k = 0;
    const next = (): string => all[k++ % all.length]!;
    const post = next();
    let upload = await startUpload(post, repo);
    const uuid = (await req(post, upload)).headers.get('docker-upload-uuid');
    let offset = 0;
    for (let c = 0; offset < layer.size; c++) {
      const n = Math.min(sizes[c % sizes.length]!, layer.size - offset);
      const via = next();
      const res = await req(via, upload.pathname + upload.search, {
        method: 'PATCH', body: layer.data.subarray(offset, offset + n),
        headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${offset + n - 1}` },
      });
      expectStatus(res, 202, `chunk ${c} (${n} bytes at ${offset}) via ${via}`);
      assert.equal(res.headers.get('range'), `0-${offset + n - 1}`);
      assert.equal(res.headers.get('docker-upload-uuid'), uuid, 'the same session on every process');
      offset += n;
      upload = new URL(res.headers.get('location')!, via);
      // Every process sees where the upload stands.
      for (const u of all) {
        const status = await req(u, upload.pathname + upload.search);
        expectStatus(status, 204, `upload status via ${u}`);
        assert.equal(status.headers.get('range'), `0-${offset - 1}`, `upload status via ${u}`);
      }
    }
    const put = next();
    expectStatus(await req(put, withDigest(upload, layer.digest).pathname + withDigest(upload, layer.digest).search, { method: 'PUT' }), 201, `commit via ${put}`);

    // The same through the proxy only, the last chunk carried by the PUT.
    const layer2 = randomBlob(2 * 6 * MiB + 4321);
    let up2 = await startUpload(fleet.url, repo);
    for (const [from, to] of [[0, 6 * MiB], [6 * MiB, 6 * MiB + 999], [6 * MiB + 999, 12 * MiB]] as const) {
      const res = await req(fleet.url, up2.pathname + up2.search, {
        method: 'PATCH', body: layer2.data.subarray(from, to), headers: { 'content-type': 'application/octet-stream', 'content-range': `${from}-${to - 1}` },
      });
      expectStatus(res, 202, `chunk ${from}-${to - 1} through the proxy`);
      up2 = new URL(res.headers.get('location')!, fleet.url);
    }
    const last = withDigest(up2, layer2.digest);
    expectStatus(await req(fleet.url, last.pathname + last.search, { method: 'PUT', body: layer2.data.subarray(12 * MiB), headers: { 'content-type': 'application/octet-stream' } }), 201, 'PUT with the last chunk');

    for (const u of all) {
      for (const l of [layer, layer2]) {
        const got = await req(u, `/v2/${repo}/blobs/${l.digest}`);
        expectStatus(got, 200, `${u} GET blob`);
        assert.equal(got.body.length, l.size);
        assert.ok(got.body.equals(l.data), `${u} serves the exact bytes of ${l.digest}`);
        const part = await req(u, `/v2/${repo}/blobs/${l.digest}`, { headers: { range: `bytes=${6 * MiB - 3}-${6 * MiB + 2}` } });
        expectStatus(part, 206, `${u} ranged GET`);
        assert.ok(part.body.equals(l.data.subarray(6 * MiB - 3, 6 * MiB + 3)));
      }
    }
  });

  test('read-your-writes: a manifest PUT on one process is at once GET-able on the others; listings agree; deletes show at once', async () => {
    const repo = repoName('fleet/ryw');
    const all = urls();
    assert.equal(all.length, SIZE);
    const pushed: { tag: string; m: Content }[] = [];
    for (let k = 0; k < 9; k++) {
      const w = k % SIZE;
      const img = makeImage({ layers: 1, layerSize: 1000 + k });
      // Blobs through two other processes, the manifest through a third.
      await pushBlob(all[(w + 1) % SIZE]!, repo, img.config);
      await pushBlob(all[(w + 2) % SIZE]!, repo, img.layers[0]!);
      const tag = `v${k}`;
      const res = await req(all[w]!, `/v2/${repo}/manifests/${tag}`, { method: 'PUT', body: img.manifest.data, headers: { 'content-type': MT.ociManifest } });
      expectStatus(res, 201, `PUT ${tag} via process ${w}`);
      for (const r of [1, 2].map((d) => (w + d) % SIZE)) {
        for (const ref of [tag, img.digest]) {
          const got = await getManifest(all[r]!, repo, ref);
          expectStatus(got, 200, `GET ${ref} via process ${r} right after the PUT via ${w}`);
          assert.ok(got.body.equals(img.manifest.data));
          assert.equal(got.headers.get('docker-content-digest'), img.digest);
        }
      }
      pushed.push({ tag, m: img.manifest });
    }
    const tags = pushed.map((p) => p.tag).sort();
    for (const u of all) assert.deepEqual(await tagsOf(u, repo), tags, `tags/list via ${u}`);
    const catalogs = await Promise.all(all.map((u) => catalog(u)));
    assert.ok(catalogs[0]!.includes(repo));
    for (const c of catalogs.slice(1)) assert.deepEqual(c, catalogs[0], '_catalog is the same on every process');

    // A tag deleted via A is gone on B and C at once; the manifest stays, by digest.
    expectStatus(await req(all[0]!, `/v2/${repo}/manifests/v3`, { method: 'DELETE' }), 202, 'DELETE tag via A');
    expectStatus(await getManifest(all[1]!, repo, 'v3'), 404, 'deleted tag via B');
    assert.ok(!(await tagsOf(all[2]!, repo))!.includes('v3'), 'deleted tag absent from tags/list via C');
    expectStatus(await getManifest(all[2]!, repo, pushed[3]!.m.digest), 200, 'the manifest itself stays');

    // A tag moved via C is seen moved via A at once.
    expectStatus(await req(all[2]!, `/v2/${repo}/manifests/v5`, { method: 'PUT', body: pushed[6]!.m.data, headers: { 'content-type': MT.ociManifest } }), 201);
    assert.equal((await getManifest(all[0]!, repo, 'v5')).headers.get('docker-content-digest'), pushed[6]!.m.digest, 'moved tag via A');

    // A manifest deleted by digest via B is gone on A and C at once, with its tags.
    expectStatus(await req(all[1]!, `/v2/${repo}/manifests/${pushed[7]!.m.digest}`, { method: 'DELETE' }), 202, 'DELETE manifest via B');
    for (const u of [all[0]!, all[2]!]) {
      expectStatus(await getManifest(u, repo, pushed[7]!.m.digest), 404, `deleted manifest via ${u}`);
      expectStatus(await getManifest(u, repo, 'v7'), 404, `tag of the deleted manifest via ${u}`);
    }
    const finalTags = tags.filter((t) => t !== 'v3' && t !== 'v7');
    for (const u of all) assert.deepEqual(await tagsOf(u, repo), finalTags, `tags/list via ${u} after the deletes`);
  });

  test('SIGKILL of a process during concurrent pushes: every acknowledged push is whole on every process', { timeout: 120_000 }, async (t) => {
    const victim = 1;
    const workers = 6;
    const started = Date.now();
    const killAfterMs = 1500;
    const runAfterKillMs = 3000;
    let killedAt = 0;
    const pushes: Push[] = [];
    const killing = (async () => {
      await sleep(killAfterMs);
      killedAt = Date.now();
      await fleet.kill(victim);
    })();
    await Promise.all(Array.from({ length: workers }, async (_, w) => {
      const repo = repoName(`fleet/kill-w${w}`);
      for (let n = 0; n < 60; n++) {
        if (killedAt && Date.now() > killedAt + runAfterKillMs) break;
        if (Date.now() - started > 60_000) break;
        const p = newPush(repo, `p${n}`);
        pushes.push(p);
        await pushThroughProxy(fleet.url, p);
      }
    }));
    await killing;
    const acked = pushes.filter((p) => p.ackedAt > 0);
    const afterKill = acked.filter((p) => p.startedAt > killedAt);
    const troubled = pushes.filter((p) => p.trouble.length > 0);
    t.diagnostic(`${pushes.length} pushes, ${acked.length} acknowledged (${afterKill.length} begun after the kill); ${troubled.length} met errors and retried`);
    for (const p of troubled.slice(0, 5)) t.diagnostic(`  ${p.repo}:${p.tag}: ${p.trouble.join(' | ').slice(0, 600)}`);
    assert.ok(acked.length >= 2 * workers, `too few pushes acknowledged: ${acked.length}`);
    assert.ok(afterKill.length > 0, 'pushes go on through the proxy after the kill');
    // A commit (PUT ?digest=) cut short by the kill may have made the blob but not linked it; the proxy
    // then hands the PUT to another process, which commits again: on S3 (a repeatable commit) it always
    // finds the upload. On the fs stand-in a kill between the rename and the link loses the upload (404)
    // and the client uploads the blob again; a 404 on a commit that never met the killed process would
    // be a bug there too.
    for (const p of pushes) {
      for (const path of p.lostCommits) {
        const puts = fleet.proxy.log.filter((l) => l.method === 'PUT' && l.url.startsWith(path));
        t.diagnostic(`commit of ${path} answered 404 after failing on process(es) ${puts.flatMap((l) => l.failedOn).join(', ') || 'none'}`);
        assert.ok(!fleet.store.scaleOut, `a commit retried on S3 answered 404: ${p.repo}:${p.tag} ${path}\n${p.trouble.join('\n')}`);
        assert.ok(puts.some((l) => l.failedOn.includes(victim)), `a commit answered 404 though it never met the killed process: ${p.repo}:${p.tag} ${path}\n${p.trouble.join('\n')}`);
      }
    }
    const cutCommits = fleet.proxy.log.filter((l) => l.method === 'PUT' && l.url.includes('/blobs/uploads/') && l.failedOn.includes(victim));
    t.diagnostic(`${cutCommits.length} commit(s) met the killed process; ${pushes.reduce((n, p) => n + p.lostCommits.length, 0)} answered 404`);
    const unacked = pushes.filter((p) => p.ackedAt === 0);
    assert.deepEqual(unacked.map((p) => `${p.repo}:${p.tag}: ${p.trouble.join(' | ')}`), [], 'with retries through the proxy, every push completes');

    const check = async (u: string): Promise<void> => {
      for (const p of acked) {
        const m = await getManifest(u, p.repo, p.manifest.digest);
        expectStatus(m, 200, `${u}: acknowledged manifest ${p.repo}@${p.manifest.digest}`);
        assert.ok(m.body.equals(p.manifest.data));
        const byTag = await getManifest(u, p.repo, p.tag, 'HEAD');
        assert.equal(byTag.headers.get('docker-content-digest'), p.manifest.digest, `${u}: ${p.repo}:${p.tag}`);
        for (const b of p.blobs) {
          const got = await req(u, `/v2/${p.repo}/blobs/${b.digest}`);
          expectStatus(got, 200, `${u}: blob ${b.digest} of ${p.repo}:${p.tag}`);
          assert.equal(sha256(got.body), b.digest, `${u}: blob ${b.digest} of ${p.repo}:${p.tag} has the right digest`);
        }
      }
    };
    for (const u of urls()) await check(u);
    // The killed process comes back on the same stores and serves them too.
    await fleet.restart(victim);
    await check(fleet.urlOf(victim));
  });

  test('scheduled jobs: gc runs under its lease, never in two processes at once; a dead holder\'s lease is taken over when it expires', { timeout: 120_000 }, async (t) => {
    const gcRuns = (lines: FleetLogLine[]): { i: number; pid: number; at: number; start: number; end: number }[] => lines
      .filter((l) => l.rec.msg === 'garbage collected')
      .map((l) => {
        const r = l.rec.report as { startedAt: string; durationMs: number };
        const start = Date.parse(r.startedAt);
        return { i: l.i, pid: l.pid, at: l.at, start, end: start + r.durationMs };
      });
    // Runs so far (one per second per process at most, all through the earlier tests; a few seconds'
    // worth when this test runs alone).
    for (let k = 0; k < 100 && gcRuns(fleet.logs).length < 3; k++) await sleep(100);
    const runs = gcRuns(fleet.logs);
    const by = new Set(runs.map((r) => r.pid));
    t.diagnostic(`${runs.length} gc runs so far by ${by.size} processes; longest ${Math.max(0, ...runs.map((r) => r.end - r.start))} ms`);
    assert.ok(runs.length >= 3, `gc runs every second somewhere in the fleet: ${runs.length} seen`);
    const sorted = [...runs].sort((a, b) => a.start - b.start);
    for (let k = 1; k < sorted.length; k++) {
      const [a, b] = [sorted[k - 1]!, sorted[k]!];
      assert.ok(b.start >= a.end || a.pid === b.pid, `gc ran in two processes at once: pid ${a.pid} ${new Date(a.start).toISOString()}+${a.end - a.start}ms and pid ${b.pid} from ${new Date(b.start).toISOString()}`);
    }

    // Kill the whole fleet while a run holds the lease, start it again: the new processes must not
    // collect until the dead holder's lease has expired, and one of them must once it has.
    const stores = await fleet.store.openStores();
    try {
      let dead: { holder: string; expiresAt: number } | null = null;
      for (let attempt = 0; attempt < 8 && !dead; attempt++) {
        const deadline = Date.now() + 20_000;
        let seen: { holder: string; expiresAt: number } | null = null;
        while (!seen && Date.now() < deadline) {
          const l = await stores.meta.leases.get('gc');
          if (l && l.expiresAt > Date.now()) seen = l;
          else await sleep(1);
        }
        assert.ok(seen, 'no gc run seen holding its lease within 20 s');
        await Promise.all(fleet.alive().map((i) => fleet.kill(i)));
        const still = await stores.meta.leases.get('gc');
        if (still && still.holder === seen.holder) dead = still;
        else t.diagnostic(`attempt ${attempt}: the run ended before the kill; again`);
        await Promise.all(Array.from({ length: SIZE }, (_, i) => fleet.restart(i)));
      }
      assert.ok(dead, 'could not kill the fleet while a gc run held its lease');
      const { holder: deadHolder, expiresAt } = dead;
      const restartedAt = Date.now();
      const newPids = new Set(fleet.alive().map((i) => fleet.server(i).proc.pid));
      t.diagnostic(`lease of the dead holder expires in ${expiresAt - restartedAt} ms`);
      const deadline = expiresAt + 15_000;
      let taken: ReturnType<typeof gcRuns>[number] | undefined;
      while (!taken && Date.now() < deadline) {
        await sleep(200);
        const fresh = gcRuns(fleet.logs).filter((r) => newPids.has(r.pid));
        const early = fresh.filter((r) => r.start < expiresAt);
        assert.deepEqual(early, [], 'a process collected while the dead holder\'s lease was still valid');
        taken = fresh[0];
      }
      assert.ok(taken, `no process took the gc lease over within 15 s of its expiry (${new Date(expiresAt).toISOString()})`);
      t.diagnostic(`taken over by process ${taken.i} ${taken.start - expiresAt} ms after the expiry`);
      const lease = await stores.meta.leases.get('gc');
      assert.notEqual(lease?.holder, deadHolder, 'the dead holder no longer holds the lease');
    } finally {
      await stores.blobs.close();
      await stores.meta.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// A push through the proxy that survives a process dying under it: each step is retried (a bodiless
// one the proxy already retries itself), a broken chunk upload resumes from where the registry says.
// ---------------------------------------------------------------------------------------------

interface Push {
  repo: string;
  tag: string;
  blobs: Content[];
  manifest: Content;
  startedAt: number;
  /** When the manifest PUT was answered 201 (0: never). */
  ackedAt: number;
  trouble: string[];
  /** Upload sessions whose commit (PUT ?digest=) the registry answered 404. */
  lostCommits: string[];
}

function newPush(repo: string, tag: string): Push {
  const config = content(JSON.stringify({ architecture: 'amd64', os: 'linux', tag, n: Math.random() }));
  const small = randomBlob(48 * 1024);
  const chunked = randomBlob(3 * 160 * 1024 + 17);
  const manifest = encode(ociImage(desc(MT.ociConfig, config), [desc(MT.ociLayer, small), desc(MT.ociLayer, chunked)]));
  return { repo, tag, blobs: [config, small, chunked], manifest, startedAt: Date.now(), ackedAt: 0, trouble: [], lostCommits: [] };
}

const TRIES = 5;

/** The response, or null after a network error; anything but `expected` is noted. */
async function attempt(p: Push, expected: number, base: string, path: string | URL, init: Parameters<typeof req>[2] = {}): Promise<Res | null> {
  try {
    const r = await req(base, path, init);
    if (r.status !== expected) p.trouble.push(show(r).slice(0, 400));
    return r;
  } catch (e) {
    p.trouble.push(`${init.method ?? 'GET'} ${String(path)}: ${(e as Error).message}`);
    return null;
  }
}

async function pushThroughProxy(base: string, p: Push): Promise<void> {
  const [config, small, chunked] = p.blobs as [Content, Content, Content];

  // Monolithic: POST ?digest= with the body.
  for (let k = 0; k < TRIES; k++) {
    const r = await attempt(p, 201, base, `/v2/${p.repo}/blobs/uploads/?digest=${encodeURIComponent(config.digest)}`, { method: 'POST', body: config.data, headers: { 'content-type': 'application/octet-stream' } });
    if (r?.status === 201) break;
    if (k === TRIES - 1) return;
  }
  // POST, then PUT ?digest= with the body.
  for (let k = 0; k < TRIES; k++) {
    const s = await attempt(p, 202, base, `/v2/${p.repo}/blobs/uploads/`, { method: 'POST' });
    if (s?.status !== 202) { if (k === TRIES - 1) return; continue; }
    const u = withDigest(new URL(s.headers.get('location')!, base), small.digest);
    const r = await attempt(p, 201, base, u.pathname + u.search, { method: 'PUT', body: small.data, headers: { 'content-type': 'application/octet-stream' } });
    if (r?.status === 201) break;
    if (k === TRIES - 1) return;
  }
  // POST, PATCH chunks (resumed from the registry's Range after a failure), PUT ?digest=; a session the
  // registry no longer knows (404) is started again, as the spec tells clients to.
  let committed = false;
  for (let session = 0; session < 3 && !committed; session++) {
    const r = await chunkedUpload(p, base, chunked);
    if (r === 'failed') return;
    committed = r === 'committed';
  }
  if (!committed) return;
  // The manifest: acknowledged with 201.
  for (let k = 0; k < TRIES; k++) {
    const r = await attempt(p, 201, base, `/v2/${p.repo}/manifests/${p.tag}`, { method: 'PUT', body: p.manifest.data, headers: { 'content-type': MT.ociManifest } });
    if (r?.status === 201) {
      assert.equal(r.headers.get('docker-content-digest'), p.manifest.digest);
      p.ackedAt = Date.now();
      return;
    }
    if (r && r.status < 500) return;
  }
}

/** One upload session for `blob`: 'again' when the registry lost it (404), so that a new one is needed. */
async function chunkedUpload(p: Push, base: string, blob: Content): Promise<'committed' | 'again' | 'failed'> {
  let upload: URL | null = null;
  for (let k = 0; k < TRIES && !upload; k++) {
    const s = await attempt(p, 202, base, `/v2/${p.repo}/blobs/uploads/`, { method: 'POST' });
    if (s?.status === 202) upload = new URL(s.headers.get('location')!, base);
  }
  if (!upload) return 'failed';
  let offset = 0;
  let failures = 0;
  while (offset < blob.size) {
    if (failures >= TRIES) return 'failed';
    const n = Math.min(160 * 1024, blob.size - offset);
    const r = await attempt(p, 202, base, upload.pathname + upload.search, {
      method: 'PATCH', body: blob.data.subarray(offset, offset + n),
      headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${offset + n - 1}` },
    });
    if (r?.status === 202) {
      upload = new URL(r.headers.get('location')!, base);
      offset = Number(/^0-(\d+)$/.exec(r.headers.get('range') ?? '')?.[1] ?? -1) + 1;
      continue;
    }
    if (r?.status === 404) return 'again';
    failures++;
    // Where does the upload stand? (Any process can tell.)
    const st = await attempt(p, 204, base, upload.pathname + upload.search);
    if (st?.status === 404) return 'again';
    if (st?.status !== 204) continue;
    const end = Number(/^0-(\d+)$/.exec(st.headers.get('range') ?? '')?.[1] ?? -1);
    // "0-0" is an empty upload here: no chunk is one byte long.
    offset = end <= 0 ? 0 : end + 1;
    p.trouble.push(`resumed at ${offset}`);
  }
  const commit = withDigest(upload, blob.digest);
  for (let k = 0; k < TRIES; k++) {
    const r = await attempt(p, 201, base, commit.pathname + commit.search, { method: 'PUT' });
    if (r?.status === 201) return 'committed';
    if (r?.status === 404) {
      p.lostCommits.push(upload.pathname);
      return 'again';
    }
  }
  return 'failed';
}
