// Collects measurements as sections of rows with two sides each, prints a table and writes JSON.
// A section compares two things (server section: Wharf vs Distribution; a later client section can compare
// `wharf copy` vs `skopeo copy`), so each section carries its own pair of column labels.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export type Better = 'higher' | 'lower';

export interface MetricDef {
  key: string;
  label: string;
  unit: string;
  better: Better;
  /** How repeated samples become the reported value (default median). */
  aggregate?: 'median' | 'max';
  /** Digits after the decimal point in the table. */
  digits?: number;
}

export interface Cell {
  /** The reported value: aggregate of samples. */
  value?: number;
  samples: number[];
  /** Set if any attempt failed; the table then shows ERROR for the cell. */
  errors: string[];
  /** JSON-only extras per sample (e.g. latency percentiles, server CPU seconds), in sample order. */
  details: Record<string, unknown>[];
}

export interface Row extends MetricDef {
  cells: [Cell, Cell];
}

export interface Section {
  title: string;
  sides: [string, string];
  rows: Row[];
}

export type Side = 0 | 1;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export class Report {
  readonly sections: Section[] = [];

  section(title: string, sides: [string, string]): SectionWriter {
    const s: Section = { title, sides, rows: [] };
    this.sections.push(s);
    return new SectionWriter(s);
  }

  errors(): { section: string; metric: string; side: string; error: string }[] {
    const out: { section: string; metric: string; side: string; error: string }[] = [];
    for (const s of this.sections) {
      for (const r of s.rows) {
        r.cells.forEach((c, i) => { for (const e of c.errors) out.push({ section: s.title, metric: r.label, side: s.sides[i]!, error: e }); });
      }
    }
    return out;
  }

  /** Ratio oriented so that >1 means side 0 (Wharf) is better. */
  static ratio(row: Row): number | undefined {
    if (row.cells.some((c) => c.errors.length > 0)) return undefined;
    const [a, b] = [row.cells[0].value, row.cells[1].value];
    if (a === undefined || b === undefined || a <= 0 || b <= 0) return undefined;
    return row.better === 'higher' ? a / b : b / a;
  }

  table(): string {
    const out: string[] = [];
    for (const s of this.sections) {
      const header = ['', s.sides[0], s.sides[1], `ratio (>1 = ${s.sides[0]} better)`];
      const body = s.rows.map((r) => {
        const fmt = (c: Cell): string => c.errors.length > 0 ? 'ERROR' : c.value === undefined ? '-' : c.value.toFixed(r.digits ?? 1);
        const ratio = Report.ratio(r);
        return [`${r.label} [${r.unit}, ${r.better} is better]`, fmt(r.cells[0]), fmt(r.cells[1]), ratio === undefined ? '-' : `${ratio.toFixed(2)}x`];
      });
      const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
      const line = (cols: string[]): string => `| ${cols.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
      out.push(`## ${s.title}`, line(header), `|${widths.map((w, i) => (i === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`, ...body.map(line), '');
    }
    return out.join('\n');
  }

  toJSON(meta: Record<string, unknown>): unknown {
    return {
      ...meta,
      sections: this.sections.map((s) => ({
        title: s.title,
        sides: s.sides,
        rows: s.rows.map((r) => ({
          key: r.key,
          label: r.label,
          unit: r.unit,
          better: r.better,
          aggregate: r.aggregate ?? 'median',
          [s.sides[0]]: r.cells[0],
          [s.sides[1]]: r.cells[1],
          ratio: Report.ratio(r) ?? null,
        })),
      })),
      errors: this.errors(),
    };
  }

  writeJson(path: string, meta: Record<string, unknown>): void {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, JSON.stringify(this.toJSON(meta), null, 2) + '\n');
  }
}

export class SectionWriter {
  constructor(readonly section: Section) {}

  /** Declares rows up front so the table keeps a stable order even when a step fails. */
  define(...defs: MetricDef[]): void {
    for (const d of defs) {
      if (this.section.rows.some((r) => r.key === d.key)) throw new Error(`duplicate metric ${d.key}`);
      const cell = (): Cell => ({ samples: [], errors: [], details: [] });
      this.section.rows.push({ ...d, cells: [cell(), cell()] });
    }
  }

  private row(key: string): Row {
    const r = this.section.rows.find((x) => x.key === key);
    if (!r) throw new Error(`unknown metric ${key}`);
    return r;
  }

  /** Records one measurement; the reported value is re-aggregated over all samples. */
  sample(key: string, side: Side, value: number, detail: Record<string, unknown> = {}): void {
    const row = this.row(key);
    const cell = row.cells[side];
    cell.samples.push(value);
    cell.details.push(detail);
    cell.value = row.aggregate === 'max' ? Math.max(...cell.samples) : median(cell.samples);
  }

  /** Merges extra JSON-only numbers into the detail of the latest sample, if any. */
  addDetail(key: string, side: Side, detail: Record<string, unknown>): void {
    const cell = this.row(key).cells[side];
    const last = cell.details.length - 1;
    if (last >= 0) cell.details[last] = { ...cell.details[last], ...detail };
  }

  fail(key: string, side: Side, error: string): void {
    const cell = this.row(key).cells[side];
    if (!cell.errors.includes(error)) cell.errors.push(error);
  }
}
