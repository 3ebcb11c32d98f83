// Image references as the containers tools write them: [registry[:port]/]repository[:tag][@digest],
// with Docker Hub's defaults (docker.io, library/) applied the same way.
import { isValidName, isValidTag } from './names.js';
import { tryParseDigest } from './digest.js';
import { WharfError } from './errors.js';

export const DOCKER_HUB = 'docker.io';

export interface Reference {
  /** Registry host[:port], e.g. docker.io, 127.0.0.1:5000, [::1]:5000 */
  registry: string;
  /** Repository path within the registry, e.g. library/alpine */
  repository: string;
  tag?: string;
  digest?: string;
}

export class ReferenceError extends WharfError {}

const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const domainGrammar = new RegExp(`^(?:${domainComponent}(?:\\.${domainComponent})*|\\[[0-9a-fA-F:.]+\\])(?::[0-9]+)?$`);

function looksLikeRegistry(first: string): boolean {
  return first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase();
}

/** Parses a reference and applies Docker Hub defaults. Requires a repository (not just a registry). */
export function parseReference(input: string): Reference {
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!tryParseDigest(digest)) throw new ReferenceError(`invalid digest in reference "${input}"`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > lastSlash) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!isValidTag(tag)) throw new ReferenceError(`invalid tag "${tag}" in reference "${input}"`);
  }
  if (rest === '') throw new ReferenceError(`reference "${input}" has no repository`);
  let registry = DOCKER_HUB;
  let repository = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0 && looksLikeRegistry(rest.slice(0, slash))) {
    registry = rest.slice(0, slash);
    repository = rest.slice(slash + 1);
    if (!domainGrammar.test(registry)) throw new ReferenceError(`invalid registry "${registry}" in reference "${input}"`);
  } else if (slash < 0 && looksLikeRegistry(rest) && rest.includes('.')) {
    throw new ReferenceError(`reference "${input}" names a registry but no image: a full image name (registry/repository[:tag]) is required`);
  }
  if (registry === 'index.docker.io') registry = DOCKER_HUB;
  if (repository === '') throw new ReferenceError(`reference "${input}" names a registry but no image: a full image name (registry/repository[:tag]) is required`);
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  if (!isValidName(repository)) throw new ReferenceError(`invalid repository name "${repository}" in reference "${input}" (lower case letters, digits and separators only)`);
  return { registry, repository, tag, digest };
}

/** The reference as a string, tag and digest included when present. */
export function formatReference(r: Reference): string {
  return `${r.registry}/${r.repository}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}

/** What to ask the registry for: the digest when pinned, else the tag (default "latest"). */
export function referenceTarget(r: Reference): string {
  return r.digest ?? r.tag ?? 'latest';
}
