// Flags shared by client commands, spelled as skopeo spells them.
import type { Command } from 'commander';

/** Boolean flags that, as in skopeo, take `--flag`, `--flag=true` or `--flag=false` (never a separate value). */
const BOOL_FLAGS = ['tls-verify', 'src-tls-verify', 'dest-tls-verify', 'all', 'quiet', 'raw', 'config', 'no-tags', 'preserve-digests', 'dry-run', 'password-stdin', 'get-login', 'untagged', 'verify-digests', 'undelete'];

/** Rewrites `--x=false` to `--no-x` and `--x=true` to `--x`, so commander sees plain switches. */
export function normalizeBoolFlags(argv: string[]): string[] {
  return argv.map((a) => {
    const m = /^--([a-z-]+)=(true|false|1|0)$/i.exec(a);
    if (!m || !BOOL_FLAGS.includes(m[1]!)) return a;
    const on = m[2] === 'true' || m[2] === '1';
    return on ? `--${m[1]}` : `--no-${m[1]}`;
  });
}

export interface AccessFlags {
  creds?: string;
  authfile?: string;
  tlsVerify?: boolean;
  certDir?: string;
  retryTimes?: string;
}

/** --creds, --authfile, --tls-verify, --cert-dir (with an optional prefix such as src- or dest-). */
export function addAccessFlags(cmd: Command, prefix = ''): Command {
  const p = prefix ? `${prefix}-` : '';
  return cmd
    .option(`--${p}creds <user[:password]>`, 'credentials for the registry')
    .option(`--${p}tls-verify`, 'require HTTPS and verify certificates (default; --tls-verify=false allows plain HTTP)')
    .option(`--no-${p}tls-verify`, 'skip TLS verification and allow plain HTTP')
    .option(`--${p}cert-dir <dir>`, 'directory with CA certificates (*.crt) and client certificates (*.cert, *.key)');
}

export function parseRetryTimes(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--retry-times must be a non-negative integer, got ${v}`);
  return n;
}
