// The one answer to "can the tracing tests run here?": root and a tracefs ktap can list
// events from (test files skip for real when it gives a reason), and a run's guardian.

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** The repository root and its launcher. */
export const root = join(__dirname, '..', '..');
export const ktap = join(root, 'bin', 'ktap');

let cached: { reason: string | undefined } | undefined;

/** Why tracing scenarios cannot run here, or undefined when they can (asked once per process). */
export function tracingUnavailable(): string | undefined {
  if (cached !== undefined) return cached.reason;
  let reason: string | undefined;
  if (process.getuid?.() !== 0) reason = 'not running as root';
  else {
    const probe = spawnSync(process.execPath, [ktap, '-le', 'syscalls:sys_enter_getppid'], { encoding: 'utf8' });
    if (probe.status !== 0) reason = probe.stderr.trim() || 'ktap -le failed';
    else if (!probe.stdout.includes('syscalls:sys_enter_getppid')) reason = 'no syscalls:sys_enter_getppid tracepoint';
  }
  cached = { reason };
  return reason;
}

/** Where the tracing tests find tracefs. */
export const TRACEFS = '/sys/kernel/tracing';

/** Why uprobes cannot be made here (besides tracingUnavailable()), or undefined. */
export function uprobesUnavailable(): string | undefined {
  return existsSync(join(TRACEFS, 'uprobe_events')) ? undefined : 'no uprobe_events (CONFIG_UPROBE_EVENTS)';
}

/** The instances and probe definitions the ktap process PID created that are still there. */
export function leftovers(pid: number | undefined): string[] {
  const directory = join(TRACEFS, 'instances');
  const instances = existsSync(directory) ? readdirSync(directory).filter((name) => name.startsWith(`ktap-${pid}-`)) : [];
  const probes = uprobesUnavailable() !== undefined ? [] : readFileSync(join(TRACEFS, 'uprobe_events'), 'latin1').split('\n')
    .filter((line) => new RegExp(`^[pr]:ktap_${pid}(_\\d+)?/`).test(line));
  return [...instances, ...probes];
}

/** The pid of the guardian of the ktap process PID (src/probes/guardian.ts), if there is one. */
export function guardianOf(pid: number, tracefs = TRACEFS): number | undefined {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // `/bin/sh -c SCRIPT ktap-guardian TRACEFS PID`, NUL-terminated
      const args = readFileSync(`/proc/${name}/cmdline`, 'latin1').split('\0');
      if (args.slice(-4, -1).join(' ') === `ktap-guardian ${tracefs} ${pid}`) return Number(name);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}
