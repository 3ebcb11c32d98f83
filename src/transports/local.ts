// Parsing of the local transports' image names: the text after `oci:`, `oci-archive:`, `dir:` or
// `docker-archive:`.
//
// The rule is skopeo's (containers/image on Linux), so the same strings mean the same images:
//   oci:PATH[:REF], oci-archive:PATH[:REF]
//     split at the FIRST ':'; REF is everything after it, so it may itself contain ':' and '/'
//     (`oci:/tmp/l:docker.io/library/alpine:3.20` is path `/tmp/l`, ref `docker.io/library/alpine:3.20`).
//     A consequence, as in skopeo: a PATH cannot contain ':'. An empty REF (`/tmp/l:`) means none.
//     REF must match the OCI grammar for org.opencontainers.image.ref.name.
//   docker-archive:PATH[:NAME[:TAG]|:@N]
//     split at the first ':'; what follows is a Docker reference (normalized: `busybox` means
//     `docker.io/library/busybox:latest`; digests are not allowed) or `@N`, the N-th image in the archive
//     (reading only).
//   dir:PATH
//     the whole text is the path (':' allowed).
import { ReferenceError, parseReference } from '../oci/reference.js';
import { WharfError } from '../oci/errors.js';

export type LocalTransport = 'oci' | 'oci-archive' | 'dir' | 'docker-archive';

export interface LocalSpec {
  /** The path as written (not resolved). */
  path: string;
  /** oci/oci-archive: the ref name; docker-archive: the normalized `registry/repository:tag`. */
  ref?: string;
  /** docker-archive only: `@N`, the index of the image in the archive's manifest.json. */
  index?: number;
}

export class LocalSpecError extends WharfError {
  constructor(message: string) {
    super(message);
    this.name = 'LocalSpecError';
  }
}

// The ref.name grammar of the OCI image spec (annotations.md), as containers/image validates it.
const alnum = '[A-Za-z0-9]+';
const separator = '(?:[-._:@+]|--)';
const component = `${alnum}(?:${separator}${alnum})*`;
const refNameGrammar = new RegExp(`^${component}(?:/${component})*$`);

/** Whether `s` is a valid `org.opencontainers.image.ref.name` value. */
export function isValidOciRefName(s: string): boolean {
  return refNameGrammar.test(s);
}

/**
 * Splits the text after a local transport's prefix into path and reference (see the rules above).
 * Throws LocalSpecError for an empty path or an invalid reference.
 */
export function parseLocalTransport(spec: string, transport: LocalTransport = 'oci'): LocalSpec {
  if (transport === 'dir') {
    if (spec === '') throw new LocalSpecError('dir: needs a path');
    return { path: spec };
  }
  const colon = spec.indexOf(':');
  const path = colon < 0 ? spec : spec.slice(0, colon);
  const rest = colon < 0 ? '' : spec.slice(colon + 1);
  if (path === '') throw new LocalSpecError(`${transport}: needs a path in "${spec}"`);
  if (rest === '') return { path };
  if (transport === 'docker-archive') {
    if (rest.startsWith('@')) {
      const n = rest.slice(1);
      if (!/^(0|[1-9][0-9]*)$/.test(n) || !Number.isSafeInteger(Number(n))) {
        throw new LocalSpecError(`docker-archive: invalid image index "${rest}" (expected @N, N >= 0)`);
      }
      return { path, index: Number(n) };
    }
    return { path, ref: normalizeDockerRef(rest) };
  }
  if (!isValidOciRefName(rest)) {
    throw new LocalSpecError(`${transport}: invalid reference "${rest}" in "${spec}" (letters, digits and . _ - : @ + / separators)`);
  }
  return { path, ref: rest };
}

/** `name[:tag]` to the full `registry/repository:tag` form (tag defaults to latest); digests are rejected. */
export function normalizeDockerRef(s: string): string {
  let r;
  try {
    r = parseReference(s);
  } catch (e) {
    if (e instanceof ReferenceError) throw new LocalSpecError(`docker-archive: invalid reference "${s}": ${e.message}`);
    throw e;
  }
  if (r.digest) throw new LocalSpecError(`docker-archive: reference "${s}" has a digest; only name:tag references are allowed`);
  return `${r.registry}/${r.repository}:${r.tag ?? 'latest'}`;
}
