// A subset of Go templates for --format: {{.Field}}, {{.A.B}}, {{json .X}}, {{index .Labels "key"}}, {{range .List}}…{{end}}, {{.}}.

type Value = unknown;

function lookup(data: Value, path: string): Value {
  if (path === '.') return data;
  let v: Value = data;
  for (const key of path.split('.').filter(Boolean)) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, Value>)[key];
  }
  return v;
}

function show(v: Value): string {
  if (v === undefined || v === null) return '<no value>';
  if (Array.isArray(v)) return `[${v.map(show).join(' ')}]`;
  if (typeof v === 'object') return `map[${Object.entries(v as Record<string, Value>).sort(([a], [b]) => a.localeCompare(b)).map(([k, x]) => `${k}:${show(x)}`).join(' ')}]`;
  return String(v);
}

function evalAction(action: string, data: Value): string {
  const a = action.trim();
  const json = /^json\s+(\S+)$/.exec(a);
  if (json) return JSON.stringify(lookup(data, json[1]!) ?? null);
  const index = /^index\s+(\S+)\s+"([^"]*)"$/.exec(a);
  if (index) {
    // Go's index of a missing map key is the zero value: an empty string, not <no value>.
    const v = (lookup(data, index[1]!) as Record<string, Value> | undefined)?.[index[2]!];
    return v === undefined || v === null ? '' : show(v);
  }
  if (a.startsWith('.')) return show(lookup(data, a));
  throw new Error(`unsupported template action {{${a}}}`);
}

/** Renders `tpl` against `data`. Unsupported actions are an error, not silent output. */
export function renderTemplate(tpl: string, data: Value): string {
  let out = '';
  let i = 0;
  while (i < tpl.length) {
    const open = tpl.indexOf('{{', i);
    if (open < 0) { out += tpl.slice(i); break; }
    out += tpl.slice(i, open);
    const close = tpl.indexOf('}}', open);
    if (close < 0) throw new Error('unterminated {{ in template');
    const action = tpl.slice(open + 2, close).trim();
    const range = /^range\s+(\S+)$/.exec(action);
    if (range) {
      const end = tpl.indexOf('{{end}}', close);
      if (end < 0) throw new Error('{{range}} without {{end}}');
      const body = tpl.slice(close + 2, end);
      const list = lookup(data, range[1]!);
      if (Array.isArray(list)) for (const item of list) out += renderTemplate(body, item);
      i = end + '{{end}}'.length;
      continue;
    }
    out += evalAction(action, data);
    i = close + 2;
  }
  return out.replace(/\\n/g, '\n').replace(/\\t/g, '\t');
}
