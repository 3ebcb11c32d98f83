// The htpasswd file: `user:hash` lines as `htpasswd -B` writes them, and a watch that notices when
// it is replaced or rewritten. Only bcrypt is accepted; every message names the file, the line and
// the user, never the hash.
import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ConfigError } from '../config/config.js';

/** An htpasswd file Wharf cannot use: at start, a configuration error (exit 2). */
export class HtpasswdFileError extends ConfigError {
  constructor(message: string, readonly path: string, readonly line?: number) {
    super(message);
    this.name = 'HtpasswdFileError';
  }
}

/** bcrypt in the modular crypt format: $2a$/$2b$/$2y$, a two-digit cost, 22 + 31 characters. */
const BCRYPT = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;

/** What a refused hash is, for the message (the hash itself is never shown). */
function hashKind(hash: string): string {
  if (hash.startsWith('$apr1$')) return 'MD5 ($apr1$, htpasswd -m)';
  if (hash.startsWith('{SHA}')) return 'SHA-1 ({SHA}, htpasswd -s)';
  if (hash.startsWith('$1$')) return 'MD5-crypt ($1$)';
  if (hash.startsWith('$5$')) return 'SHA-256-crypt ($5$)';
  if (hash.startsWith('$6$')) return 'SHA-512-crypt ($6$)';
  if (/^\$2[aby]\$/.test(hash)) return 'a malformed bcrypt hash';
  if (hash === '') return 'empty';
  return 'crypt or plain text (htpasswd -d or -p)';
}

export interface HtpasswdEntry {
  /** The bcrypt hash, with `$2y$` (Apache's name) written as the equivalent `$2b$` the bcrypt package verifies. */
  hash: string;
  cost: number;
}

/** Parses an htpasswd file's text; throws HtpasswdFileError at the first line it cannot accept. */
export function parseHtpasswd(text: string, path: string): Map<string, HtpasswdEntry> {
  const users = new Map<string, HtpasswdEntry>();
  const firstLine = new Map<string, number>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new HtpasswdFileError(`${path}:${n}: expected "user:hash"`, path, n);
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1).trim();
    const m = BCRYPT.exec(hash);
    if (!m) {
      throw new HtpasswdFileError(
        `${path}:${n}: user "${user}": the password hash is ${hashKind(hash)}; only bcrypt is accepted (make it with htpasswd -B)`,
        path,
        n,
      );
    }
    const seen = firstLine.get(user);
    if (seen !== undefined) throw new HtpasswdFileError(`${path}:${n}: user "${user}" appears again (first on line ${seen})`, path, n);
    firstLine.set(user, n);
    users.set(user, { hash: hash.replace(/^\$2y\$/, '$2b$'), cost: Number(m[1]) });
  }
  return users;
}

/** Reads and parses the file; a missing or unreadable file is an HtpasswdFileError too. */
export async function loadHtpasswd(path: string): Promise<Map<string, HtpasswdEntry>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new HtpasswdFileError(`${path}: cannot read the htpasswd file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, path);
  }
  return parseHtpasswd(text, path);
}

/**
 * What identifies one version of the file (null: absent): a replaced file has a new inode, a
 * rewritten one a new size or mtime.
 */
export async function fileSignature(path: string): Promise<string | null> {
  try {
    const s = await stat(path, { bigint: true });
    return `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  } catch {
    return null;
  }
}

export interface FileWatchOptions {
  /** Quiet time after the last event before the file is looked at (editors write in several steps). */
  debounceMs?: number;
  /** A stat every so often as well, for file systems whose events get lost (0: events only). */
  pollMs?: number;
  /** Directory events (default); off leaves the poll alone, as on a file system without events. */
  events?: boolean;
  /** The version of the file already read (take it before reading, so no change falls in between). */
  since?: string | null;
}

/**
 * Calls `onChange` when the file at `path` is a different file or has new contents. It watches the
 * directory, not the file: `htpasswd`, editors and Kubernetes secret volumes replace the file (or a
 * symlink above it), and a watch on the old inode would never fire again.
 */
export class FileChangeWatch {
  private watcher: FSWatcher | null = null;
  private poll: NodeJS.Timeout | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private checking: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly path: string,
    private signature: string | null,
    private readonly onChange: () => Promise<void>,
    private readonly debounceMs: number,
  ) {}

  static async start(path: string, onChange: () => Promise<void>, opts: FileWatchOptions = {}): Promise<FileChangeWatch> {
    const since = opts.since !== undefined ? opts.since : await fileSignature(path);
    const w = new FileChangeWatch(path, since, onChange, opts.debounceMs ?? 100);
    try {
      if (opts.events !== false) w.watcher = watch(dirname(path), { persistent: false }, () => w.schedule());
      w.watcher?.on('error', () => w.watcher?.close());
    } catch {
      // No events here (the directory vanished, inotify limits): the poll still notices changes.
    }
    const pollMs = opts.pollMs ?? 2000;
    if (pollMs > 0) {
      w.poll = setInterval(() => w.schedule(), pollMs);
      w.poll.unref();
    }
    return w;
  }

  close(): void {
    this.closed = true;
    this.watcher?.close();
    if (this.poll) clearInterval(this.poll);
    if (this.debounce) clearTimeout(this.debounce);
  }

  private schedule(): void {
    if (this.closed) return;
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = null;
      // One check at a time: a slow reload is never overtaken by the next.
      // onChange reports its own failures; a rejection here must not stop later checks.
      this.checking = this.checking.then(() => this.check()).catch(() => undefined);
    }, this.debounceMs);
    this.debounce.unref();
  }

  private async check(): Promise<void> {
    if (this.closed) return;
    const sig = await fileSignature(this.path);
    if (sig === null || sig === this.signature) return;
    this.signature = sig;
    await this.onChange();
  }
}
