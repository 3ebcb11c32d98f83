import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { startWharf } from '../helpers/server.js';
import { body } from '../helpers/push.js';

test('abandoned upload sessions expire and their bytes are removed', async () => {
  const srv = await startWharf({ env: { WHARF_UPLOADS_TTL: '1s', WHARF_UPLOADS_SWEEP_INTERVAL: '1s' } });
  try {
    const start = await fetch(`${srv.url}/v2/expire/me/blobs/uploads/`, { method: 'POST' });
    await start.arrayBuffer();
    const url = new URL(start.headers.get('location')!, srv.url);
    const patch = await fetch(url, { method: 'PATCH', body: body(Buffer.alloc(1000, 1)), headers: { 'content-type': 'application/octet-stream' } });
    await patch.arrayBuffer();
    assert.equal(patch.status, 202);
    assert.equal(readdirSync(join(srv.dataDir, 'uploads')).length, 1);
    let status = 204;
    for (let i = 0; i < 50 && status === 204; i++) {
      await new Promise((r) => setTimeout(r, 200));
      const res = await fetch(url);
      await res.arrayBuffer();
      status = res.status;
    }
    assert.equal(status, 404);
    assert.equal(readdirSync(join(srv.dataDir, 'uploads')).length, 0);
  } finally {
    await srv.stop();
    srv.cleanup();
  }
});
