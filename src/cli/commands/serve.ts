// wharf serve: the registry server.
import type { Command } from 'commander';
import { ConfigError, loadConfig } from '../../config/config.js';
import { startServer } from '../../server/serve.js';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the registry server (embedded storage by default: filesystem blobs + SQLite)')
    .option('-c, --config <file>', 'YAML or JSON configuration file (also WHARF_CONFIG)')
    .option('--addr <host:port>', 'listen address (WHARF_ADDR, default 0.0.0.0:5000)')
    .option('--data <dir>', 'data directory (WHARF_DATA, default ./data)')
    .option('--log-level <level>', 'trace|debug|info|warn|error (WHARF_LOG_LEVEL)')
    .action(async (opts: { config?: string; addr?: string; data?: string; logLevel?: string }) => {
      let config;
      let server;
      try {
        config = loadConfig({ file: opts.config, env: process.env, flags: { addr: opts.addr, data: opts.data, 'log.level': opts.logLevel } });
        // Files the configuration names (TLS, htpasswd) are read and checked on start: also exit 2.
        server = await startServer(config);
      } catch (e) {
        if (e instanceof ConfigError) {
          process.stderr.write(`wharf: ${e.message}\n`);
          process.exit(2);
        }
        throw e;
      }
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
}
