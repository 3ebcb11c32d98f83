// Parsing WWW-Authenticate challenges (RFC 7235): `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`.

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses one or more challenges from a WWW-Authenticate header value. */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  if (!header) return [];
  const values = Array.isArray(header) ? header : [header];
  const out: Challenge[] = [];
  for (const v of values) {
    let rest = v.trim();
    let current: Challenge | null = null;
    while (rest.length > 0) {
      // A param: key=value or key="quoted"
      const param = /^([A-Za-z0-9_.-]+)\s*=\s*("((?:[^"\\]|\\.)*)"|[^,\s]*)\s*,?\s*/.exec(rest);
      if (param && current) {
        current.params[param[1]!.toLowerCase()] = param[3] !== undefined ? param[3].replace(/\\(.)/g, '$1') : param[2]!;
        rest = rest.slice(param[0].length);
        continue;
      }
      const scheme = /^([A-Za-z][A-Za-z0-9_-]*)\s*,?\s*/.exec(rest);
      if (!scheme) break;
      current = { scheme: scheme[1]!.toLowerCase(), params: {} };
      out.push(current);
      rest = rest.slice(scheme[0].length);
    }
  }
  return out;
}
