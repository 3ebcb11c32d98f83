// Stopping child processes that tests start: a signal, a bounded wait, SIGKILL if it lingers.
import type { ChildProcess } from 'node:child_process';

export async function stopChild(proc: ChildProcess, exited: Promise<void>, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
  const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(t);
}
