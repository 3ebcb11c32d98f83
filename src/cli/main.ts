#!/usr/bin/env node
// wharf <command>: the registry server and the client commands (skopeo's surface).
import { Command } from 'commander';
import { ConfigError, loadConfig } from '../config/config.js';
import { startServer } from '../server/serve.js';
import { normalizeBoolFlags } from './flags.js';
import { registerCopy } from './commands/copy.js';
import { registerInspect } from './commands/inspect.js';
import { registerDelete, registerListTags, registerManifestDigest } from './commands/simple.js';
import { registerLogin, registerLogout } from './commands/login.js';
import { registerSync } from './commands/sync.js';
import { registerImportExport } from './commands/import-export.js';

const program = new Command();
program.name('wharf').description('Wharf: a container image registry and registry client').version('0.1.0');

program
  .command('serve')
  .description('run the registry server (embedded storage by default: filesystem blobs + SQLite)')
  .option('-c, --config <file>', 'YAML or JSON configuration file (also WHARF_CONFIG)')
  .option('--addr <host:port>', 'listen address (WHARF_ADDR, default 0.0.0.0:5000)')
  .option('--data <dir>', 'data directory (WHARF_DATA, default ./data)')
  .option('--log-level <level>', 'trace|debug|info|warn|error (WHARF_LOG_LEVEL)')
  .action(async (opts: { config?: string; addr?: string; data?: string; logLevel?: string }) => {
    let config;
    try {
      config = loadConfig({ file: opts.config, env: process.env, flags: { addr: opts.addr, data: opts.data, 'log.level': opts.logLevel } });
    } catch (e) {
      if (e instanceof ConfigError) {
        process.stderr.write(`wharf: ${e.message}\n`);
        process.exit(2);
      }
      throw e;
    }
    const server = await startServer(config);
    let signalled = false;
    const shutdown = (signal: string): void => {
      if (signalled) {
        process.stderr.write(`wharf: ${signal} again, exiting now\n`);
        process.exit(1);
      }
      signalled = true;
      // In-flight requests get a bounded time to finish.
      const force = setTimeout(() => {
        process.stderr.write('wharf: shutdown timed out, exiting\n');
        process.exit(1);
      }, config.shutdown.timeout);
      force.unref();
      server.close().then(() => process.exit(0), (err: unknown) => {
        process.stderr.write(`wharf: error during shutdown: ${String(err)}\n`);
        process.exit(1);
      });
    };
    process.on('SIGTERM', () => shutdown('SIGTERM'));
    process.on('SIGINT', () => shutdown('SIGINT'));
  });

registerCopy(program);
registerInspect(program);
registerListTags(program);
registerDelete(program);
registerManifestDigest(program);
registerSync(program);
registerImportExport(program);
registerLogin(program);
registerLogout(program);

program.parseAsync(normalizeBoolFlags(process.argv)).catch((e: unknown) => {
  process.stderr.write(`wharf: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
