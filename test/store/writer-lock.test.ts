// The writer lock the main thread and the webhook delivery thread share on one SQLite database: one
// holder at a time, a waiter that waits without blocking its thread, a lock freed when the thread that
// held it ended, and SqliteDatabase taking it for units of work and for writes outside them.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { setTimeout as sleep } from 'node:timers/promises';
import { WriterLock } from '../../src/store/meta/writer-lock.js';
import { SqliteDatabase } from '../../src/store/meta/sqlite-database.js';

/** Whether `p` settles within `ms`. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  return Promise.race([p.then(() => true), sleep(ms).then(() => false)]);
}

describe('writer lock', () => {
  test('one holder at a time; a waiter gets it when the holder releases', async () => {
    const buffer = WriterLock.newBuffer();
    const main = new WriterLock(buffer, 1);
    const other = new WriterLock(buffer, 2);
    await main.acquire();
    const waiting = other.acquire();
    assert.equal(await settlesWithin(waiting, 50), false, 'held by another');
    main.release();
    assert.equal(await settlesWithin(waiting, 1_000), true);
    const back = main.acquire();
    assert.equal(await settlesWithin(back, 50), false);
    other.release();
    assert.equal(await settlesWithin(back, 1_000), true);
    main.release();
  });

  test('a lock held by a thread that ended is freed by releaseHeldBy', async () => {
    const buffer = WriterLock.newBuffer();
    await new WriterLock(buffer, 2).acquire();
    const main = new WriterLock(buffer, 1);
    const waiting = main.acquire();
    assert.equal(await settlesWithin(waiting, 50), false);
    main.releaseHeldBy(1);
    assert.equal(await settlesWithin(waiting, 50), false, 'only the named holder\'s lock is freed');
    main.releaseHeldBy(2);
    assert.equal(await settlesWithin(waiting, 1_000), true);
    main.release();
  });

  test('across threads: the main thread waits for a worker\'s hold without blocking its event loop', async () => {
    const buffer = WriterLock.newBuffer();
    const url = new URL('../../src/store/meta/writer-lock.js', import.meta.url).href;
    // The worker takes the lock, says so, holds it 300 ms, releases it and ends.
    const worker = new Worker(`
      const { workerData, parentPort } = require('node:worker_threads');
      import(workerData.url).then(async ({ WriterLock }) => {
        const lock = new WriterLock(workerData.buffer, 2);
        await lock.acquire();
        parentPort.postMessage('held');
        await new Promise((r) => setTimeout(r, 300));
        lock.release();
      });`, { eval: true, workerData: { url, buffer } });
    try {
      await new Promise((resolve) => worker.once('message', resolve));
      const main = new WriterLock(buffer, 1);
      let ticks = 0;
      const ticker = setInterval(() => ticks++, 10);
      const started = performance.now();
      await main.acquire();
      const waited = performance.now() - started;
      clearInterval(ticker);
      main.release();
      assert.ok(waited >= 150, `waited ${waited.toFixed(0)} ms for the worker's hold`);
      assert.ok(ticks >= 5, `the event loop ran while waiting (${ticks} ticks)`);
    } finally {
      await worker.terminate();
    }
  });

  test('SqliteDatabase takes it for a unit of work and for a write outside one, not for a read', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'wharf-writer-lock-'));
    const buffer = WriterLock.newBuffer();
    const other = new WriterLock(buffer, 2);
    // Released however the checks go (before the database closes), so that the waiting writes end.
    t.after(() => other.release());
    const db = new SqliteDatabase({ path: join(dir, 'meta.db'), durable: false, writerLock: new WriterLock(buffer, 1) });
    t.after(async () => {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    });
    await db.run('CREATE TABLE t (n INTEGER)');
    await other.acquire();
    assert.deepEqual(await db.all('SELECT COUNT(*) AS n FROM t'), [{ n: 0 }], 'a read goes ahead');
    const write = db.run('INSERT INTO t (n) VALUES (1)');
    const unit = db.atomic(async (x) => x.run('INSERT INTO t (n) VALUES (2)'));
    assert.equal(await settlesWithin(write, 100), false, 'a write outside a unit of work waits');
    assert.equal(await settlesWithin(unit, 100), false, 'a unit of work waits');
    other.release();
    await Promise.all([write, unit]);
    assert.deepEqual(await db.all('SELECT n FROM t ORDER BY n'), [{ n: 1 }, { n: 2 }]);
  });
});
