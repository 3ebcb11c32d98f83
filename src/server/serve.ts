// `wharf serve`: open the stores, start HTTP, sweep stale uploads, shut down gracefully.
import type { Server } from 'node:http';
import type { Http2SecureServer } from 'node:http2';
import { pino, type LoggerOptions } from 'pino';
import type { Config } from '../config/config.js';
import type { DeliveryOutcome } from '../store/meta/meta-store.js';
import { splitAddr } from '../config/config.js';
import { systemClock } from '../config/clock.js';
import { openStores } from '../store/open-stores.js';
import { Registry } from '../registry/registry.js';
import { Scheduler } from '../jobs/scheduler.js';
import { uploadSweepJob } from '../jobs/upload-sweep.js';
import { gcJob, GC_JOB } from '../jobs/gc-job.js';
import { retentionJob } from '../jobs/retention-job.js';
import { isRetentionEvent } from '../registry/retention.js';
import { WebhookDispatcher } from '../jobs/webhook-dispatcher.js';
import { WebhookDeliveryThread } from '../jobs/webhook-delivery-thread.js';
import { WriterLock } from '../store/meta/writer-lock.js';
import { WebhookSender } from '../jobs/webhook-sender.js';
import { WHARF_VERSION } from '../config/version.js';
import { listenMetrics, WharfMetrics } from './metrics.js';
import { buildApp } from './app.js';
import { accessControllerFor } from '../access/factory.js';
import { secureServerOptions, tlsEnabled, watchTlsFiles, type TlsWatcher } from './tls.js';
import { manageSecureConnections } from './secure-connections.js';
import { refuseUnverifiedClientCertificates } from './client-certificate.js';

export interface RunningServer {
  addr: string;
  scheme: 'http' | 'https';
  close(): Promise<void>;
}

function loggerOptions(config: Config): LoggerOptions {
  const pretty = config.log.format === 'pretty' || (config.log.format === 'auto' && process.stdout.isTTY === true);
  return {
    level: config.log.level,
    // Credentials never reach a log line: only method, path and status are logged per request.
    redact: ['req.headers.authorization', 'req.headers.cookie'],
    ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } } : {}),
  };
}

export async function startServer(config: Config): Promise<RunningServer> {
  const tls = config.tls;
  // Read and checked before anything opens: a bad certificate is a start-up error (a ConfigError).
  const https = tlsEnabled(tls) ? secureServerOptions(tls) : undefined;
  const clock = systemClock;
  // SQLite: the main thread and the webhook delivery thread take turns at writing (writer-lock.ts).
  const writerLock = config.meta.driver === 'sqlite' ? new WriterLock(WriterLock.newBuffer(), 1) : undefined;
  const { dataDir, blobs: blobStore, meta } = await openStores(config, clock, { writerLock });
  const registry = new Registry(blobStore, meta, {
    maxManifestBytes: config.manifests.maxSize, historyKeepMs: config.history.keep, immutableTagPatterns: config.immutable.patterns,
    retentionDefault: config.retention.default,
  }, clock);
  // One logger for the HTTP layer and the access controller (whose failed-login lines name only the user and address).
  const logger = pino(loggerOptions(config));
  let accessController;
  try {
    accessController = await accessControllerFor(config.auth, {
      logger, meta, clock,
      adminPassword: process.env.WHARF_ADMIN_PASSWORD,
      // On stderr, never through the logger: the log must not hold a secret.
      announce: (user, password) => process.stderr.write(`\nwharf: created the administrator "${user}" with password ${password}\n`
        + 'wharf: it is shown only this once; sign in and change it (wharf admin user passwd).\n\n'),
    });
  } catch (e) {
    await registry.close();
    throw e;
  }
  // Metrics on: recorded always; served here unless metrics.addr gives them their own listener.
  const metrics = config.metrics.enabled ? new WharfMetrics(WHARF_VERSION) : null;
  // Webhooks: this process delivers the outbox too (claims keep processes apart), on a thread of its own
  // (webhook-delivery-thread.ts), nudged after each commit that adds to it. Test deliveries (the admin
  // API's) are sent from here, by a dispatcher that claims nothing.
  const webhookSender = new WebhookSender({ timeoutMs: config.webhooks.timeout, userAgent: `wharf/${WHARF_VERSION}` });
  const onAttempt = metrics ? (outcome: DeliveryOutcome, ms: number) => metrics.webhookAttempted(outcome, ms) : undefined;
  const webhooks = new WebhookDispatcher({
    meta, sender: webhookSender, clock, timeoutMs: config.webhooks.timeout, maxAttempts: config.webhooks.maxAttempts, concurrency: config.webhooks.concurrency,
    retry: { initialMs: config.webhooks.retry.initial, maxMs: config.webhooks.retry.max }, render: { source: config.webhooks.source }, onAttempt,
  });
  const delivery = new WebhookDeliveryThread({
    config, writerLock, onAttempt,
    onError: (err) => logger.warn({ err }, 'webhook outbox not read or written'),
  });
  registry.webhooks.onRecorded(() => delivery.nudge());
  registry.webhooks.onPullError = (err) => logger.warn({ err }, 'pull events not recorded');
  metrics?.watchWebhookOutbox(() => meta.webhooks.outbox.pending());
  const app = buildApp(registry, { logger, accessController, https, metrics: metrics ? { metrics, serve: config.metrics.addr === undefined } : undefined, webhooks });
  // Storage per namespace: counted as quotas count it, in the background (see metrics.ts).
  const storage = metrics?.watchNamespaceStorage(() => meta.quotas.bytesByNamespace(), config.metrics.storageRefresh,
    (err) => app.log.error({ err }, 'storage per namespace could not be computed'));
  let tlsWatcher: TlsWatcher | null = null;
  if (tlsEnabled(tls)) {
    const server = app.server as unknown as Http2SecureServer;
    const connections = manageSecureConnections(server, { keepAliveTimeoutMs: 65_000 });
    app.addHook('preClose', async () => connections.closeGracefully());
    if (tls.clientCA && tls.clientAuth === 'verify-if-given') refuseUnverifiedClientCertificates(app);
    tlsWatcher = watchTlsFiles(tls, (o) => server.setSecureContext(o), app.log);
  }

  const jobs = new Scheduler({
    leases: meta.leases,
    onError: (job, err) => app.log.error({ err, job }, 'job failed'),
    onRun: metrics ? (job, outcome) => metrics.jobRan(job, outcome, job === GC_JOB) : undefined,
  });
  const sweepDeps = { blobs: blobStore, meta, clock, ttlMs: config.uploads.ttl };
  jobs.register(uploadSweepJob(sweepDeps, Math.max(1000, config.uploads.sweepInterval), (n) => {
    if (n > 0) app.log.info({ removed: n }, 'expired upload sessions removed');
  }));
  const gcOptions = { dryRun: false, untagged: config.gc.untagged, gracePeriodMs: config.gc.gracePeriod, historyKeepMs: config.history.keep, intervalMs: Math.max(1000, config.gc.interval) };
  jobs.register(gcJob({ ...sweepDeps, uploadTtlMs: config.uploads.ttl }, gcOptions, (report) => {
    metrics?.gcCollected(report);
    app.log.info({ report }, 'garbage collected');
  }));
  if (config.retention.interval > 0) {
    jobs.register(retentionJob(registry.retention, Math.max(1000, config.retention.interval), (report) => {
      if (report.tagsRemoved + report.manifestsRemoved > 0) {
        app.log.info({ repositories: report.repositories.length, tagsRemoved: report.tagsRemoved, manifestsRemoved: report.manifestsRemoved }, 'retention applied');
      }
    }));
  }
  // What retention removes, whether the job or the admin API ran it.
  if (metrics) registry.events.on('event', (e) => { if (isRetentionEvent(e)) metrics.retentionRemoved(e.type === 'tag.deleted' ? 'tag' : 'manifest'); });
  // The first sweep before listening, as before: leftovers of a crash are gone when clients arrive.
  await jobs.runNow('upload-sweep');
  jobs.start();
  // Who wants pulls, known before the first GET.
  await registry.webhooks.refreshPullSubscriptions();
  // Undoes what is started so far when the server cannot start after all.
  const abandon = async (e: unknown): Promise<never> => {
    await jobs.stop();
    await delivery.stop();
    await webhookSender.close();
    await storage?.stop();
    tlsWatcher?.close();
    await accessController.close();
    await registry.close();
    throw e;
  };
  try {
    await delivery.ready;
  } catch (e) {
    await abandon(e);
  }

  let metricsServer: Server | null = null;
  if (metrics && config.metrics.addr !== undefined) {
    const m = splitAddr(config.metrics.addr);
    try {
      const listening = await listenMetrics(metrics, m.host, m.port);
      metricsServer = listening.server;
      app.log.info({ addr: listening.addr, url: `http://${listening.addr}/metrics` }, 'metrics listening');
    } catch (e) {
      await abandon(e);
    }
  }
  const { host, port } = splitAddr(config.addr);
  await app.listen({ host, port });
  const a = app.server.address();
  const addr = a && typeof a === 'object' ? `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : config.addr;
  const scheme = https ? 'https' : 'http';
  app.log.info({ addr, scheme, url: `${scheme}://${addr}`, data: dataDir }, 'listening');

  let closing: Promise<void> | null = null;
  return {
    addr,
    scheme,
    close() {
      closing ??= (async () => {
        await jobs.stop();
        // No new claims; deliveries in flight end (each within webhooks.timeout). What is left waits in the outbox.
        await delivery.stop();
        await storage?.stop();
        tlsWatcher?.close();
        if (metricsServer) {
          const s = metricsServer;
          s.closeIdleConnections();
          await new Promise<void>((resolve) => s.close(() => resolve()));
        }
        await app.close();
        await accessController.close();
        await registry.close();
        await webhookSender.close();
      })();
      return closing;
    },
  };
}
