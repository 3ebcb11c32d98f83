// Human-friendly durations ("24h", "90s", "1h30m") and sizes ("4MiB", "512k").

const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const sizeUnits: Record<string, number> = {
  '': 1, b: 1, k: 1024, kb: 1000, kib: 1024, m: 1 << 20, mb: 1_000_000, mib: 1 << 20, g: 1 << 30, gb: 1_000_000_000, gib: 1 << 30,
};

/** Milliseconds in a duration string or number (a number is milliseconds). Null when malformed. */
export function parseDuration(v: string | number): number | null {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? v : null;
  const s = v.trim();
  if (/^\d+$/.test(s)) return Number(s);
  let total = 0;
  let rest = s;
  const part = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)/;
  if (rest.length === 0) return null;
  while (rest.length > 0) {
    const m = part.exec(rest);
    if (!m) return null;
    total += Number(m[1]) * durationUnits[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return Math.round(total);
}

/** Bytes in a size string or number. Null when malformed. */
export function parseSize(v: string | number): number | null {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(v);
  if (!m) return null;
  const unit = sizeUnits[m[2]!.toLowerCase()];
  return unit === undefined ? null : Math.round(Number(m[1]) * unit);
}

const SIZE_NAMES = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** A size for people, in binary units with at most one decimal: 512 B, 1.5 KiB, 100 MiB. */
export function formatSize(bytes: number): string {
  let v = bytes;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < SIZE_NAMES.length - 1) { v /= 1024; i++; }
  return `${i === 0 ? v : Number(v.toFixed(1))} ${SIZE_NAMES[i]}`;
}

const durationParts: [string, number][] = [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000], ['ms', 1]];

/** A duration as parseDuration reads it back, in the largest units that fit: 90000000 -> "1d1h". */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const [unit, size] of durationParts) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  return out;
}
