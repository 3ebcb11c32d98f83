// wharf history / wharf restore: a tag's (or a repository's) history and restoring a tag to an earlier
// digest, through a Wharf registry's /api/v1/repositories API, in any auth mode. The registry is
// --registry, or the host that starts REPO (`localhost:5000/team/app:v1`); credentials and TLS as for
// `wharf admin` (the login `wharf login` stored, certs.d, --tls-verify); without a stored login the
// calls go out anonymously (an open registry).
import type { Command } from 'commander';
import { adminAction, clientOptions, table, usageExitCodes, UsageError, when, type CommonFlags } from './admin-common.js';

/** REPO[:TAG], with the registry host first when --registry is not given. */
interface Target { registry: string | null; repository: string; tag: string | null }

/** A first component with a dot or a port, or `localhost`, is a registry host (as Docker references read). */
function parseTarget(arg: string, registryFlag: string | undefined): Target {
  let rest = arg;
  let registry: string | null = null;
  if (registryFlag === undefined) {
    const slash = arg.indexOf('/');
    const first = slash < 0 ? '' : arg.slice(0, slash);
    if (!(first.includes('.') || first.includes(':') || first === 'localhost')) {
      throw new UsageError(`name the registry: --registry HOST[:PORT], or REPO as HOST[:PORT]/NAME (got ${JSON.stringify(arg)})`);
    }
    registry = first;
    rest = arg.slice(slash + 1);
  }
  const colon = rest.lastIndexOf(':');
  const tag = colon > rest.lastIndexOf('/') && colon >= 0 ? rest.slice(colon + 1) : null;
  const repository = tag === null ? rest : rest.slice(0, colon);
  if (repository === '' || tag === '') throw new UsageError(`expected REPO[:TAG], got ${JSON.stringify(arg)}`);
  return { registry, repository, tag };
}

const registryFrom = (cmd: Command) => (args: string[]): string => parseTarget(args[0] ?? '', cmd.opts<CommonFlags>().registry).registry ?? '';

export function registerHistory(program: Command): void {
  const cmd = usageExitCodes(clientOptions(program.command('history')
    .description('show a tag\'s history (REPO:TAG) or a repository\'s (REPO), newest first, and what can still be restored')
    .argument('<repo[:tag]>', 'HOST[:PORT]/NAME[:TAG], or NAME[:TAG] with --registry')
    .option('--registry <host[:port]>', 'the registry (credentials from `wharf login` for it)')));
  adminAction<CommonFlags>(cmd, async (ctx, args, flags) => {
    const t = parseTarget(args[0]!, flags.registry);
    const items = await (await ctx.client()).history(t.repository, t.tag ?? undefined);
    ctx.print({ repository: t.repository, ...(t.tag === null ? {} : { tag: t.tag }), items }, () => table(['TAG', 'DIGEST', 'AT', 'RESTORABLE'],
      items.map((e) => [e.tag, e.digest ?? '(deleted)', when(e.at), e.restorable ? 'yes' : 'no'])));
  }, { registryFrom: registryFrom(cmd), anonymous: true });
}

export function registerRestore(program: Command): void {
  const cmd = usageExitCodes(clientOptions(program.command('restore')
    .description('point a tag back at a digest it had (within history.keep), or undo its last delete with --undelete')
    .argument('<repo:tag>', 'HOST[:PORT]/NAME:TAG, or NAME:TAG with --registry')
    .argument('[digest]', 'the earlier digest (sha256:…)')
    .option('--undelete', 'point the tag back at the digest it had before it was deleted')
    .option('--registry <host[:port]>', 'the registry (credentials from `wharf login` for it)')));
  adminAction<CommonFlags & { undelete?: boolean }>(cmd, async (ctx, args, flags) => {
    const t = parseTarget(args[0]!, flags.registry);
    if (t.tag === null) throw new UsageError('name the tag: REPO:TAG');
    const digest = args[1];
    if ((digest === undefined) === (flags.undelete !== true)) throw new UsageError('give either a DIGEST or --undelete');
    if (digest !== undefined && !/^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(digest)) throw new UsageError(`not a digest: ${JSON.stringify(digest)}`);
    const r = await (await ctx.client()).restore(t.repository, t.tag, digest === undefined ? { undelete: true } : { digest });
    ctx.print(r, () => [`${r.repository}:${r.tag} now points at ${r.digest}`]);
  }, { registryFrom: registryFrom(cmd), anonymous: true });
}
