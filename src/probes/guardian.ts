// The guardian: a tiny shell process started before ktap first writes to tracefs, holding
// the read end of a pipe from ktap. When ktap is gone, by any means (SIGKILL and the OOM
// killer included), the pipe reads end-of-file and the guardian removes what ktap created.
// A teardown the kernel makes slow (thousands of uprobes) is handed to it while ktap ends.

import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** argv[0] of the guardian's shell: `/bin/sh -c SCRIPT ktap-guardian TRACEFS PID`. */
const GUARDIAN_NAME = 'ktap-guardian';

/**
 * What the guardian knows from the start: everything ktap creates carries its pid, the
 * instances as `instances/ktap-PID-N` and the probe groups as `ktap_PID` and `ktap_PID_N`,
 * so a definition made mid-attach is covered too. It ignores the terminal's signals (the
 * whole foreground group gets Ctrl-C and hang-ups; ktap handles those itself) and runs in
 * a session of its own.
 *
 * While ktap lives, each line it writes names an event directory of one of its instances:
 * the guardian disables that event at once (handOffTeardown). At end-of-file it removes
 * the rest. Instances go first: a probe whose event is still enabled in one cannot be
 * removed. Their probe events are disabled one write each, before the rmdir: rmdir would
 * disable them all under the kernel's event lock, which every other tracefs user (another
 * ktap's start included) then waits for, ~27 ms per uprobe. rmdir is retried while the
 * dying ktap still holds one of the instance's files (EBUSY). The probe groups are the
 * `events/` directories of our groups, one `-:GROUP/` each.
 */
const GUARDIAN_SCRIPT = `
trap '' INT TERM HUP QUIT PIPE ALRM TSTP TTIN TTOU USR1 USR2
cd "$1" || exit 0
while read -r event; do
  case "$event" in
    *..*) ;;
    instances/ktap-$2-*/events/*/*) echo 0 > "$event/enable" ;;
  esac
done
for d in instances/ktap-$2-*; do
  [ -d "$d" ] || continue
  echo 0 > "$d/tracing_on"
  for e in "$d"/events/ktap_$2/*/enable "$d"/events/ktap_$2_*/*/enable; do
    [ -f "$e" ] && echo 0 > "$e"
  done
  n=0
  until rmdir "$d" || [ ! -d "$d" ] || [ $n -ge 100 ]; do sleep 0.02; n=$((n + 1)); done
done
for g in events/ktap_$2 events/ktap_$2_*; do
  [ -d "$g" ] || continue
  for f in uprobe_events kprobe_events; do
    [ -f "$f" ] && echo "-:\${g#events/}/" >> "$f" && break
  done
done
`;

let guardian: ChildProcess | undefined;

/**
 * Starts the guardian of this process once (later calls return the same pid), before the
 * first write to the tracefs at ROOT. Returns its pid, or undefined when /bin/sh could not
 * be started (then only ktap's own cleanup and the next run's stale cleanup remain).
 */
export function startGuardian(root: string): number | undefined {
  if (guardian !== undefined) return guardian.pid;
  const child = spawn('/bin/sh', ['-c', GUARDIAN_SCRIPT, GUARDIAN_NAME, root, String(process.pid)], {
    stdio: ['pipe', 'ignore', 'ignore'],
    detached: true,
  });
  if (child.pid === undefined) return undefined;
  child.on('error', () => {
    // /bin/sh missing or not startable: the exit paths and stale cleanup still remove everything
  });
  child.stdin!.on('error', () => {
    // the guardian is gone (killed): a hand-off finds no reader, stale cleanup remains
  });
  // An empty line, which the guardian skips: the write path's code is compiled now, not at a
  // hand-off, when every malloc of ktap's may trap into thousands of uprobes.
  child.stdin!.write('\n');
  // Neither the guardian nor its pipe keeps ktap alive; ktap's exit closes the pipe.
  child.unref();
  (child.stdin as unknown as { unref(): void }).unref();
  guardian = child;
  return child.pid;
}

/** The guardian's pid, if one was started (its events are filtered out like ktap's own). */
export function currentGuardianPid(): number | undefined {
  return guardian?.pid;
}

/**
 * The guardian's order of removal for a slow teardown: the event directories of EVENTS of
 * INSTANCE (a directory name under `instances/`), one a line, to disable in this order.
 */
export function teardownOrder(instance: string, events: ReadonlyArray<{ readonly system: string; readonly event: string }>): string {
  return events.map(({ system, event }) => `instances/${instance}/events/${system}/${event}\n`).join('');
}

/**
 * Hands a slow teardown to the guardian while ktap ends: it disables the events of ORDER
 * (teardownOrder) right away, and removes everything once ktap has exited. Returns false
 * without a guardian. The pipe takes what fits at once; what is still queued when ktap
 * exits is lost, and the guardian's end-of-file pass covers it.
 */
export function handOffTeardown(order: string): boolean {
  const stdin = guardian?.stdin;
  // A guardian that is gone (killed) takes nothing over: ktap removes everything itself.
  if (guardian?.exitCode !== null || guardian.signalCode !== null || stdin === undefined || stdin === null || stdin.destroyed) return false;
  if (order !== '') stdin.write(order);
  return true;
}

/**
 * A check for the stale cleanup at start (tracer.ts): whether what the ktap process PID
 * created is nobody's any more. It is when PID is gone and no guardian of it is still at
 * work; a guardian removing thousands of uprobes runs for a minute after ktap, and a second
 * removal would only queue behind its writes. The guardians are looked up in /proc once, at
 * the first dead pid: nothing is read while every pid is alive.
 */
export function staleRunCheck(root: string): (pid: number) => boolean {
  let guarded: Set<number> | undefined;
  return (pid) => {
    if (processExists(pid)) return false;
    guarded ??= guardedPids(root);
    return !guarded.has(pid);
  };
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but is not ours to signal
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** The ktap pids whose guardian for the tracefs at ROOT is running. */
function guardedPids(root: string): Set<number> {
  const pids = new Set<number>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return pids;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // NUL-terminated arguments: ... ktap-guardian ROOT PID ''
      const args = readFileSync(`/proc/${entry}/cmdline`, 'latin1').split('\0');
      if (args[args.length - 4] === GUARDIAN_NAME && args[args.length - 3] === root) pids.add(Number(args[args.length - 2]));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}
