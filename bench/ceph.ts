// One Ceph RGW for the storage sections, started with the project's own script (scripts/services/) on
// free loopback ports with its state in a temp dir, exactly as `npm test` does; fresh buckets on it.
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createS3Client } from '../src/store/blobs/s3-client.js';
import { assertLoopback, freePort, log, makeTempDir, nowMs, removeTempDir, run, runOk } from './util.js';

const services = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts', 'services');

export interface Rgw {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  client: S3Client;
  /** A new empty bucket with a random name. */
  createBucket(prefix: string): Promise<string>;
  /** Stops every Ceph daemon (by the PIDs the script recorded) and removes the state. Safe to call twice. */
  stop(): Promise<void>;
}

export async function startRgw(): Promise<Rgw> {
  // The SDK's notice that it will want Node 22 from 2027 on is noise in the bench output.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const t0 = nowMs();
  const dir = makeTempDir('ceph');
  const env = { ...process.env, RGW_PORT: String(await freePort()), CEPH_MON_PORT: String(await freePort(true)) };
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopping ??= (async () => {
    const res = await run(join(services, 'stop-ceph-rgw.sh'), [dir], { timeoutMs: 120000 });
    if (res.code !== 0) log(`stop-ceph-rgw.sh: ${res.stderr.trim()}`);
    removeTempDir(dir);
  })());
  try {
    await runOk(join(services, 'start-ceph-rgw.sh'), [dir], { env, timeoutMs: 300000 });
  } catch (err) {
    await stop();
    throw err;
  }
  const vars = Object.fromEntries(readFileSync(join(dir, 's3.env'), 'utf8').split('\n').filter(Boolean).map((l) => l.split(/=(.*)/s).slice(0, 2) as [string, string]));
  const endpoint = assertLoopback(vars.S3_ENDPOINT!).href.replace(/\/$/, '');
  const conn = { endpoint, accessKeyId: vars.S3_ACCESS_KEY!, secretAccessKey: vars.S3_SECRET_KEY!, region: vars.S3_REGION ?? 'us-east-1' };
  const client = createS3Client({ ...conn, forcePathStyle: true });
  log(`Ceph RGW on ${endpoint} (state in ${dir}), started in ${((nowMs() - t0) / 1000).toFixed(1)} s`);
  return {
    ...conn,
    client,
    async createBucket(prefix) {
      const name = `${prefix}-${randomBytes(5).toString('hex')}`;
      await client.send(new CreateBucketCommand({ Bucket: name }));
      return name;
    },
    stop,
  };
}

/** WHARF_* variables for `wharf serve` / `wharf gc` on `bucket`. */
export function wharfS3Env(rgw: Rgw, bucket: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    WHARF_STORAGE_DRIVER: 's3',
    WHARF_STORAGE_S3_ENDPOINT: rgw.endpoint,
    WHARF_STORAGE_S3_REGION: rgw.region,
    WHARF_STORAGE_S3_BUCKET: bucket,
    WHARF_STORAGE_S3_ACCESS_KEY_ID: rgw.accessKeyId,
    WHARF_STORAGE_S3_SECRET_ACCESS_KEY: rgw.secretAccessKey,
    WHARF_STORAGE_S3_FORCE_PATH_STYLE: 'true',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    ...extra,
  };
}

/**
 * The environment for docker-registry on S3: without AWS_CA_BUNDLE, which its aws-sdk-go cannot apply to
 * Distribution's own HTTP transport (it panics at start-up); the RGW endpoint is plain HTTP on loopback anyway.
 */
export function distributionS3Env(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.AWS_CA_BUNDLE;
  return env;
}

/** Distribution's `storage:` section for its s3 driver on `bucket` (its default: blob GETs redirect to presigned URLs). */
export function distributionS3Storage(rgw: Rgw, bucket: string): string[] {
  return [
    '  s3:',
    `    accesskey: ${rgw.accessKeyId}`,
    `    secretkey: ${rgw.secretAccessKey}`,
    `    region: ${rgw.region}`,
    `    regionendpoint: ${rgw.endpoint}`,
    `    bucket: ${bucket}`,
    '    forcepathstyle: true',
    '    secure: false',
    '    v4auth: true',
    '    rootdirectory: /distribution',
  ];
}
