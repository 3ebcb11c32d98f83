// One real Wharf server per test file: started in before(), stopped and removed in after().
// The server's access log is watched so a file can assert that no request was answered with a 5xx.
import { after, before } from 'node:test';
import { createInterface } from 'node:readline';
import { startWharf, type StartOptions, type WharfServer } from '../../helpers/server.js';

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
  /** Access-log lines with a 5xx status, after letting the log catch up. */
  serverErrors(): Promise<AccessLine[]>;
}

/** Call inside a describe(): registers the before/after hooks and returns the (filled-in-later) handle. */
export function useWharf(opts: StartOptions = {}): TestServer {
  const t = {
    url: '',
    server: undefined as unknown as WharfServer,
    access: [] as AccessLine[],
    async serverErrors(): Promise<AccessLine[]> {
      await new Promise((r) => setTimeout(r, 100));
      return t.access.filter((l) => l.status >= 500);
    },
  };
  before(async () => {
    t.server = await startWharf(opts);
    t.url = t.server.url;
    createInterface({ input: t.server.proc.stdout! }).on('line', (line) => {
      try {
        const rec = JSON.parse(line) as { msg?: string; method?: string; url?: string; status?: number };
        if (rec.msg === 'request' && typeof rec.status === 'number') t.access.push({ method: rec.method ?? '', url: rec.url ?? '', status: rec.status });
      } catch { /* not a JSON log line */ }
    });
  });
  after(async () => {
    if (!t.server) return;
    await t.server.stop();
    t.server.cleanup();
  });
  return t;
}
