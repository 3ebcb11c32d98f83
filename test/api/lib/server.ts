// One real Wharf server per test file: started in before(), stopped and removed in after().
// The server's access log is watched so a file can assert that no request was answered with a 5xx.
// npm test's second pass over test/api runs each server scaled out: WHARF_TEST_STORAGE=s3 puts its blobs
// in a fresh bucket on the test S3 endpoint, WHARF_TEST_META=postgres its metadata in a fresh database
// on the test PostgreSQL; both are removed afterwards.
import { after, before } from 'node:test';
import { createInterface } from 'node:readline';
import { startWharf, type StartOptions, type WharfServer } from '../../helpers/server.js';
import { createTestBucket, s3ServerEnv } from '../../helpers/s3.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/postgres.js';

export interface AccessLine {
  method: string;
  url: string;
  status: number;
}

export interface TestServer {
  /** http://host:port */
  url: string;
  server: WharfServer;
  /** Access-log lines seen so far. */
  access: AccessLine[];
  /** The bucket holding the server's blobs when the suite runs over S3 (WHARF_TEST_STORAGE=s3). */
  bucket?: string;
  /** Access-log lines with a 5xx status, after letting the log catch up. */
  serverErrors(): Promise<AccessLine[]>;
}

/** Call inside a describe(): registers the before/after hooks and returns the (filled-in-later) handle. */
export function useWharf(opts: StartOptions = {}): TestServer {
  const t = {
    url: '',
    bucket: undefined as string | undefined,
    server: undefined as unknown as WharfServer,
    access: [] as AccessLine[],
    async serverErrors(): Promise<AccessLine[]> {
      await new Promise((r) => setTimeout(r, 100));
      return t.access.filter((l) => l.status >= 500);
    },
  };
  let bucket: { name: string; remove(): Promise<void> } | undefined;
  let database: TestDatabase | undefined;
  before(async () => {
    let env = opts.env;
    if (process.env.WHARF_TEST_STORAGE === 's3') {
      const b = await createTestBucket();
      bucket = b;
      t.bucket = b.name;
      env = { ...s3ServerEnv(b.name), ...env };
    }
    if (process.env.WHARF_TEST_META === 'postgres') {
      database = await createTestDatabase();
      env = { WHARF_META_DRIVER: 'postgres', WHARF_META_POSTGRES_URL: database.url, ...env };
    }
    t.server = await startWharf({ ...opts, env });
    t.url = t.server.url;
    createInterface({ input: t.server.proc.stdout! }).on('line', (line) => {
      try {
        const rec = JSON.parse(line) as { msg?: string; method?: string; url?: string; status?: number };
        if (rec.msg === 'request' && typeof rec.status === 'number') t.access.push({ method: rec.method ?? '', url: rec.url ?? '', status: rec.status });
      } catch { /* not a JSON log line */ }
    });
  });
  after(async () => {
    if (t.server) {
      await t.server.stop();
      t.server.cleanup();
    }
    await bucket?.remove();
    await database?.drop();
  });
  return t;
}
