// wharf <command>: the registry server and the client commands (skopeo's surface).
// Each command's module is loaded only when that command runs: a `wharf copy` never loads the server.
import { Command } from 'commander';
import { normalizeBoolFlags } from './flags.js';
import { WHARF_VERSION } from '../config/version.js';

type Register = (program: Command) => void;

const commands: Record<string, () => Promise<Register[]>> = {
  serve: async () => [(await import('./commands/serve.js')).registerServe],
  copy: async () => [(await import('./commands/copy.js')).registerCopy],
  inspect: async () => [(await import('./commands/inspect.js')).registerInspect],
  'list-tags': async () => [(await import('./commands/simple.js')).registerListTags],
  delete: async () => [(await import('./commands/simple.js')).registerDelete],
  'manifest-digest': async () => [(await import('./commands/simple.js')).registerManifestDigest],
  sync: async () => [(await import('./commands/sync.js')).registerSync],
  import: async () => [(await import('./commands/import-export.js')).registerImportExport],
  export: async () => [(await import('./commands/import-export.js')).registerImportExport],
  login: async () => [(await import('./commands/login.js')).registerLogin],
  logout: async () => [(await import('./commands/login.js')).registerLogout],
  certs: async () => [(await import('./commands/certs.js')).registerCerts],
  gc: async () => [(await import('./commands/gc.js')).registerGc],
  fsck: async () => [(await import('./commands/gc.js')).registerFsck],
  'import-distribution': async () => [(await import('./commands/import-distribution.js')).registerImportDistribution],
  admin: async () => [(await import('./commands/admin.js')).registerAdmin],
  history: async () => [(await import('./commands/history.js')).registerHistory],
  restore: async () => [(await import('./commands/history.js')).registerRestore],
  auth: async () => [(await import('./commands/kube-secret.js')).registerAuth],
};

async function main(argv: string[]): Promise<void> {
  const program = new Command();
  program.name('wharf').description('Wharf: a container image registry and registry client').version(WHARF_VERSION);
  const name = argv.slice(2).find((a) => !a.startsWith('-'));
  const wanted = name !== undefined && name in commands ? [commands[name]!] : Object.values(commands);
  const registered = new Set<Register>();
  for (const load of wanted) {
    for (const register of await load()) {
      if (registered.has(register)) continue;
      registered.add(register);
      register(program);
    }
  }
  await program.parseAsync(argv);
}

main(normalizeBoolFlags(process.argv)).catch((e: unknown) => {
  process.stderr.write(`wharf: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
