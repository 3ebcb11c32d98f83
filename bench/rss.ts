// Tracks a server process's resident memory from /proc/<pid>/status: periodic VmRSS samples plus the kernel's
// high-water mark VmHWM, which is reset (echo 5 > /proc/<pid>/clear_refs) at the start of a measured window.
import { readFileSync, writeFileSync } from 'node:fs';

interface Status { rssKb: number; hwmKb: number }

function readStatus(pid: number): Status | null {
  let text: string;
  try { text = readFileSync(`/proc/${pid}/status`, 'utf8'); } catch { return null; }
  const field = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  };
  return { rssKb: field('VmRSS'), hwmKb: field('VmHWM') };
}

export class RssMonitor {
  private timer: NodeJS.Timeout | undefined;
  private overallKb = 0;
  private windowKb = 0;
  private windowHwmReset = false;
  private inWindow = false;

  constructor(readonly pid: number, private readonly intervalMs = 50) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.sample();
  }

  private sample(): Status | null {
    const st = readStatus(this.pid);
    if (!st) return null;
    // VmHWM covers everything since process start or the last reset; VmRSS catches anything in between.
    this.overallKb = Math.max(this.overallKb, st.rssKb, st.hwmKb);
    if (this.inWindow) this.windowKb = Math.max(this.windowKb, st.rssKb, this.windowHwmReset ? st.hwmKb : 0);
    return st;
  }

  /** Starts a measured window: resets the kernel high-water mark so VmHWM then covers only this window. */
  beginWindow(): void {
    this.sample(); // fold the pre-reset HWM into the overall peak first
    try {
      writeFileSync(`/proc/${this.pid}/clear_refs`, '5');
      this.windowHwmReset = true;
    } catch {
      this.windowHwmReset = false; // not permitted: fall back to the periodic VmRSS samples
    }
    this.windowKb = 0;
    this.inWindow = true;
    this.sample();
  }

  /** Ends the window and returns its peak RSS in MiB. */
  endWindow(): number {
    this.sample();
    this.inWindow = false;
    return this.windowKb / 1024;
  }

  /** Peak RSS in MiB over the whole time the monitor ran. */
  overallMiB(): number {
    this.sample();
    return this.overallKb / 1024;
  }
}

/** CPU time (user + system, seconds) consumed so far by a process, or undefined if it is gone. */
export function procCpuSeconds(pid: number): number | undefined {
  let text: string;
  try { text = readFileSync(`/proc/${pid}/stat`, 'utf8'); } catch { return undefined; }
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15 (1-based), in clock ticks.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(rest[11]) + Number(rest[12]);
  return Number.isFinite(ticks) ? ticks / CLOCK_TICKS : undefined;
}

/** USER_HZ; 100 on every Linux architecture Node supports. */
const CLOCK_TICKS = 100;
