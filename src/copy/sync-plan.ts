// What `wharf sync` copies: (source image, destination image) pairs built from a repository, a
// directory of dir: images, or skopeo's YAML list; filtered by tag regexes and semver ranges.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { parse as parseYaml } from 'yaml';
import semver from 'semver';
import { parseReference, type Reference } from '../oci/reference.js';
import { WharfError } from '../oci/errors.js';

export interface TagFilter {
  include: RegExp[];
  exclude: RegExp[];
  /** A semver range such as ">=1.2 <2"; tags that are not versions are left out when set. */
  semverRange?: string;
}

export interface SyncAccess {
  creds?: string;
  tlsVerify?: boolean;
  certDir?: string;
}

export interface SyncItem {
  /** Transport name of the source image, e.g. docker://r/app:1 */
  source: string;
  /** Transport name of the destination image. */
  destination: string;
  /** Registry access for the source, from YAML (credentials, tls-verify, cert-dir). */
  sourceAccess?: SyncAccess;
}

export class SyncError extends WharfError {}

export function tagMatches(tag: string, f: TagFilter): boolean {
  if (f.include.length > 0 && !f.include.some((r) => r.test(tag))) return false;
  if (f.exclude.some((r) => r.test(tag))) return false;
  if (f.semverRange) {
    const v = semver.valid(tag.replace(/^v/, ''));
    if (!v || !semver.satisfies(v, f.semverRange, { includePrerelease: false })) return false;
  }
  return true;
}

/** Where an image lands: `docker` dest joins registry[/prefix] and the repository's last part (or all of it with scoped). */
export function destinationFor(destKind: 'docker' | 'dir', dest: string, ref: Reference, tag: string, scoped: boolean): string {
  const base = dest.replace(/\/+$/, '');
  const name = scoped ? `${ref.registry}/${ref.repository}` : ref.repository.split('/').pop()!;
  return destKind === 'docker' ? `docker://${base}/${name}:${tag}` : `dir:${join(base, `${name}:${tag}`)}`;
}

export type ListTags = (ref: Reference, access?: SyncAccess) => Promise<string[]>;

/** --src docker: SOURCE is registry/repository (every tag that passes the filter) or registry/repository:tag. */
export async function planFromRepository(source: string, destKind: 'docker' | 'dir', dest: string, filter: TagFilter, scoped: boolean, listTags: ListTags): Promise<SyncItem[]> {
  const ref = parseReference(source.replace(/^docker:\/\//, ''));
  if (ref.digest) throw new SyncError('sync copies tags: a source pinned by digest is not supported');
  const tags = ref.tag ? [ref.tag] : (await listTags(ref)).filter((t) => tagMatches(t, filter));
  return tags.map((tag) => ({
    source: `docker://${ref.registry}/${ref.repository}:${tag}`,
    destination: destinationFor(destKind, dest, ref, tag, scoped),
  }));
}

/** --src dir: every dir: image (a folder holding manifest.json) below SOURCE; its relative path names it. */
export async function planFromDirectory(source: string, destKind: 'docker' | 'dir', dest: string): Promise<SyncItem[]> {
  const items: SyncItem[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    if (depth > 16) return;
    const entries = await readdir(dir, { withFileTypes: true });
    if (entries.some((e) => e.isFile() && e.name === 'manifest.json')) {
      const rel = relative(source, dir) || '.';
      const base = dest.replace(/\/+$/, '');
      const hasTag = /:[^/]+$/.test(rel);
      items.push({ source: `dir:${dir}`, destination: destKind === 'docker' ? `docker://${base}/${hasTag ? rel : `${rel}:latest`}` : `dir:${join(base, rel)}` });
      return;
    }
    for (const e of entries) if (e.isDirectory()) await walk(join(dir, e.name), depth + 1);
  };
  if (!(await stat(source).catch(() => null))?.isDirectory()) throw new SyncError(`${source} is not a directory`);
  await walk(source, 0);
  return items;
}

interface YamlRegistry {
  images?: Record<string, string[] | null>;
  'images-by-tag-regex'?: Record<string, string>;
  'images-by-semver'?: Record<string, string>;
  credentials?: { username?: string; password?: string };
  'tls-verify'?: boolean;
  'cert-dir'?: string;
}

/** --src yaml: skopeo's format — registries, each with images (tags, or all), images-by-tag-regex, images-by-semver. */
export async function planFromYaml(file: string, destKind: 'docker' | 'dir', dest: string, filter: TagFilter, scoped: boolean, listTags: ListTags): Promise<SyncItem[]> {
  const doc = parseYaml(await readFile(file, 'utf8')) as Record<string, YamlRegistry> | null;
  if (!doc || typeof doc !== 'object') throw new SyncError(`${file}: expected a mapping of registries`);
  const items: SyncItem[] = [];
  for (const [registry, cfg] of Object.entries(doc)) {
    const access: SyncAccess = {
      creds: cfg.credentials?.username ? `${cfg.credentials.username}:${cfg.credentials.password ?? ''}` : undefined,
      tlsVerify: cfg['tls-verify'],
      certDir: cfg['cert-dir'],
    };
    const add = (ref: Reference, tags: string[]): void => {
      for (const tag of tags) {
        items.push({ source: `docker://${ref.registry}/${ref.repository}:${tag}`, destination: destinationFor(destKind, dest, ref, tag, scoped), sourceAccess: access });
      }
    };
    for (const [repo, tags] of Object.entries(cfg.images ?? {})) {
      const ref = parseReference(`${registry}/${repo}`);
      add(ref, tags && tags.length > 0 ? tags : (await listTags(ref, access)).filter((t) => tagMatches(t, filter)));
    }
    for (const [repo, re] of Object.entries(cfg['images-by-tag-regex'] ?? {})) {
      const ref = parseReference(`${registry}/${repo}`);
      const r = new RegExp(re);
      add(ref, (await listTags(ref, access)).filter((t) => r.test(t) && tagMatches(t, filter)));
    }
    for (const [repo, range] of Object.entries(cfg['images-by-semver'] ?? {})) {
      if (!semver.validRange(range)) throw new SyncError(`${file}: ${registry}/${repo}: invalid semver range ${range}`);
      const ref = parseReference(`${registry}/${repo}`);
      add(ref, (await listTags(ref, access)).filter((t) => tagMatches(t, { ...filter, semverRange: range })));
    }
  }
  return items;
}
