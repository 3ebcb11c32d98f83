// Platforms, their one home: the host's, overrides, and choosing an index entry the way the containers tools do.
import type { Descriptor } from './manifest.js';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

const archOfNode: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64' };

export function hostPlatform(overrides: Partial<Platform> = {}): Platform {
  const architecture = overrides.architecture ?? archOfNode[process.arch] ?? process.arch;
  const p: Platform = { os: overrides.os ?? (process.platform === 'win32' ? 'windows' : 'linux'), architecture };
  const variant = overrides.variant ?? (architecture === 'arm' ? 'v7' : architecture === 'arm64' && !overrides.architecture ? 'v8' : undefined);
  if (variant) p.variant = variant;
  return p;
}

/** The index entry for this platform: exact variant first, then any variant of the architecture. */
export function choosePlatform(manifests: Descriptor[], want: Platform): Descriptor | null {
  const candidates = manifests.filter((m) => {
    const p = m.platform as { os?: string; architecture?: string } | undefined;
    return p?.os === want.os && p?.architecture === want.architecture;
  });
  const exact = candidates.find((m) => (m.platform as { variant?: string }).variant === want.variant);
  return exact ?? candidates.find((m) => !(m.platform as { variant?: string }).variant) ?? candidates[0] ?? null;
}
