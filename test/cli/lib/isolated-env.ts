// A private environment for running `wharf` in CLI tests: its own HOME, XDG dirs, an empty
// registries.conf, and a default auth file nobody else uses, all under one temp directory.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function isolatedCliEnv(prefix: string): { root: string; env: NodeJS.ProcessEnv } {
  const root = mkdtempSync(join(tmpdir(), prefix));
  mkdirSync(join(root, 'home'));
  mkdirSync(join(root, 'xdg'));
  writeFileSync(join(root, 'registries.conf'), '');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH, LANG: 'C.UTF-8', HOME: join(root, 'home'), XDG_RUNTIME_DIR: join(root, 'xdg'),
    XDG_CONFIG_HOME: join(root, 'home', '.config'), CONTAINERS_REGISTRIES_CONF: join(root, 'registries.conf'),
    // Never used when --authfile is given; a login missing from it must not be found elsewhere.
    REGISTRY_AUTH_FILE: join(root, 'default.auth.json'),
  };
  return { root, env };
}
