// The `scope` of Docker token authentication: `repository:NAME:pull,push`, `registry:catalog:*`.
// A repository name may itself hold a colon (a registry host with a port), so the type is what comes
// before the first colon and the actions what comes after the last one.
import { RegistryError } from '../oci/errors.js';
import { isValidName } from '../oci/names.js';
import type { Access } from './access-controller.js';

/** One resource and the actions asked for (or granted) on it, as the token's `access` claim holds them. */
export interface ResourceActions {
  type: string;
  name: string;
  actions: string[];
}

const REPOSITORY_ACTIONS = ['pull', 'push', 'delete'];

/**
 * Parses scope values (each may hold several scopes separated by spaces, as OAuth2 sends them).
 * Resources of other types are kept for the caller to refuse; a malformed scope or a repository name
 * that is not a valid name is refused here, with a clear error.
 */
export function parseScopes(values: readonly string[]): ResourceActions[] {
  const out: ResourceActions[] = [];
  for (const value of values) {
    for (const scope of value.split(' ').filter(Boolean)) {
      const first = scope.indexOf(':');
      const last = scope.lastIndexOf(':');
      if (first <= 0 || last === first) throw new RegistryError('UNSUPPORTED', `malformed scope ${JSON.stringify(scope)}: want type:name:actions`, { status: 400 });
      // A resource class (`repository(plugin)`) narrows the type; Wharf has only the plain classes.
      const type = scope.slice(0, first);
      const name = scope.slice(first + 1, last);
      const actions = [...new Set(scope.slice(last + 1).split(',').map((a) => a.trim()).filter(Boolean))];
      if (type === 'repository' && !isValidName(name)) {
        throw new RegistryError('NAME_INVALID', `invalid repository name in scope: ${JSON.stringify(name)}`, { status: 400 });
      }
      const same = out.find((r) => r.type === type && r.name === name);
      if (same) same.actions = [...new Set([...same.actions, ...actions])];
      else out.push({ type, name, actions });
    }
  }
  return out;
}

/** The actions a request names, with `*` standing for every action the resource type has. */
export function expandActions(r: ResourceActions): string[] {
  if (!r.actions.includes('*')) return r.actions;
  if (r.type === 'repository') return REPOSITORY_ACTIONS;
  return r.actions; // registry:catalog:* — the `*` is the action itself
}

/** The accesses of a list of resources, one per action. */
export function accessesOf(resources: readonly ResourceActions[]): Access[] {
  const out: Access[] = [];
  for (const r of resources) {
    for (const action of expandActions(r)) {
      if (r.type === 'repository' && (action === 'pull' || action === 'push' || action === 'delete')) out.push({ type: 'repository', name: r.name, action });
      else if (r.type === 'registry' && r.name === 'catalog' && action === '*') out.push({ type: 'registry', name: 'catalog', action: '*' });
    }
  }
  return out;
}

/** Groups accesses back into resources (the `access` claim; the scope of a challenge). */
export function resourcesOf(accesses: readonly Access[]): ResourceActions[] {
  const out: ResourceActions[] = [];
  for (const a of accesses) {
    const same = out.find((r) => r.type === a.type && r.name === a.name);
    if (same) { if (!same.actions.includes(a.action)) same.actions.push(a.action); } else out.push({ type: a.type, name: a.name, actions: [a.action] });
  }
  return out;
}

/** `repository:a/b:pull,push registry:catalog:*`. */
export function formatScope(resources: readonly ResourceActions[]): string {
  return resources.map((r) => `${r.type}:${r.name}:${r.actions.join(',')}`).join(' ');
}
