// The `-- cmd` workload: found on PATH before anything starts, held stopped (SIGSTOP) just
// before its exec so that probes filtered to its pid see only its own events, then released.

import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { delimiter, join } from 'node:path';
import { UserError } from '../errors';

/** The command cannot be started (not found, not executable): one line, exit status 1. */
export class WorkloadError extends UserError {
  constructor(message: string) {
    super(message, 'command');
  }
}

/** How long a launcher may take to reach its stop (it is a shell starting up). */
const LAUNCH_DEADLINE_MS = 10_000;
/** How long a workload ktap ends gets to exit after SIGTERM, before SIGKILL. */
const TERMINATE_GRACE_MS = 400;

/**
 * The gate: a shell that stops itself and, once continued, execs the command. Its own
 * system calls all happen before the stop, so before the kernel's pid filter is set; after
 * SIGCONT its next system call is the execve of the command.
 */
const GATE = 'kill -STOP $$; exec "$@"';
/** O_CLOEXEC in the flags of /proc/self/fdinfo/N (octal). */
const CLOSE_ON_EXEC = 0o2000000;

export class Workload {
  private readonly child: ChildProcess;
  private released = false;
  /** Signals ktap sent to end it: a death by one of them is ktap's doing, not the workload's failure. */
  private readonly signalsSent = new Set<NodeJS.Signals>();
  private exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  /** Resolves when the process has exited (and was reaped). */
  readonly exited: Promise<void>;

  /** Starts the launcher of `command`, stopped at its gate (WorkloadError when the command cannot run). */
  constructor(command: readonly string[], captureOutput: boolean) {
    const path = resolveCommand(command[0]!);
    const { shell, script } = launcher();
    this.child = spawn(shell, ['-c', script, 'ktap-workload', path, ...command.slice(1)], {
      stdio: captureOutput ? ['ignore', 'pipe', 'pipe'] : 'inherit',
    });
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve();
      });
    });
    // A failed spawn (no shell) arrives as an 'error' event, and no 'exit' follows.
    this.child.on('error', () => {
      this.exit ??= { code: 127, signal: null };
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** The command's stdout and stderr when captured (--tui). */
  get output(): { stdout: NodeJS.ReadableStream; stderr: NodeJS.ReadableStream } | null {
    return this.child.stdout === null || this.child.stderr === null ? null : { stdout: this.child.stdout, stderr: this.child.stderr };
  }

  /** Resolves once the launcher has stopped itself, ready for release(). */
  async stopped(): Promise<void> {
    const deadline = performance.now() + LAUNCH_DEADLINE_MS;
    for (;;) {
      if (this.exit !== null || this.child.pid === undefined) throw new WorkloadError('cannot start the command: the launcher shell failed');
      if (processState(this.child.pid) === 'T') return;
      if (performance.now() > deadline) throw new WorkloadError('cannot start the command: the launcher shell did not get ready');
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  /** Lets the command run (its exec is the next thing it does). */
  release(): void {
    if (this.released || this.exit !== null) return;
    this.released = true;
    this.child.kill('SIGCONT');
  }

  /**
   * Ends a workload still running because the session ended first: SIGTERM (SIGKILL if it
   * was never released), then SIGKILL if it is still there after a short grace.
   */
  async terminate(): Promise<void> {
    this.terminateNow();
    if (this.exit !== null || (await settlesWithin(this.exited, TERMINATE_GRACE_MS))) return;
    this.signal('SIGKILL');
    await settlesWithin(this.exited, TERMINATE_GRACE_MS);
  }

  /** Sends the first end signal without waiting (also when ktap fails: its exit must not wait). */
  terminateNow(): void {
    if (this.exit !== null || this.signalsSent.size > 0) return;
    this.signal(this.released ? 'SIGTERM' : 'SIGKILL');
  }

  private signal(name: NodeJS.Signals): void {
    this.signalsSent.add(name);
    this.child.kill(name);
  }

  /**
   * The status ktap exits with for this workload (docs/workload.md): its exit status, or
   * 128 + N when a signal N it did not get from ktap killed it; null when it never ran or
   * ended because ktap told it to (ktap's own status stands).
   */
  get status(): number | null {
    if (this.exit === null || !this.released) return null;
    const { code, signal } = this.exit;
    // A death by another signal than ktap's came first (Ctrl-C reaches the command too).
    if (signal !== null) return this.signalsSent.has(signal) ? null : 128 + (osConstants.signals[signal] ?? 0);
    return this.signalsSent.size > 0 ? null : code;
  }
}

/**
 * The file `name` runs, as execvp would find it: a name with a slash as it is, otherwise the
 * first executable file of that name on PATH. WorkloadError says why there is none.
 */
export function resolveCommand(name: string): string {
  if (name === '') throw new WorkloadError("cannot run '': empty command name");
  if (name.includes('/')) {
    const problem = executableProblem(name);
    if (problem !== null) throw new WorkloadError(`cannot run '${name}': ${problem}`);
    return name;
  }
  let denied = false;
  for (const directory of (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter)) {
    const candidate = join(directory === '' ? '.' : directory, name);
    const problem = executableProblem(candidate);
    if (problem === null) return candidate;
    if (problem === 'Permission denied') denied = true;
  }
  throw new WorkloadError(`cannot run '${name}': ${denied ? 'Permission denied' : 'command not found'}`);
}

function executableProblem(path: string): string | null {
  try {
    if (statSync(path).isDirectory()) return 'Is a directory';
    accessSync(path, constants.X_OK);
    return null;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'No such file or directory';
    if (code === 'EACCES') return 'Permission denied';
    if (code === 'ENOTDIR') return 'Not a directory';
    return (error as Error).message;
  }
}

/**
 * The shell and script that start the gate with nothing open beyond 0-2: ktap's own
 * descriptors are close-on-exec, the ones it inherited without that flag are closed here.
 * dash redirects only descriptors 0-9, so bash closes higher ones before exec'ing the gate
 * (bash itself makes system calls between a stop and an exec).
 */
function launcher(): { shell: string; script: string } {
  const inherited = inheritedDescriptors();
  const closing = (fds: readonly number[]): string => (fds.length === 0 ? '' : `exec ${fds.map((fd) => `${fd}>&-`).join(' ')}; `);
  if (inherited.every((fd) => fd <= 9)) return { shell: '/bin/sh', script: closing(inherited) + GATE };
  if (existsSync('/bin/bash')) return { shell: '/bin/bash', script: `${closing(inherited)}exec /bin/sh -c '${GATE}' ktap-workload "$@"` };
  return { shell: '/bin/sh', script: closing(inherited.filter((fd) => fd <= 9)) + GATE };
}

/** Descriptors above 2 this process has open without close-on-exec (inherited from its parent). */
function inheritedDescriptors(): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc/self/fd')) {
    const fd = Number(name);
    if (fd <= 2) continue;
    try {
      const flags = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1'));
      if (flags !== null && (parseInt(flags[1]!, 8) & CLOSE_ON_EXEC) === 0) found.push(fd);
    } catch {
      // The directory listing's own descriptor, closed meanwhile.
    }
  }
  return found.sort((a, b) => a - b);
}

/** The state letter of /proc/PID/stat (R, S, T, Z, …), or '' once the process is gone. */
function processState(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.charAt(stat.lastIndexOf(')') + 2);
  } catch {
    return '';
  }
}

/** Whether `promise` settles within `ms`. */
async function settlesWithin(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const settled = await Promise.race([promise.then(() => true), timeout]);
  clearTimeout(timer);
  return settled;
}
