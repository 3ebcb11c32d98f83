// The six places an image can be copied to or from in these tests: the four local transports and the two
// registries (Wharf and Distribution, both plain HTTP).
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Cli } from './cli.js';
import { dockerRef, repoName, type Registry, type TargetName } from './registries.js';

export type Kind = 'oci' | 'dir' | 'oci-archive' | 'docker-archive' | TargetName;

export const KINDS: readonly Kind[] = ['oci', 'dir', 'oci-archive', 'docker-archive', 'wharf', 'distribution'];

export function isRegistry(k: Kind): k is TargetName {
  return k === 'wharf' || k === 'distribution';
}

export interface Location {
  kind: Kind;
  /** The name to write to. */
  write: string;
  /** The name to read the image back with (the same, except that docker-archive readers may omit nothing). */
  read: string;
}

/** A new, not yet existing, location of `kind`, tagged `tag` where the transport has tags. */
export function freshLocation(cli: Cli, kind: Kind, regs: Record<TargetName, Registry>, label: string, tag = 'copied'): Location {
  switch (kind) {
    case 'oci': {
      const n = `oci:${cli.path(`oci-${label}`)}:${tag}`;
      return { kind, write: n, read: n };
    }
    case 'dir': {
      const n = `dir:${cli.path(`dir-${label}`)}`;
      return { kind, write: n, read: n };
    }
    case 'oci-archive': {
      const n = `oci-archive:${cli.path(`ociarch-${label}`)}.tar:${tag}`;
      return { kind, write: n, read: n };
    }
    case 'docker-archive': {
      const n = `docker-archive:${cli.path(`dockarch-${label}`)}.tar:cli/${label}:${tag}`;
      return { kind, write: n, read: n };
    }
    default: {
      const n = dockerRef(regs[kind], repoName(label), tag);
      return { kind, write: n, read: n };
    }
  }
}

/** --src-tls-verify=false / --dest-tls-verify=false where that side is a plain-HTTP registry. */
export function copyTlsFlags(src: Kind, dest: Kind): string[] {
  return [...(isRegistry(src) ? ['--src-tls-verify=false'] : []), ...(isRegistry(dest) ? ['--dest-tls-verify=false'] : [])];
}

/** --tls-verify=false for a plain-HTTP registry name. */
export function tlsFlags(name: string): string[] {
  return name.startsWith('docker://') ? ['--tls-verify=false'] : [];
}

export interface ReadBack {
  dir: string;
  /** The top-level manifest bytes as stored at the location. */
  manifest: Buffer;
  /** File names in the dir: copy. */
  files: string[];
  file(name: string): Buffer;
}

/**
 * Reads the image at `name` back with skopeo into a fresh dir: (skopeo verifies every blob's digest on the way;
 * --preserve-digests makes sure the manifest bytes are copied verbatim). `all` copies every child of an index.
 */
export async function readBack(cli: Cli, name: string, all = false): Promise<ReadBack> {
  const dir = cli.path('readback');
  await cli.skopeo(['copy', '--quiet', '--preserve-digests', ...(all ? ['--all'] : []), ...(name.startsWith('docker://') ? ['--src-tls-verify=false'] : []), name, `dir:${dir}`]);
  return {
    dir,
    manifest: readFileSync(join(dir, 'manifest.json')),
    files: readdirSync(dir).sort(),
    file: (n) => readFileSync(join(dir, n)),
  };
}

export const hex = (digest: string): string => digest.slice('sha256:'.length);
