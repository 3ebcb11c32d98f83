// --change instructions (Dockerfile syntax) applied to an image config, as `podman import --change` does.
import { WharfError } from '../oci/errors.js';

export interface ContainerConfig {
  Cmd?: string[];
  Entrypoint?: string[];
  Env?: string[];
  Labels?: Record<string, string>;
  ExposedPorts?: Record<string, Record<string, never>>;
  WorkingDir?: string;
  User?: string;
  Volumes?: Record<string, Record<string, never>>;
  StopSignal?: string;
}

export class ChangeError extends WharfError {}

/** JSON array form, or shell form run by /bin/sh -c. */
function commandForm(arg: string): string[] {
  const t = arg.trim();
  if (t.startsWith('[')) {
    try {
      const v = JSON.parse(t) as unknown;
      if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
    } catch { /* fall through to the error */ }
    throw new ChangeError(`not a JSON array of strings: ${t}`);
  }
  return ['/bin/sh', '-c', t];
}

/** KEY=VALUE pairs (values may be quoted), or the legacy `KEY VALUE` form. */
function pairs(arg: string): [string, string][] {
  const t = arg.trim();
  if (!/^[^\s=]+=/.test(t)) {
    const sp = t.search(/\s/);
    if (sp < 0) throw new ChangeError(`expected KEY=VALUE or KEY VALUE, got ${t}`);
    return [[t.slice(0, sp), t.slice(sp).trim()]];
  }
  const out: [string, string][] = [];
  const re = /([^\s=]+)=("((?:[^"\\]|\\.)*)"|'([^']*)'|(\S*))/g;
  for (const m of t.matchAll(re)) out.push([m[1]!, m[3] !== undefined ? m[3].replace(/\\(.)/g, '$1') : m[4] ?? m[5] ?? '']);
  return out;
}

export function applyChanges(config: ContainerConfig, changes: string[]): ContainerConfig {
  const c: ContainerConfig = { ...config };
  for (const change of changes) {
    const m = /^\s*([A-Za-z]+)\s+([\s\S]+)$/.exec(change);
    if (!m) throw new ChangeError(`invalid change "${change}": expected INSTRUCTION ARGUMENTS`);
    const arg = m[2]!;
    switch (m[1]!.toUpperCase()) {
      case 'CMD': c.Cmd = commandForm(arg); break;
      case 'ENTRYPOINT': c.Entrypoint = commandForm(arg); break;
      case 'ENV': {
        const env = new Map((c.Env ?? []).map((e) => [e.split('=')[0]!, e] as const));
        for (const [k, v] of pairs(arg)) env.set(k, `${k}=${v}`);
        c.Env = [...env.values()];
        break;
      }
      case 'LABEL': c.Labels = { ...c.Labels, ...Object.fromEntries(pairs(arg)) }; break;
      case 'EXPOSE':
        c.ExposedPorts = { ...c.ExposedPorts };
        for (const p of arg.trim().split(/\s+/)) {
          if (!/^\d+(-\d+)?(\/(tcp|udp|sctp))?$/.test(p)) throw new ChangeError(`invalid port ${p}`);
          c.ExposedPorts[p.includes('/') ? p : `${p}/tcp`] = {};
        }
        break;
      case 'WORKDIR': c.WorkingDir = arg.trim(); break;
      case 'USER': c.User = arg.trim(); break;
      case 'VOLUME': {
        c.Volumes = { ...c.Volumes };
        const list = arg.trim().startsWith('[') ? commandForm(arg) : arg.trim().split(/\s+/);
        for (const v of list) c.Volumes[v] = {};
        break;
      }
      case 'STOPSIGNAL': c.StopSignal = arg.trim(); break;
      default: throw new ChangeError(`unsupported instruction ${m[1]} in --change (CMD, ENTRYPOINT, ENV, LABEL, EXPOSE, WORKDIR, USER, VOLUME, STOPSIGNAL)`);
    }
  }
  return c;
}
