// `wharf serve`: open the stores, start HTTP, sweep stale uploads, shut down gracefully.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { FastifyServerOptions } from 'fastify';
import type { Config } from '../config/config.js';
import { splitAddr } from '../config/config.js';
import { systemClock } from '../config/clock.js';
import { openBlobStore } from '../store/blobs/factory.js';
import { SqliteMetaStore } from '../store/meta/sqlite-meta-store.js';
import { Registry } from '../registry/registry.js';
import { Scheduler } from '../jobs/scheduler.js';
import { uploadSweepJob } from '../jobs/upload-sweep.js';
import { buildApp } from './app.js';

export interface RunningServer {
  addr: string;
  close(): Promise<void>;
}

function loggerOptions(config: Config): FastifyServerOptions['logger'] {
  const pretty = config.log.format === 'pretty' || (config.log.format === 'auto' && process.stdout.isTTY === true);
  return {
    level: config.log.level,
    // Credentials never reach a log line: only method, path and status are logged per request.
    redact: ['req.headers.authorization', 'req.headers.cookie'],
    ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } } : {}),
  };
}

export async function startServer(config: Config): Promise<RunningServer> {
  const dataDir = resolve(config.data);
  mkdirSync(dataDir, { recursive: true });
  const clock = systemClock;
  const blobStore = await openBlobStore({ dataDir, storage: config.storage });
  const meta = new SqliteMetaStore({ path: join(dataDir, 'meta.db'), durable: config.storage.fsync, clock });
  const registry = new Registry(blobStore, meta, { maxManifestBytes: config.manifests.maxSize }, clock);
  const app = buildApp(registry, { logger: loggerOptions(config) });

  const jobs = new Scheduler({ leases: meta.leases, onError: (job, err) => app.log.error({ err, job }, 'job failed') });
  const sweepDeps = { blobs: blobStore, meta, clock, ttlMs: config.uploads.ttl };
  jobs.register(uploadSweepJob(sweepDeps, Math.max(1000, config.uploads.sweepInterval), (n) => {
    if (n > 0) app.log.info({ removed: n }, 'expired upload sessions removed');
  }));
  // The first sweep before listening, as before: leftovers of a crash are gone when clients arrive.
  await jobs.runNow('upload-sweep');
  jobs.start();

  const { host, port } = splitAddr(config.addr);
  await app.listen({ host, port });
  const a = app.server.address();
  const addr = a && typeof a === 'object' ? `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : config.addr;
  app.log.info({ addr, data: dataDir }, 'listening');

  let closing: Promise<void> | null = null;
  return {
    addr,
    close() {
      closing ??= (async () => {
        await jobs.stop();
        await app.close();
        await registry.close();
      })();
      return closing;
    },
  };
}
