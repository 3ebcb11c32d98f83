// What every `wharf admin` command shares: the registry and TLS flags, --format, the lazily opened admin
// client, usage errors (exit 2), new secrets read from stdin or a no-echo prompt, tables and times.
import type { Command } from 'commander';
import { AdminClient, registryHost } from '../../client/admin-client.js';
import { WharfError } from '../../oci/errors.js';
import { readPassword, readStdin } from '../prompt.js';

/** A mistake in the command line: reported without contacting the server, exit status 2. */
export class UsageError extends WharfError {}

export interface CommonFlags {
  registry?: string;
  authfile?: string;
  certDir?: string;
  tlsVerify?: boolean;
  format?: string;
}

export interface Ctx {
  registry: string;
  json: boolean;
  /** Opened on first use, so usage errors never reach the network. */
  client(): Promise<AdminClient>;
  /** JSON (machine output) or the readable lines. */
  print(value: unknown, text: () => string[]): void;
}

/** A leaf command with the flags every admin command takes. */
export function adminCommand(parent: Command, name: string, description: string): Command {
  return clientOptions(parent.command(name).description(description)
    .requiredOption('--registry <host[:port]>', 'the registry (credentials from `wharf login` for it)'));
}

/** The flags of every command that calls a Wharf registry's /api/v1 (all but --registry). */
export function clientOptions(cmd: Command): Command {
  return cmd
    .option('--authfile <file>', 'auth file (default: REGISTRY_AUTH_FILE or ${XDG_RUNTIME_DIR}/containers/auth.json)')
    .option('--cert-dir <dir>', 'directory with CA certificates (*.crt) and client certificates (*.cert, *.key)')
    .option('--tls-verify', 'require HTTPS and verify certificates (default)')
    .option('--no-tls-verify', 'skip TLS verification and allow plain HTTP')
    .option('--format <format>', 'text (default) or json');
}

export interface ActionOptions {
  /** The registry when --registry is not given (from the command's arguments); throws UsageError. */
  registryFrom?: (args: string[]) => string;
  /** Calls without a stored login go out anonymously (an open registry) instead of failing. */
  anonymous?: boolean;
}

/** Runs `fn` as the command's action: usage errors exit 2, anything else reaches main (exit 1). */
export function adminAction<F extends CommonFlags>(cmd: Command, fn: (ctx: Ctx, args: string[], flags: F) => Promise<void>, o: ActionOptions = {}): Command {
  return cmd.action(async () => {
    const flags = cmd.opts<F>();
    let client: AdminClient | null = null;
    try {
      const format = flags.format ?? 'text';
      if (format !== 'json' && format !== 'text') throw new UsageError(`--format takes json or text, got ${format}`);
      const registry = registryHost(flags.registry ?? o.registryFrom?.(cmd.processedArgs as string[]) ?? '');
      if (!registry) throw new UsageError('--registry needs a host[:port]');
      const ctx: Ctx = {
        registry,
        json: format === 'json',
        client: async () => (client ??= await AdminClient.open(registry, { authFile: flags.authfile, tlsVerify: flags.tlsVerify, certDir: flags.certDir, anonymous: o.anonymous })),
        print: (value, text) => {
          process.stdout.write(format === 'json' ? `${JSON.stringify(value, null, 2)}\n` : text().map((l) => `${l}\n`).join(''));
        },
      };
      await fn(ctx, cmd.processedArgs as string[], flags);
    } catch (e) {
      if (!(e instanceof UsageError)) throw e;
      process.stderr.write(`wharf: ${e.message}\n`);
      process.exitCode = 2;
    } finally {
      (client as AdminClient | null)?.close();
    }
  });
}

/** Commander's own usage errors (a missing argument, an unknown option) exit 2 as well; help exits 0. */
export function usageExitCodes(cmd: Command): Command {
  return cmd.exitOverride((err) => {
    process.exit(err.exitCode === 0 ? 0 : 2);
  });
}

/**
 * A new password: from standard input (--password-stdin; one trailing newline dropped) or typed twice at
 * a no-echo prompt. Never from an argument.
 */
export async function readNewPassword(fromStdin: boolean | undefined, what: string): Promise<string> {
  let password: string;
  if (fromStdin) {
    password = (await readStdin()).replace(/\r?\n$/, '');
  } else {
    if (!process.stdin.isTTY) throw new UsageError(`a password for ${what} is needed: use --password-stdin or run on a terminal`);
    password = await readPassword(`New password for ${what}: `);
    if ((await readPassword('Repeat it: ')) !== password) throw new UsageError('the two passwords differ');
  }
  if (password === '') throw new UsageError('the password is empty');
  return password;
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** An ISO 8601 time, or a duration such as 90d, 12h or 1h30m counted from `now` (forward, or back with `ago`). */
export function parseWhen(v: string, flag: string, ago = false, now = Date.now()): string {
  if (/^(\d+[smhdw])+$/.test(v)) {
    let ms = 0;
    for (const m of v.matchAll(/(\d+)([smhdw])/g)) ms += Number(m[1]) * UNITS[m[2]!]!;
    return new Date(ago ? now - ms : now + ms).toISOString();
  }
  const t = /^\d{4}-\d{2}-\d{2}/.test(v) ? Date.parse(v) : NaN;
  if (Number.isNaN(t)) throw new UsageError(`${flag} takes a duration (30d, 12h, 1h30m) or an ISO 8601 time, got ${JSON.stringify(v)}`);
  return new Date(t).toISOString();
}

/** Columns padded to their widest cell; the last one is not padded. */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  return [header, ...rows].map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd());
}

/** A time for a table: seconds precision, or '-' when absent. */
export function when(t: string | null | undefined): string {
  return t ? t.replace(/\.\d+Z$/, 'Z') : '-';
}

/** ORG or ORG/REPO: the namespace, and the repository's full name when one is named. */
export function namespaceTarget(arg: string): { namespace: string; repository?: string } {
  const slash = arg.indexOf('/');
  if (arg === '' || slash === 0 || slash === arg.length - 1) throw new UsageError(`name a namespace (ORG) or a repository (ORG/REPO), got ${JSON.stringify(arg)}`);
  return slash < 0 ? { namespace: arg } : { namespace: arg.slice(0, slash), repository: arg };
}
