// Kernel tracefs: find or mount it, trace only inside a private instance, turn every refused
// write into a TracefsError with the kernel's error_log reason, and leave nothing behind.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../errors';
import { staleRunCheck } from './guardian';

/** The one line a user without tracing rights gets (SPEC-product §1). */
export const PERMISSION_MESSAGE =
  'tracing needs root (or CAP_SYS_ADMIN/CAP_PERFMON with access to tracefs); run ktap as root';

const TRACEFS_MOUNT = '/sys/kernel/tracing';
const DEBUGFS_MOUNT = '/sys/kernel/debug';
/** Where older setups reach tracefs: the kernel automounts it inside debugfs. */
const DEBUGFS_TRACING = '/sys/kernel/debug/tracing';

/** A failure to reach or change the kernel's tracing state (SPEC §6.3), one line for the user. */
export class TracefsError extends UserError {
  /** REASON is the kernel's own part of the message, when there is one. */
  constructor(message: string, readonly reason?: string) {
    super(message, 'tracing');
  }
}

// ---------------------------------------------------------------------------------------
// Finding tracefs

let tracefsRoot: string | undefined;

/** The tracefs directory, mounting tracefs (or debugfs) first when nothing is mounted. */
export function findTracefs(): string {
  if (tracefsRoot !== undefined) return tracefsRoot;
  for (const candidate of [TRACEFS_MOUNT, DEBUGFS_TRACING]) {
    if (isTracefs(candidate)) return (tracefsRoot = candidate);
  }
  const failures: string[] = [];
  for (const [type, mountPoint, root] of [
    ['tracefs', TRACEFS_MOUNT, TRACEFS_MOUNT],
    ['debugfs', DEBUGFS_MOUNT, DEBUGFS_TRACING],
  ] as const) {
    const failure = mount(type, mountPoint);
    if (failure === undefined && isTracefs(root)) return (tracefsRoot = root);
    failures.push(failure ?? `${root} has no available_events after mounting ${type}`);
  }
  if (process.getuid?.() !== 0) throw new TracefsError(PERMISSION_MESSAGE);
  throw new TracefsError(`cannot find or mount tracefs: ${failures.join('; ')}`);
}

/** Whether DIRECTORY is a usable tracefs; a tracefs we may not read is the permission error. */
function isTracefs(directory: string): boolean {
  try {
    fs.accessSync(join(directory, 'available_events'), fs.constants.R_OK);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') throw new TracefsError(PERMISSION_MESSAGE);
    return false;
  }
}

/** Mounts a pseudo file system; the reason it failed, or undefined. */
function mount(type: string, mountPoint: string): string | undefined {
  try {
    execFileSync('mount', ['-t', type, 'nodev', mountPoint], { stdio: ['ignore', 'ignore', 'pipe'] });
    return undefined;
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    return stderr || `mount -t ${type} ${mountPoint}: ${errnoText(error)}`;
  }
}

// ---------------------------------------------------------------------------------------
// Kernel reasons

/** The kernel's own "operation not supported" (524), e.g. a uprobe on an instruction it cannot step. */
const ENOTSUPP = 524;

/** The human part of a Node system error: `EINVAL: invalid argument, write` → `invalid argument`. */
export function errnoText(error: unknown): string {
  // Node has no name for the kernel-internal ENOTSUPP and calls it `unknown error`.
  if ((error as NodeJS.ErrnoException).errno === -ENOTSUPP) return 'the kernel cannot probe the instruction there (ENOTSUPP)';
  const message = error instanceof Error ? error.message : String(error);
  const match = /^[A-Z0-9]+: ([^,]+)/.exec(message);
  return match === null ? message : match[1]!;
}

/**
 * The message of the last entry of an error_log, e.g. `Field not found` from
 *   [ 2433.984990] event filter parse error: error: Field not found
 *     Command: x ==
 *                ^
 * Entries start with a `[timestamp]` line; the kernel prints `LOCATION: error: MESSAGE`.
 */
export function lastErrorLogMessage(log: string): string | undefined {
  const headers = log.split('\n').filter((line) => /^\[\s*\d+\.\d+\]/.test(line));
  const last = headers[headers.length - 1];
  if (last === undefined) return undefined;
  const text = last.replace(/^\[[^\]]*\]\s*/, '');
  const match = /^.*error: (.*)$/.exec(text);
  return (match === null ? text : match[1]!).trim() || undefined;
}

// ---------------------------------------------------------------------------------------
// The process-wide cleanup registry

const cleanups: Array<() => void> = [];
let exitHookInstalled = false;

/**
 * Registers FN to run once on the way out, latest first. Returns a function that removes it
 * again (for work that was undone early). The first registration hooks process 'exit', the
 * last line of defence when no other exit path ran the cleanups.
 */
export function registerCleanup(fn: () => void): () => void {
  if (!exitHookInstalled) {
    process.on('exit', runCleanups);
    exitHookInstalled = true;
  }
  cleanups.push(fn);
  return () => {
    const index = cleanups.indexOf(fn);
    if (index >= 0) cleanups.splice(index, 1);
  };
}

/** Runs every registered cleanup once, latest first; a failing one is reported, not thrown. */
export function runCleanups(): void {
  while (cleanups.length > 0) {
    const fn = cleanups.pop()!;
    try {
      fn();
    } catch (error) {
      warn(`cleanup failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}

function warn(message: string): void {
  try {
    fs.writeSync(2, `warning: ${message}\n`);
  } catch {
    // stderr is gone; nothing is left to tell
  }
}

// ---------------------------------------------------------------------------------------
// Instances

/** Instances of ktap runs (`ktap-PID-N`) and of its tools and tests (`ktap-NAME-PID`). */
const OWN_INSTANCE = /^ktap-(?:(\d+)-\d+|[a-z]+-(\d+))$/;
/** How long remove() waits for readers to close their pipes before it gives up. */
const REMOVE_RETRIES = 40;
const REMOVE_RETRY_MS = 25;
/** Files whose content remove() resets: event filters, pid and function lists. */
const LIST_FILE = /(^|\/)filter$|^set_event_(notrace_)?pid$|^set_ftrace_(filter|notrace|pid|notrace_pid)$/;

let instancesCreated = 0;
/** An Instance object for an existing instance directory (for removing stale ones). */
let openInstance: (root: string, name: string) => Instance;

/**
 * A private tracing instance (`instances/ktap-PID-N`): its own ring buffers, events, filters
 * and options, so that ktap never touches the top level other tools use.
 */
export class Instance {
  /**
   * Filters and pid or function lists written, which remove() clears. Only those: on a
   * locked-down kernel even opening set_ftrace_filter is refused.
   */
  private readonly lists = new Set<string>();
  private unregister: (() => void) | undefined;
  private removed = false;

  private constructor(
    readonly root: string,
    readonly name: string,
  ) {}

  /** The directory of the instance. */
  get directory(): string {
    return join(this.root, 'instances', this.name);
  }

  /** Creates a new instance; it is removed by remove() or, at the latest, by runCleanups(). */
  static create(root: string): Instance {
    for (;;) {
      const instance = new Instance(root, `ktap-${process.pid}-${instancesCreated++}`);
      try {
        fs.mkdirSync(instance.directory);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        // A leftover of an earlier process that had our pid; it is not ours to reuse.
        if (code === 'EEXIST') continue;
        if (code === 'EACCES' || code === 'EPERM') throw new TracefsError(PERMISSION_MESSAGE);
        throw new TracefsError(`cannot create tracefs instance ${instance.name}: ${errnoText(error)}`);
      }
      instance.unregister = registerCleanup(() => instance.remove());
      return instance;
    }
  }

  path(relative: string): string {
    return join(this.directory, relative);
  }

  read(relative: string): string {
    try {
      return fs.readFileSync(this.path(relative), 'utf8');
    } catch (error) {
      throw new TracefsError(`cannot read ${relative} of tracefs instance ${this.name}: ${errnoText(error)}`);
    }
  }

  /**
   * Replaces the content of a kernel file (opened with O_TRUNC, as `echo >` does: for list
   * files like set_event_pid that drops the old entries). DESCRIBE words the failure for the
   * user; the kernel's reason is appended.
   */
  write(relative: string, text: string, describe = `cannot write '${text.trim()}' to ${relative}`): void {
    let descriptor: number | undefined;
    try {
      descriptor = fs.openSync(this.path(relative), fs.constants.O_WRONLY | fs.constants.O_TRUNC);
      // Opened means truncated: from here on remove() has something to clear.
      if (LIST_FILE.test(relative)) this.lists.add(relative);
      if (text !== '') fs.writeSync(descriptor, text);
    } catch (error) {
      const reason = this.kernelReason(error);
      throw new TracefsError(`${describe}: ${reason}`, reason);
    } finally {
      if (descriptor !== undefined) fs.closeSync(descriptor);
    }
  }

  /**
   * Why the kernel refused the last write. The kernel logs a refused write to a file of an
   * instance in the instance's own error_log (not the top-level one). Only our writes reach
   * this instance, and the log is emptied after every failure, so its last entry, if any,
   * belongs to this failure; many refusals (a bad trace_clock, say) log nothing, and then the
   * errno tells.
   */
  private kernelReason(error: unknown): string {
    let logged: string | undefined;
    try {
      logged = lastErrorLogMessage(fs.readFileSync(this.path('error_log'), 'utf8'));
      if (logged !== undefined) fs.writeFileSync(this.path('error_log'), '');
    } catch {
      // an instance without error_log (old kernels) leaves the errno
    }
    return logged ?? errnoText(error);
  }

  enableEvent(system: string, event: string): void {
    this.write(`events/${system}/${event}/enable`, '1', `cannot enable ${system}:${event}`);
  }

  disableEvent(system: string, event: string): void {
    this.write(`events/${system}/${event}/enable`, '0', `cannot disable ${system}:${event}`);
  }

  /** Installs the kernel filter of one event (SPEC §4.8); `0` clears it. */
  setFilter(system: string, event: string, filter: string): void {
    this.write(`events/${system}/${event}/filter`, filter, `kernel rejected filter '${filter}' for ${system}:${event}`);
  }

  /** An `options/NAME` switch of the instance. */
  setOption(name: string, on: boolean): void {
    this.write(`options/${name}`, on ? '1' : '0');
  }

  /**
   * Records events only of PIDS (none: every process). With FOLLOW_FORKS the kernel adds
   * their children as they fork; it is switched first so that no fork slips between.
   */
  setEventPid(pids: readonly number[], followForks: boolean): void {
    this.setOption('event-fork', followForks);
    this.write('set_event_pid', pids.join(' '));
  }

  /**
   * Records no events of PIDS nor of the tasks they create from now on (new threads
   * included: the kernel adds them as they fork).
   */
  setEventNotracePid(pids: readonly number[]): void {
    this.setOption('event-fork', true);
    this.write('set_event_notrace_pid', pids.join(' '));
  }

  /** Records events only on CPUS. */
  setCpuMask(cpus: readonly number[]): void {
    this.write('tracing_cpumask', cpuMask(cpus));
  }

  /** Size of each CPU's ring buffer. */
  setBufferSizeKb(kilobytes: number): void {
    this.write('buffer_size_kb', String(kilobytes));
  }

  setTraceClock(name: string): void {
    this.write('trace_clock', name);
  }

  /** Number of CPUs with a ring buffer (`per_cpu/cpuN`). */
  cpuCount(): number {
    try {
      return fs.readdirSync(this.path('per_cpu')).filter((name) => /^cpu\d+$/.test(name)).length;
    } catch (error) {
      throw new TracefsError(`cannot read per_cpu of tracefs instance ${this.name}: ${errnoText(error)}`);
    }
  }

  /**
   * Leaves the removal to the guardian (see guardian.ts), which removes the instance once
   * ktap has exited: for a teardown that would take the kernel longer than ktap may take to
   * exit. No exit path removes it from now on; the caller stops recording.
   */
  abandon(): void {
    this.removed = true;
    this.unregister?.();
  }

  /**
   * Stops tracing, disables and clears everything enabled, and removes the instance. Safe to
   * call more than once and from an 'exit' handler: it never throws, it reports on stderr.
   */
  remove(): void {
    if (this.removed) return;
    this.removed = true;
    this.unregister?.();
    if (!fs.existsSync(this.directory)) return;
    // rmdir clears filters and lists itself: they are cleared one by one (thousands of
    // writes after a glob) only if the instance cannot be removed.
    const disable = [
      () => this.write('tracing_on', '0'),
      () => this.write('events/enable', '0'),
      () => this.write('set_event', ''),
    ];
    if (!this.runSteps(disable)) return;
    if (removeDirectory(this.directory)) return;
    this.runSteps([...this.lists].map((relative) => () => this.write(relative, relative.endsWith('/filter') ? '0' : '')));
    this.lists.clear();
  }

  /** Runs cleanup steps, reporting failures; false when the instance is gone meanwhile. */
  private runSteps(steps: ReadonlyArray<() => void>): boolean {
    for (const step of steps) {
      try {
        step();
      } catch (error) {
        // Gone already: another run removed it as stale while we were at it.
        if (!fs.existsSync(this.directory)) return false;
        warn(`cleanup of tracefs instance ${this.name}: ${(error as Error).message}`);
      }
    }
    return true;
  }

  static {
    openInstance = (root, name) => new Instance(root, name);
  }
}

/**
 * Removes the instances of ktap runs that are gone (killed before they or their guardian
 * could clean up) and returns their names; instances of live runs, and of runs whose
 * guardian is still removing them, stay (see staleRunCheck).
 */
export function removeStaleInstances(root: string, isStale = staleRunCheck(root)): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(join(root, 'instances'));
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const match = OWN_INSTANCE.exec(name);
    if (match === null || !isStale(Number(match[1] ?? match[2]))) continue;
    openInstance(root, name).remove();
    removed.push(name);
  }
  return removed;
}

/**
 * rmdir of an instance fails with EBUSY while a reader still has one of its pipes open.
 * Returns whether the directory is gone.
 */
function removeDirectory(directory: string): boolean {
  for (let attempt = 0; ; attempt++) {
    try {
      fs.rmdirSync(directory);
      return true;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return true;
      if (code !== 'EBUSY' || attempt >= REMOVE_RETRIES) {
        warn(`cannot remove tracefs instance ${directory}: ${errnoText(error)}`);
        return false;
      }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, REMOVE_RETRY_MS);
    }
  }
}

/**
 * tracing_cpumask text for a CPU list: hex, in comma-separated 32-bit groups from the highest
 * (the kernel's bitmap format), e.g. [0, 1] → `3`, [40] → `100,00000000`.
 */
export function cpuMask(cpus: readonly number[]): string {
  const groups: number[] = [0];
  for (const cpu of cpus) {
    if (!Number.isInteger(cpu) || cpu < 0) throw new TracefsError(`invalid CPU number ${cpu}`);
    const group = Math.floor(cpu / 32);
    while (groups.length <= group) groups.push(0);
    groups[group] = (groups[group]! | (1 << cpu % 32)) >>> 0;
  }
  return groups
    .reverse()
    .map((bits, index) => bits.toString(16).padStart(index === 0 ? 1 : 8, '0'))
    .join(',');
}
