// Monolithic blob upload (POST + single PUT with the whole body) and download, driven by curl.
import type { BlobFile } from './images.js';
import { assertLoopback, bodySnippet, runOk } from './util.js';

export interface TransferResult {
  /** Wall-clock seconds of the curl process. */
  seconds: number;
  /** curl's own transfer time (time_total). */
  curlSeconds: number;
  bytes: number;
  /** MiB per second over curl's transfer time. */
  mibPerSec: number;
}

const WRITE_OUT = '%{http_code} %{size_upload} %{size_download} %{time_total}';

function parseWriteOut(stdout: string): { status: number; up: number; down: number; time: number } {
  const line = stdout.trim().split('\n').pop() ?? '';
  const [status, up, down, time] = line.split(' ').map(Number);
  if ([status, up, down, time].some((n) => n === undefined || !Number.isFinite(n))) throw new Error(`unexpected curl -w output: ${JSON.stringify(stdout)}`);
  return { status: status!, up: up!, down: down!, time: time! };
}

/** Appends the digest query parameter to an upload Location, which may be relative and may already carry a query. */
export function uploadPutUrl(baseUrl: string, location: string, digest: string): string {
  const u = assertLoopback(new URL(location, baseUrl));
  u.hash = '';
  // Append to the query as sent (re-serialising it could re-encode opaque state such as Distribution's _state).
  const sep = u.search ? '&' : u.href.endsWith('?') ? '' : '?';
  return `${u.href}${sep}digest=${encodeURIComponent(digest)}`;
}

/** POSTs to start an upload session and returns the session's Location. */
export async function startUpload(baseUrl: string, repo: string): Promise<string> {
  const res = await fetch(`${baseUrl}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  const location = res.headers.get('location');
  if (res.status !== 202 || !location) {
    throw new Error(`POST /v2/${repo}/blobs/uploads/ → ${res.status} (Location ${JSON.stringify(location)}): ${await bodySnippet(res)}`);
  }
  await res.arrayBuffer();
  return location;
}

/** Monolithic upload: POST, then one PUT carrying the whole file and the digest. */
export async function curlPutBlob(baseUrl: string, repo: string, blob: BlobFile, timeoutMs: number): Promise<TransferResult> {
  const putUrl = uploadPutUrl(baseUrl, await startUpload(baseUrl, repo), blob.digest);
  // --upload-file streams the file (curl --data-binary @file would first read the whole GiB into curl's
  // memory); 'Expect:' suppresses the 100-continue round trip so both servers see the same request.
  const res = await runOk('curl', [
    '-sS', '-X', 'PUT', '--upload-file', blob.path,
    '-H', 'Content-Type: application/octet-stream', '-H', 'Expect:',
    '-o', '-', '-w', `\n${WRITE_OUT}`, putUrl,
  ], { timeoutMs });
  const lines = res.stdout.split('\n');
  const w = parseWriteOut(res.stdout);
  if (w.status !== 201) throw new Error(`PUT ${putUrl} → ${w.status}: ${lines.slice(0, -1).join('\n').slice(0, 2000)}`);
  if (w.up !== blob.size) throw new Error(`PUT uploaded ${w.up} bytes, expected ${blob.size}`);
  await verifyBlobHead(baseUrl, repo, blob);
  return { seconds: res.ms / 1000, curlSeconds: w.time, bytes: blob.size, mibPerSec: blob.size / 1048576 / w.time };
}

async function verifyBlobHead(baseUrl: string, repo: string, blob: BlobFile): Promise<void> {
  const res = await fetch(`${baseUrl}/v2/${repo}/blobs/${blob.digest}`, { method: 'HEAD' });
  await res.arrayBuffer();
  const len = Number(res.headers.get('content-length'));
  if (res.status !== 200 || len !== blob.size) {
    throw new Error(`HEAD blob after upload → ${res.status}, Content-Length ${res.headers.get('content-length')} (expected 200, ${blob.size})`);
  }
}

/** Downloads the blob to /dev/null. */
export async function curlGetBlob(baseUrl: string, repo: string, blob: BlobFile, timeoutMs: number): Promise<TransferResult> {
  const url = `${baseUrl}/v2/${repo}/blobs/${blob.digest}`;
  assertLoopback(url);
  const res = await runOk('curl', ['-sS', '-o', '/dev/null', '-w', WRITE_OUT, url], { timeoutMs });
  const w = parseWriteOut(res.stdout);
  if (w.status !== 200) {
    // Fetch the error body for the report (small: the server answered with an error, not the blob).
    const again = await fetch(url);
    throw new Error(`GET ${url} → ${w.status}: ${again.status} ${await bodySnippet(again)}`);
  }
  if (w.down !== blob.size) throw new Error(`GET downloaded ${w.down} bytes, expected ${blob.size}`);
  return { seconds: res.ms / 1000, curlSeconds: w.time, bytes: blob.size, mibPerSec: blob.size / 1048576 / w.time };
}
