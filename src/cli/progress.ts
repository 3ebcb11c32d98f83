// Progress of a copy: per-blob bars on a TTY, one summary line otherwise, nothing with --quiet.
import type { CopyEvent } from '../copy/copy-image.js';

export interface ProgressReporter {
  onEvent(e: CopyEvent): void;
  finish(summary: string): void;
}

export function progressReporter(mode: { quiet: boolean; tty: boolean; out: NodeJS.WriteStream }): ProgressReporter {
  if (mode.quiet) return { onEvent() {}, finish() {} };
  if (!mode.tty) return { onEvent() {}, finish(summary) { mode.out.write(`${summary}\n`); } };
  return new TtyProgress(mode.out);
}

interface Bar { size: number; done: number; how?: string; started: number }

class TtyProgress implements ProgressReporter {
  private readonly bars = new Map<string, Bar>();
  private lines = 0;
  private last = 0;

  constructor(private readonly out: NodeJS.WriteStream) {}

  onEvent(e: CopyEvent): void {
    if (e.type === 'blob-start') this.bars.set(e.digest, { size: e.size, done: 0, started: Date.now() });
    else if (e.type === 'blob-progress') { const b = this.bars.get(e.digest); if (b) b.done += e.bytes; }
    else if (e.type === 'blob-done') { const b = this.bars.get(e.digest); if (b) { b.how = e.how; b.done = Math.max(b.done, e.size); } }
    const now = Date.now();
    if (e.type !== 'blob-progress' || now - this.last > 100) { this.last = now; this.render(); }
  }

  private render(): void {
    const width = Math.max(10, Math.min(40, (this.out.columns ?? 80) - 50));
    const rows = [...this.bars.entries()].map(([digest, b]) => {
      const frac = b.size > 0 ? Math.min(1, b.done / b.size) : b.how ? 1 : 0;
      const filled = Math.round(frac * width);
      const secs = Math.max(0.001, (Date.now() - b.started) / 1000);
      const rate = b.how === 'copied' || !b.how ? `${human(b.done / secs)}/s` : b.how;
      return `${digest.slice(7, 19)} [${'='.repeat(filled)}${' '.repeat(width - filled)}] ${human(b.done)} / ${human(b.size)} ${rate}`;
    });
    if (this.lines > 0) this.out.write(`\x1b[${this.lines}A`);
    for (const r of rows) this.out.write(`\x1b[2K${r}\n`);
    this.lines = rows.length;
  }

  finish(summary: string): void {
    this.render();
    this.out.write(`${summary}\n`);
  }
}

export function human(bytes: number): string {
  if (bytes < 0) return '?';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}
