// The Distribution spec's grammar for repository names and tags.
import { RegistryError } from './errors.js';

const component = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const nameGrammar = new RegExp(`^${component}(?:/${component})*$`);
const tagGrammar = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

export const MAX_NAME_LENGTH = 255;

export function isValidName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_NAME_LENGTH && nameGrammar.test(name);
}

export function assertName(name: string): void {
  if (!isValidName(name)) throw new RegistryError('NAME_INVALID', `invalid repository name: ${name.slice(0, 300)}`);
}

export function isValidTag(tag: string): boolean {
  return tagGrammar.test(tag);
}

export function assertTag(tag: string): void {
  if (!isValidTag(tag)) throw new RegistryError('TAG_INVALID', `invalid tag: ${tag.slice(0, 200)}`);
}
