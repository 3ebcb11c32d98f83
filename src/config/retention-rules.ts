// Retention rules: what a retention policy keeps of a repository's tags and how long untagged manifests
// stay. One shape and one set of checks for the configuration's default (retention.default), the admin
// API, the MetaStore and `wharf admin retention`. Rules combine as "keep a tag if any rule keeps it";
// a policy without a tag rule (only untaggedOlderThan) leaves tags alone. Regular expressions match the
// whole tag (anchored here, so `v.*` means "starts with v"); durations are milliseconds here and read and
// written as 30d, 12h by units.ts.
import { createContext, Script, type Context } from 'node:vm';
import { WharfError } from '../oci/errors.js';
import { formatDuration, parseDuration } from './units.js';

export interface RetentionRules {
  /** Keep the N most recently pushed tags (of those `match` selects). */
  keepLast?: number;
  /** Limits keepLast to the tags this regular expression matches (default: every tag). */
  match?: string;
  /** Keep tags pushed within this many milliseconds. */
  keepWithin?: number;
  /** Always keep tags this regular expression matches. */
  keep?: string;
  /** Delete manifests that have had no tag for longer than this many milliseconds. */
  untaggedOlderThan?: number;
}

/** The rules as JSON speaks them (the admin API, reports): every field present, durations as `30d`. */
export interface RetentionRulesJson {
  keepLast: number | null;
  match: string | null;
  keepWithin: string | null;
  keep: string | null;
  untaggedOlderThan: string | null;
}

export const MAX_KEEP_LAST = 100_000;
/** Longest regular expression accepted (tags are at most 128 characters). */
export const MAX_TAG_REGEX = 256;

/** The regular expression over whole tags. */
export function tagRegex(source: string): RegExp {
  return new RegExp(`^(?:${source})$`);
}

/** A rule that cannot be applied: its expression took too long on the tags at hand. */
export class RetentionRuleError extends WharfError {}

/** How long one expression may take over the tags of one repository. */
const MATCH_BUDGET_MS = 250;
const matchAll = new Script('tags.map((t) => re.test(t))');
let matchContext: Context | null = null;

/**
 * Which of the tags the expression matches (whole tags). Some expressions backtrack for ages on some
 * tags ((a|a)*b), and a namespace's admin writes them: each evaluation has a time budget, so such an
 * expression is an error for its repository, never a stalled process.
 */
export function tagsMatching(source: string, tags: readonly string[]): boolean[] {
  matchContext ??= createContext({});
  matchContext.re = tagRegex(source);
  matchContext.tags = tags;
  try {
    return matchAll.runInContext(matchContext, { timeout: MATCH_BUDGET_MS }) as boolean[];
  } catch (e) {
    if ((e as { code?: string }).code !== 'ERR_SCRIPT_EXECUTION_TIMEOUT') throw e;
    throw new RetentionRuleError(`the regular expression ${JSON.stringify(source)} took longer than ${MATCH_BUDGET_MS} ms over ${tags.length} tags: simplify it`);
  } finally {
    matchContext.re = null;
    matchContext.tags = null;
  }
}

export function hasTagRule(r: RetentionRules): boolean {
  return r.keepLast !== undefined || r.keepWithin !== undefined || r.keep !== undefined;
}

function regexProblem(field: string, source: string): string | null {
  if (source.length === 0 || source.length > MAX_TAG_REGEX) return `${field} is a regular expression of 1-${MAX_TAG_REGEX} characters`;
  try {
    tagRegex(source);
    return null;
  } catch (e) {
    return `${field} is not a valid regular expression: ${(e as Error).message}`;
  }
}

/** What is wrong with the rules, in words; null when they are a policy. */
export function retentionRulesProblem(r: RetentionRules): string | null {
  if (r.keepLast !== undefined && !(Number.isSafeInteger(r.keepLast) && r.keepLast >= 1 && r.keepLast <= MAX_KEEP_LAST)) {
    return `keepLast is a whole number from 1 to ${MAX_KEEP_LAST}`;
  }
  if (r.match !== undefined && r.keepLast === undefined) return 'match limits keepLast to the tags it matches: give keepLast too';
  if (!hasTagRule(r) && r.untaggedOlderThan === undefined) {
    return 'a retention policy needs at least one rule: keepLast, keepWithin, keep or untaggedOlderThan';
  }
  for (const [field, source] of [['match', r.match], ['keep', r.keep]] as const) {
    const p = source === undefined ? null : regexProblem(field, source);
    if (p !== null) return p;
  }
  for (const [field, ms] of [['keepWithin', r.keepWithin], ['untaggedOlderThan', r.untaggedOlderThan]] as const) {
    if (ms !== undefined && !(Number.isSafeInteger(ms) && ms > 0)) return `${field} is a duration longer than 0, such as 30d or 12h`;
  }
  return null;
}

/** Rules as they come in (JSON, the configuration, flags): absent or null is no such rule; durations as `30d` or milliseconds. */
export interface RetentionRulesInput {
  keepLast?: number | null;
  match?: string | null;
  keepWithin?: string | number | null;
  keep?: string | null;
  untaggedOlderThan?: string | number | null;
}

/** The rules, or what is wrong with them. */
export function retentionRulesFrom(j: RetentionRulesInput): { rules: RetentionRules } | { problem: string } {
  const rules: RetentionRules = {};
  if (j.keepLast !== undefined && j.keepLast !== null) rules.keepLast = j.keepLast;
  if (j.match !== undefined && j.match !== null) rules.match = j.match;
  if (j.keep !== undefined && j.keep !== null) rules.keep = j.keep;
  for (const field of ['keepWithin', 'untaggedOlderThan'] as const) {
    const v = j[field];
    if (v === undefined || v === null) continue;
    const ms = parseDuration(v);
    if (ms === null) return { problem: `${field} is a duration such as 30d, 12h or 1h30m, got ${JSON.stringify(v)}` };
    rules[field] = ms;
  }
  const problem = retentionRulesProblem(rules);
  return problem === null ? { rules } : { problem };
}

export function retentionRulesJson(r: RetentionRules): RetentionRulesJson {
  return {
    keepLast: r.keepLast ?? null,
    match: r.match ?? null,
    keepWithin: r.keepWithin === undefined ? null : formatDuration(r.keepWithin),
    keep: r.keep ?? null,
    untaggedOlderThan: r.untaggedOlderThan === undefined ? null : formatDuration(r.untaggedOlderThan),
  };
}

/** The rules in words: "keep the last 5 tags matching v.*; keep tags pushed within 7d; …". */
export function describeRetentionRules(r: RetentionRulesJson): string {
  const parts: string[] = [];
  if (r.keepLast !== null) parts.push(`keep the last ${r.keepLast} tag${r.keepLast === 1 ? '' : 's'}${r.match === null ? '' : ` matching ${r.match}`}`);
  if (r.keepWithin !== null) parts.push(`keep tags pushed within ${r.keepWithin}`);
  if (r.keep !== null) parts.push(`always keep tags matching ${r.keep}`);
  if (r.keepLast === null && r.keepWithin === null && r.keep === null) parts.push('tags stay');
  if (r.untaggedOlderThan !== null) parts.push(`delete manifests untagged for longer than ${r.untaggedOlderThan}`);
  return parts.join('; ');
}
