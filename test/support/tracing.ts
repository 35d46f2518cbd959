// The one answer to "can the tracing tests run here?": root and a tracefs ktap can list
// events from. Test files skip for real (`{ skip: reason }`) when it gives a reason.

import { spawnSync } from 'node:child_process';
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
