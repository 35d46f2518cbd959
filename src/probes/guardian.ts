// The guardian: a tiny shell process started before ktap first writes to tracefs, holding
// the read end of a pipe from ktap. When ktap is gone, by any means (SIGKILL and the OOM
// killer included), the pipe reads end-of-file and the guardian removes what ktap created.

import { spawn } from 'node:child_process';

/**
 * What the guardian knows from the start: everything ktap creates carries its pid, the
 * instances as `instances/ktap-PID-N` and the probe groups as `ktap_PID` and `ktap_PID_N`,
 * so a definition made mid-attach is covered too. It ignores the terminal's signals (the
 * whole foreground group gets Ctrl-C and hang-ups; ktap handles those itself) and runs in
 * a session of its own. Instances go first: a probe whose event is still enabled in one
 * cannot be removed. rmdir disables every event of the instance; it is retried while the
 * dying ktap still holds one of the instance's files (EBUSY).
 */
const GUARDIAN_SCRIPT = `
trap '' INT TERM HUP QUIT PIPE ALRM TSTP TTIN TTOU USR1 USR2
read -r _
cd "$1" || exit 0
for d in instances/ktap-$2-*; do
  [ -d "$d" ] || continue
  echo 0 > "$d/tracing_on"
  n=0
  until rmdir "$d" || [ $n -ge 100 ]; do sleep 0.02; n=$((n + 1)); done
done
for f in uprobe_events kprobe_events; do
  [ -f "$f" ] || continue
  groups=
  while read -r line; do
    case "$line" in
      [pr]:ktap_$2/*|[pr]:ktap_$2_*/*) g=\${line#??}; groups="$groups \${g%%/*}" ;;
    esac
  done < "$f"
  for g in $groups; do echo "-:$g/" >> "$f"; done
done
`;

let guardianPid: number | undefined;

/**
 * Starts the guardian of this process once (later calls return the same pid), before the
 * first write to the tracefs at ROOT. Returns its pid, or undefined when /bin/sh could not
 * be started (then only ktap's own cleanup and the next run's stale cleanup remain).
 */
export function startGuardian(root: string): number | undefined {
  if (guardianPid !== undefined) return guardianPid;
  const child = spawn('/bin/sh', ['-c', GUARDIAN_SCRIPT, 'ktap-guardian', root, String(process.pid)], {
    stdio: ['pipe', 'ignore', 'ignore'],
    detached: true,
  });
  if (child.pid === undefined) return undefined;
  child.on('error', () => {
    // /bin/sh missing or not startable: the exit paths and stale cleanup still remove everything
  });
  // Neither the guardian nor its pipe keeps ktap alive; ktap's exit closes the pipe.
  child.unref();
  (child.stdin as unknown as { unref(): void }).unref();
  guardianPid = child.pid;
  return guardianPid;
}

/** The guardian's pid, if one was started (its events are filtered out like ktap's own). */
export function currentGuardianPid(): number | undefined {
  return guardianPid;
}
