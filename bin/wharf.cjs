#!/usr/bin/env node
// The `wharf` command: runs the bundled CLI (dist/wharf.cjs, made by `npm run build`) with V8's code
// cache, so a short client command does not spend its first ~20 ms compiling JavaScript.
//
// The first run of each command writes the compiled code (including the functions that run used) to
// dist/.v8-cache/<command>-<hash of the bundle>.bin (temp file + rename; skipped when dist/ is not
// writable). Later runs hand it to V8, which checks its own version and flags and silently compiles
// afresh when they differ. V8 checks only the source's length, so the file name carries a hash of the
// bundle's content: a rebuilt bundle never meets an old cache. This is what Node 22's
// module.enableCompileCache() does; Node 20 lacks it.
'use strict';
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const Module = require('node:module');

const dist = path.join(__dirname, '..', 'dist');
const bundle = path.join(dist, 'wharf.cjs');

let source;
try {
  source = fs.readFileSync(bundle, 'utf8');
} catch {
  process.stderr.write(`wharf: ${bundle} is missing: run \`npm run build\` first\n`);
  process.exit(1);
}

// One cache per client command (each warms different code), written by a run that did real work (not
// --help, not a failure). The server is long-running: no cache.
const args = process.argv.slice(2);
const command = args.find((a) => !a.startsWith('-'));
const cacheable = command !== undefined && command !== 'serve' && /^[a-z][a-z-]{0,31}$/.test(command) &&
  !args.includes('--help') && !args.includes('-h');
const cacheFile = cacheable
  ? path.join(dist, '.v8-cache', `${command}-${createHash('sha256').update(source).digest('hex').slice(0, 16)}.bin`)
  : undefined;

let cachedData;
if (cacheFile) {
  try {
    cachedData = fs.readFileSync(cacheFile);
  } catch {
    /* first run of this command */
  }
}

const script = new vm.Script(Module.wrap(source), { filename: bundle, cachedData });

if (cacheFile && (cachedData === undefined || script.cachedDataRejected)) {
  // At exit the cache also holds every function this run compiled.
  process.once('exit', (code) => {
    if (code !== 0) return;
    const tmp = `${cacheFile}.${process.pid}.tmp`;
    try {
      fs.mkdirSync(path.dirname(cacheFile), { recursive: true });
      fs.writeFileSync(tmp, script.createCachedData());
      fs.renameSync(tmp, cacheFile);
    } catch {
      try {
        fs.rmSync(tmp, { force: true });
      } catch {
        /* nothing to clean */
      }
    }
  });
}

const mod = new Module(bundle, module);
mod.filename = bundle;
script.runInThisContext().call(mod.exports, mod.exports, Module.createRequire(bundle), mod, bundle, dist);
