// containers-registries.conf(5) and containers-registries.conf.d(5), following containers/image's sysregistriesv2.
// Files: the main file is $CONTAINERS_REGISTRIES_CONF (or an explicit path), else ~/.config/containers/registries.conf
// if it exists, else /etc/containers/registries.conf. Drop-ins (*.conf, in name order) are read after it from
// /etc/containers/registries.conf.d then ~/.config/containers/registries.conf.d — only the latter when the per-user
// main file is used. A later file replaces [[registry]] tables with the same prefix, overrides
// unqualified-search-registries / short-name-mode / credential-helpers when it sets them, and adds or (with "")
// erases aliases.
// Matching: the [[registry]] whose prefix is the longest match of "host[:port]/repo" wins; a prefix matches when the
// reference equals it or continues with ':', '/' or '@'; "*.example.com" matches any subdomain of example.com.
import { existsSync } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { WharfError } from '../oci/errors.js';

export type PullFromMirror = 'all' | 'digest-only' | 'tag-only';
export type ShortNameMode = 'enforcing' | 'permissive' | 'disabled';

export interface MirrorEntry {
  location: string;
  insecure: boolean;
  /** '' (unset) behaves as 'all'. */
  pullFromMirror: PullFromMirror | '';
}

export interface RegistryEntry {
  prefix: string;
  /** '' only for a "*.example.com" prefix: references are used as they are. */
  location: string;
  insecure: boolean;
  blocked: boolean;
  mirrorByDigestOnly: boolean;
  mirrors: MirrorEntry[];
}

export interface RegistriesConf {
  unqualifiedSearchRegistries: string[];
  /** Sorted by prefix, one per prefix. */
  registries: RegistryEntry[];
  /** Resolved: 'permissive' when no file sets it. */
  shortNameMode: ShortNameMode;
  aliases: Record<string, string>;
  /** ["containers-auth.json"] when no file sets it. */
  credentialHelpers: string[];
  /** The files that were read, in order. */
  files: string[];
}

export interface LoadRegistriesConfOptions {
  /** The main file (like --registries-conf); overrides $CONTAINERS_REGISTRIES_CONF. A missing explicit file is an error. */
  path?: string;
  env?: NodeJS.ProcessEnv;
  /** Drop-in directories, in order (default: see above). */
  dropInDirs?: string[];
  /** System main file used when no per-user one exists (default /etc/containers/registries.conf). */
  systemPath?: string;
}

export class RegistriesConfError extends WharfError {
  constructor(message: string, readonly path?: string) {
    super(message);
    this.name = 'RegistriesConfError';
  }
}

const SYSTEM_CONF = '/etc/containers/registries.conf';
const SYSTEM_CONF_D = '/etc/containers/registries.conf.d';

/** One file's settings before merging; undefined = not set in that file. */
interface PartialConf {
  unqualifiedSearchRegistries?: string[];
  registries: RegistryEntry[];
  shortNameMode?: ShortNameMode | '';
  aliases: Record<string, string>;
  credentialHelpers?: string[];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fail(path: string, msg: string): never {
  throw new RegistriesConfError(`${path}: ${msg}`, path);
}

function str(path: string, table: Record<string, unknown>, key: string, where: string): string {
  const v = table[key];
  if (v === undefined) return '';
  if (typeof v !== 'string') fail(path, `${where}${key} must be a string`);
  return v;
}

function bool(path: string, table: Record<string, unknown>, key: string, where: string): boolean {
  const v = table[key];
  if (v === undefined) return false;
  if (typeof v !== 'boolean') fail(path, `${where}${key} must be true or false`);
  return v;
}

function strArray(path: string, v: unknown, what: string): string[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) fail(path, `${what} must be an array of strings`);
  return v as string[];
}

/** Trims trailing slashes; refuses URL schemes (as containers/image's parseLocation). */
function parseLocation(path: string, input: string): string {
  const trimmed = input.replace(/\/+$/, '');
  if (trimmed.startsWith('http://') || trimmed.startsWith('https://')) {
    fail(path, `invalid location '${input}': URI schemes are not supported`);
  }
  return trimmed;
}

function hasDomain(name: string): boolean {
  const slash = name.indexOf('/');
  if (slash === -1) return false;
  const first = name.slice(0, slash);
  return first.includes('.') || first.includes(':') || first === 'localhost';
}

function hasTagOrDigest(name: string): boolean {
  if (name.includes('@')) return true;
  const lastSlash = name.lastIndexOf('/');
  return name.slice(lastSlash + 1).includes(':');
}

/** Parses the text of one registries.conf file (v2, or the deprecated v1 [registries.*] format). */
export function parseRegistriesConf(text: string, path = 'registries.conf'): PartialConf {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (err) {
    throw new RegistriesConfError(`loading registries configuration ${JSON.stringify(path)}: ${(err as Error).message}`, path);
  }
  const out: PartialConf = { registries: [], aliases: {} };

  const v1 = doc.registries;
  const hasV2 = doc.registry !== undefined || doc['unqualified-search-registries'] !== undefined;
  if (v1 !== undefined) {
    if (hasV2) fail(path, 'mixing sysregistry v1/v2 is not supported');
    convertV1(path, v1, out);
  }

  if (doc['unqualified-search-registries'] !== undefined) {
    out.unqualifiedSearchRegistries = strArray(path, doc['unqualified-search-registries'], 'unqualified-search-registries').map(
      (r) => parseLocation(path, r),
    );
  }
  if (doc['credential-helpers'] !== undefined) {
    out.credentialHelpers = strArray(path, doc['credential-helpers'], 'credential-helpers');
  }
  if (doc['short-name-mode'] !== undefined) {
    const m = doc['short-name-mode'];
    if (m !== '' && m !== 'enforcing' && m !== 'permissive' && m !== 'disabled') {
      fail(path, `invalid short-name mode: ${JSON.stringify(m)}`);
    }
    out.shortNameMode = m;
  }
  if (doc.aliases !== undefined) {
    if (!isRecord(doc.aliases)) fail(path, '[aliases] must be a table');
    for (const [name, value] of Object.entries(doc.aliases)) {
      if (typeof value !== 'string') fail(path, `alias ${JSON.stringify(name)} must be a string`);
      if (hasDomain(name)) fail(path, `invalid alias ${JSON.stringify(name)}: must be a short name, without a registry`);
      if (hasTagOrDigest(name)) fail(path, `invalid alias ${JSON.stringify(name)}: must not contain a tag or digest`);
      if (value !== '') {
        if (!hasDomain(value)) fail(path, `invalid alias value ${JSON.stringify(value)}: must be fully qualified`);
        if (hasTagOrDigest(value)) fail(path, `invalid alias value ${JSON.stringify(value)}: must not contain a tag or digest`);
      }
      out.aliases[name] = value;
    }
  }
  if (doc.registry !== undefined) {
    if (!Array.isArray(doc.registry)) fail(path, 'registry must be an array of tables ([[registry]])');
    for (const [i, r] of doc.registry.entries()) {
      if (!isRecord(r)) fail(path, `registry[${i}] must be a table`);
      out.registries.push(parseRegistryTable(path, r, `registry[${i}].`));
    }
  }
  postProcess(path, out);
  return out;
}

function parseRegistryTable(path: string, r: Record<string, unknown>, where: string): RegistryEntry {
  if (r['pull-from-mirror'] !== undefined) {
    fail(path, `pull-from-mirror must not be set for a non-mirror registry (${where.slice(0, -1)})`);
  }
  const entry: RegistryEntry = {
    prefix: str(path, r, 'prefix', where),
    location: str(path, r, 'location', where),
    insecure: bool(path, r, 'insecure', where),
    blocked: bool(path, r, 'blocked', where),
    mirrorByDigestOnly: bool(path, r, 'mirror-by-digest-only', where),
    mirrors: [],
  };
  if (r.mirror !== undefined) {
    if (!Array.isArray(r.mirror)) fail(path, `${where}mirror must be an array of tables ([[registry.mirror]])`);
    for (const [j, m] of r.mirror.entries()) {
      const mw = `${where}mirror[${j}].`;
      if (!isRecord(m)) fail(path, `${mw.slice(0, -1)} must be a table`);
      const pull = str(path, m, 'pull-from-mirror', mw);
      if (pull !== '' && pull !== 'all' && pull !== 'digest-only' && pull !== 'tag-only') {
        fail(path, `unsupported pull-from-mirror value ${JSON.stringify(pull)} for mirror ${JSON.stringify(m.location)}`);
      }
      entry.mirrors.push({ location: str(path, m, 'location', mw), insecure: bool(path, m, 'insecure', mw), pullFromMirror: pull });
    }
  }
  return entry;
}

function convertV1(path: string, v1: unknown, out: PartialConf): void {
  if (!isRecord(v1)) fail(path, '[registries] must be a table');
  const list = (section: string): string[] => {
    const t = v1[section];
    if (t === undefined) return [];
    if (!isRecord(t)) fail(path, `[registries.${section}] must be a table`);
    if (t.registries === undefined) return [];
    return strArray(path, t.registries, `registries.${section}.registries`);
  };
  const byLocation = new Map<string, RegistryEntry>();
  const get = (location: string): RegistryEntry => {
    let e = byLocation.get(location);
    if (!e) {
      e = { prefix: '', location, insecure: false, blocked: false, mirrorByDigestOnly: false, mirrors: [] };
      byLocation.set(location, e);
      out.registries.push(e);
    }
    return e;
  };
  const search = list('search');
  for (const r of search) get(r);
  for (const r of list('insecure')) get(r).insecure = true;
  for (const r of list('block')) get(r).blocked = true;
  if (search.length > 0) out.unqualifiedSearchRegistries = search;
}

/** Validation and normalisation as in containers/image's postProcessRegistries. */
function postProcess(path: string, conf: PartialConf): void {
  for (const reg of conf.registries) {
    reg.location = parseLocation(path, reg.location);
    if (reg.prefix === '') {
      if (reg.location === '') fail(path, 'invalid condition: both location and prefix are unset');
      reg.prefix = reg.location;
    } else {
      reg.prefix = parseLocation(path, reg.prefix);
      if (reg.prefix.startsWith('*.')) {
        if (/[/:]/.test(reg.prefix)) {
          fail(path, `invalid prefix ${JSON.stringify(reg.prefix)}: a wildcard prefix must be of the form *.example.com`);
        }
      } else if (reg.location === '') {
        fail(path, 'invalid condition: location is unset and prefix is not in the format: *.example.com');
      }
    }
    if (reg.prefix.includes('*') && !reg.prefix.startsWith('*.')) {
      fail(path, `invalid prefix ${JSON.stringify(reg.prefix)}: wildcards are only allowed at the beginning (*.example.com)`);
    }
    for (const mir of reg.mirrors) {
      mir.location = parseLocation(path, mir.location);
      if (mir.location === '') fail(path, 'invalid condition: mirror location is unset');
      if (reg.mirrorByDigestOnly && mir.pullFromMirror !== '') {
        fail(
          path,
          `cannot set mirror usage mirror-by-digest-only for the registry (${JSON.stringify(reg.location)}) and ` +
            `pull-from-mirror for per-mirror (${JSON.stringify(mir.location)}) at the same time`,
        );
      }
    }
  }
  // Entries for the same location (or wildcard prefix) must agree on insecure and blocked.
  const byLocation = new Map<string, RegistryEntry[]>();
  for (const reg of conf.registries) {
    const k = reg.location === '' ? reg.prefix : reg.location;
    byLocation.set(k, [...(byLocation.get(k) ?? []), reg]);
  }
  for (const regs of byLocation.values()) {
    for (const other of regs.slice(1)) {
      if (other.insecure !== regs[0]!.insecure) {
        fail(path, `registry '${other.location}' is defined multiple times with conflicting 'insecure' setting`);
      }
      if (other.blocked !== regs[0]!.blocked) {
        fail(path, `registry '${other.location}' is defined multiple times with conflicting 'blocked' setting`);
      }
    }
  }
  // Within one file the first table for a prefix wins; keep them sorted by prefix.
  conf.registries = sortedUnique(conf.registries, false);
}

function sortedUnique(regs: RegistryEntry[], lastWins: boolean): RegistryEntry[] {
  const map = new Map<string, RegistryEntry>();
  for (const r of regs) if (lastWins || !map.has(r.prefix)) map.set(r.prefix, r);
  return [...map.keys()].sort().map((k) => map.get(k)!);
}

async function dropInFiles(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const name of names.sort()) {
    if (!name.endsWith('.conf')) continue;
    const full = join(dir, name);
    try {
      if ((await stat(full)).isFile()) out.push(full);
    } catch {
      /* vanished or unreadable entry: skip */
    }
  }
  return out;
}

/** The files loadRegistriesConf reads, with whether the main one must exist. */
export async function registriesConfFiles(
  opts: LoadRegistriesConfOptions = {},
): Promise<{ main: string; mainRequired: boolean; dropIns: string[] }> {
  const env = opts.env ?? process.env;
  const home = env.HOME || homedir();
  const userConf = join(home, '.config', 'containers', 'registries.conf');
  const userConfD = join(home, '.config', 'containers', 'registries.conf.d');
  const explicit = opts.path || env.CONTAINERS_REGISTRIES_CONF || '';
  let main: string;
  let dirs: string[];
  if (explicit) {
    main = explicit;
    dirs = [SYSTEM_CONF_D, userConfD];
  } else if (existsSync(userConf)) {
    main = userConf;
    dirs = [userConfD];
  } else {
    main = opts.systemPath ?? SYSTEM_CONF;
    dirs = [SYSTEM_CONF_D, userConfD];
  }
  if (opts.dropInDirs) dirs = opts.dropInDirs;
  const dropIns: string[] = [];
  for (const d of dirs) dropIns.push(...(await dropInFiles(d)));
  return { main, mainRequired: explicit !== '', dropIns };
}

function emptyConf(): RegistriesConf {
  return {
    unqualifiedSearchRegistries: [],
    registries: [],
    shortNameMode: 'permissive',
    aliases: {},
    credentialHelpers: ['containers-auth.json'],
    files: [],
  };
}

/** Merges parsed files in order (later ones override earlier ones) into a configuration. */
export function mergeRegistriesConf(parts: PartialConf[], files: string[] = []): RegistriesConf {
  let registries: RegistryEntry[] = [];
  let search: string[] = [];
  let mode: ShortNameMode | '' = '';
  let helpers: string[] | undefined;
  const aliases: Record<string, string> = {};
  for (const p of parts) {
    registries = sortedUnique([...registries, ...p.registries], true);
    if (p.unqualifiedSearchRegistries !== undefined) search = p.unqualifiedSearchRegistries;
    if (p.shortNameMode !== undefined && p.shortNameMode !== '') mode = p.shortNameMode;
    if (p.credentialHelpers !== undefined) helpers = p.credentialHelpers;
    for (const [k, v] of Object.entries(p.aliases)) {
      if (v === '') delete aliases[k];
      else aliases[k] = v;
    }
  }
  const conf = emptyConf();
  conf.registries = registries;
  conf.unqualifiedSearchRegistries = search;
  conf.shortNameMode = mode || 'permissive';
  conf.aliases = aliases;
  if (helpers !== undefined && helpers.length > 0) conf.credentialHelpers = helpers;
  conf.files = files;
  return conf;
}

/** Loads the main registries.conf and its drop-ins. A missing default main file reads as empty. */
export async function loadRegistriesConf(opts: LoadRegistriesConfOptions = {}): Promise<RegistriesConf> {
  const { main, mainRequired, dropIns } = await registriesConfFiles(opts);
  const parts: PartialConf[] = [];
  const files: string[] = [];
  let mainText: string | null = null;
  try {
    mainText = await readFile(main, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || mainRequired) {
      throw new RegistriesConfError(`loading registries configuration ${JSON.stringify(main)}: ${(err as Error).message}`, main);
    }
  }
  if (mainText !== null) {
    parts.push(parseRegistriesConf(mainText, main));
    files.push(main);
  }
  for (const f of dropIns) {
    let text: string;
    try {
      text = await readFile(f, 'utf8');
    } catch (err) {
      throw new RegistriesConfError(`loading drop-in registries configuration ${JSON.stringify(f)}: ${(err as Error).message}`, f);
    }
    parts.push(parseRegistriesConf(text, f));
    files.push(f);
  }
  return mergeRegistriesConf(parts, files);
}

/**
 * Length of the match of `prefix` against `ref` (host[:port][/repo[:tag|@digest]]), or -1 when it doesn't match.
 * For a wildcard prefix the match ends after the matched host.
 */
export function refMatchingPrefix(ref: string, prefix: string): number {
  if (prefix.startsWith('*.')) {
    const suffix = prefix.slice(1); // ".example.com"
    const index = ref.indexOf(suffix);
    if (index <= 0 || ref.slice(0, index).includes('/')) return -1;
    const end = index + suffix.length;
    if (end === ref.length) return end;
    return ref[end] === ':' || ref[end] === '/' || ref[end] === '@' ? end : -1;
  }
  if (ref.length < prefix.length) return -1;
  if (ref.length === prefix.length) return ref === prefix ? prefix.length : -1;
  if (!ref.startsWith(prefix)) return -1;
  const c = ref[prefix.length];
  return c === ':' || c === '/' || c === '@' ? prefix.length : -1;
}

function refString(reference: { registry: string; repository?: string } | string): string {
  if (typeof reference === 'string') return reference;
  return reference.repository ? `${reference.registry}/${reference.repository}` : reference.registry;
}

/** The [[registry]] table with the longest prefix matching the reference, or null. */
export function findRegistry(
  conf: RegistriesConf,
  reference: { registry: string; repository?: string } | string,
): RegistryEntry | null {
  const ref = refString(reference);
  let best: RegistryEntry | null = null;
  for (const r of conf.registries) {
    if (refMatchingPrefix(ref, r.prefix) !== -1 && (!best || r.prefix.length > best.prefix.length)) best = r;
  }
  return best;
}

/** Whether TLS may be skipped / unverified for `registry` (host[:port]), as containers/image decides it. */
export function isInsecure(conf: RegistriesConf, registry: string): boolean {
  return findRegistry(conf, registry)?.insecure ?? false;
}

/** Whether pulling the reference (or anything from the registry, given just host[:port]) is forbidden. */
export function isBlocked(conf: RegistriesConf, reference: { registry: string; repository?: string } | string): boolean {
  return findRegistry(conf, reference)?.blocked ?? false;
}

export interface PullSource {
  /** The endpoint's host[:port]/repo to pull from. */
  registry: string;
  repository: string;
  insecure: boolean;
  mirror: boolean;
}

/**
 * Where to pull `reference` from, in order: the applicable mirrors, then the primary location (the reference itself
 * when no [[registry]] matches). `byDigest` tells whether the pull is by digest (for mirror-by-digest-only and
 * pull-from-mirror).
 */
export function pullSources(
  conf: RegistriesConf,
  reference: { registry: string; repository: string },
  byDigest: boolean,
): PullSource[] {
  const ref = refString(reference);
  const reg = findRegistry(conf, reference);
  if (!reg) return [{ registry: reference.registry, repository: reference.repository, insecure: false, mirror: false }];
  const endpoints: { location: string; insecure: boolean; mirror: boolean }[] = [];
  for (const m of reg.mirrors) {
    if (reg.mirrorByDigestOnly && !byDigest) continue;
    if (m.pullFromMirror === 'digest-only' && !byDigest) continue;
    if (m.pullFromMirror === 'tag-only' && byDigest) continue;
    endpoints.push({ location: m.location, insecure: m.insecure, mirror: true });
  }
  endpoints.push({ location: reg.location, insecure: reg.insecure, mirror: false });
  const matchLen = refMatchingPrefix(ref, reg.prefix);
  const out: PullSource[] = [];
  for (const ep of endpoints) {
    const rewritten = ep.location === '' ? ref : ep.location + ref.slice(matchLen);
    const slash = rewritten.indexOf('/');
    if (slash === -1) continue; // a location without a repository can't name an image
    out.push({ registry: rewritten.slice(0, slash), repository: rewritten.slice(slash + 1), insecure: ep.insecure, mirror: ep.mirror });
  }
  return out;
}

/** The fully-qualified name a short-name alias points to (tag/digest stripped before lookup), or null. */
export function resolveAlias(conf: RegistriesConf, shortName: string): string | null {
  let name = shortName;
  const at = name.indexOf('@');
  if (at !== -1) name = name.slice(0, at);
  const colon = name.lastIndexOf(':');
  if (colon > name.lastIndexOf('/')) name = name.slice(0, colon);
  return conf.aliases[name] ?? null;
}
