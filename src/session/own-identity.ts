// Who ktap itself is, for the event variables read outside any event (SPEC §4.10: `pid`,
// `execname`, … in a main chunk or a tick handler describe the tracer).

import { readFileSync } from 'node:fs';
import type { TracerIdentity } from '../vm/runtime';

/** The tracer's command name, once read. */
let ownName: string | undefined;

/** The CPU this process last ran on (field 39 of /proc/self/stat). */
function currentCpu(): number {
  try {
    const stat = readFileSync('/proc/self/stat', 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[36]);
  } catch {
    return 0;
  }
}

export const OWN_IDENTITY: TracerIdentity = {
  cpu: currentCpu,
  pid: process.pid,
  tid: process.pid,
  uid: process.getuid?.() ?? -1,
  // ktap never renames itself, so its name is read once (each read of /proc costs ~37 µs).
  get execname(): string {
    return (ownName ??= readFileSync('/proc/self/comm', 'latin1').trimEnd());
  },
};
