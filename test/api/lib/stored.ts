// What a test server's blob store holds, whichever driver it runs on (fs under its data dir, or its S3 bucket).
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { GetObjectCommand, ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { verifyStoredBlobs } from '../../helpers/push.js';
import { listKeys, s3TestClient } from '../../helpers/s3.js';
import type { TestServer } from './server.js';

/** Names under which blob `digest` is stored (content-addressed: there must be exactly one). */
export async function storedCopies(s: Pick<TestServer, 'server' | 'bucket'>, digest: string): Promise<string[]> {
  const hex = digest.slice('sha256:'.length);
  if (s.bucket) {
    const client = s3TestClient();
    try {
      return await listKeys(client, s.bucket, `blobs/sha256/${hex.slice(0, 2)}/${hex}`);
    } finally { client.destroy(); }
  }
  const dir = join(s.server.dataDir, 'blobs', 'sha256', hex.slice(0, 2));
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith(hex)) : [];
}

/** Whether the store still holds anything of upload `id`. */
export async function uploadHeld(s: TestServer, id: string): Promise<boolean> {
  if (s.bucket) {
    // On S3 a committed upload's objects are removed just after the commit is answered (see
    // registry/blobs.ts removeArea): give that a bounded moment before calling them left behind.
    const client = s3TestClient();
    try {
      for (let waited = 0; ; waited += 100) {
        const mp = await client.send(new ListMultipartUploadsCommand({ Bucket: s.bucket, Prefix: `uploads/${id}/` }));
        const held = (mp.Uploads ?? []).length > 0 || (await listKeys(client, s.bucket, `uploads/${id}/`)).length > 0;
        if (!held || waited >= 5000) return held;
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally { client.destroy(); }
  }
  return existsSync(join(s.server.dataDir, 'uploads', id));
}

/** Hashes every stored blob and checks it against its name; returns how many were checked. */
export async function verifyStored(s: TestServer): Promise<number> {
  if (!s.bucket) return verifyStoredBlobs(s.server.dataDir);
  const client = s3TestClient();
  try {
    let checked = 0;
    for (const key of await listKeys(client, s.bucket, 'blobs/sha256/')) {
      const hex = key.split('/').pop()!;
      const h = createHash('sha256');
      const res = await client.send(new GetObjectCommand({ Bucket: s.bucket, Key: key }));
      for await (const c of res.Body as Readable) h.update(c as Buffer);
      const got = h.digest('hex');
      if (got !== hex) throw new Error(`blob ${hex} is corrupt: content hashes to ${got}`);
      checked++;
    }
    return checked;
  } finally { client.destroy(); }
}
