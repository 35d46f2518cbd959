// Checks of what -C and -p name, before anything is created in the kernel: a CPU that is
// not online or a process that does not exist is one clear line, not a silent empty trace.

import { existsSync, readFileSync } from 'node:fs';
import { TracefsError } from '../probes/tracefs';

/** Throws TracefsError (exit 1, one line) when -C names no online CPU or -p no process. */
export function checkTargets(options: { readonly cpu?: number; readonly pid?: number }): void {
  if (options.cpu !== undefined) {
    const online = onlineCpus();
    if (online !== undefined && !online.cpus.includes(options.cpu)) {
      throw new TracefsError(`-C ${options.cpu}: no such CPU online (online CPUs: ${online.text})`);
    }
  }
  if (options.pid !== undefined && !existsSync(`/proc/${options.pid}`)) {
    throw new TracefsError(`-p ${options.pid}: no such process`);
  }
}

/** The online CPUs from `/sys/devices/system/cpu/online` (`0-1,4`); undefined if unreadable. */
function onlineCpus(): { cpus: number[]; text: string } | undefined {
  let text: string;
  try {
    text = readFileSync('/sys/devices/system/cpu/online', 'latin1').trim();
  } catch {
    return undefined;
  }
  const cpus: number[] = [];
  for (const range of text.split(',')) {
    const [first, last = first] = range.split('-').map(Number);
    for (let cpu = first!; cpu <= last!; cpu++) cpus.push(cpu);
  }
  return { cpus, text };
}
