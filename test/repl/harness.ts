// Shared by the REPL tests: the real `ktap` driven through a tmux pseudo-terminal or a pipe,
// a workload process that makes exactly the getppid() calls asked of it, and polling helpers.

import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { ktap, root, shellQuote, sleep, waitFor } from '../tui/harness';

// The generic helpers are the dashboard tests' (one copy for both).
export { ktap, leftovers, root, sleep, waitFor } from '../tui/harness';
export { tracingUnavailable } from '../support/tracing';

/**
 * A probe on one process's getppid() calls: the kernel filters on its pid, so the calls of
 * other processes (other tests flood getppid) never reach the session and counts stay exact.
 */
export function getppidOf(pid: number, event = 'sys_enter_getppid'): string {
  return `trace syscalls:${event} /common_pid == ${pid}/`;
}

/** The REPL's line for a probe getppidOf() attached. */
export function attachedLine(id: number, pid: number, event = 'sys_enter_getppid'): RegExp {
  return new RegExp(`^\\[${id}\\] trace syscalls:${event} /common_pid == ${pid}/ \\(1 event\\)$`, 'm');
}

let queries = 0;

/** A REPL that takes an input and waits until its output matches. */
export interface Asking {
  ask(input: string, answer: RegExp): Promise<RegExpExecArray>;
}

/**
 * Asks for an integer expression until it equals `expected` (events arrive asynchronously)
 * or 10 s have passed; returns the last value.
 */
export async function valueBecomes(session: Asking, expression: string, expected: number): Promise<number> {
  const deadline = Date.now() + 10_000;
  let value = NaN;
  do {
    const tag = `q${++queries}`;
    value = Number((await session.ask(`printf("${tag}=%d\\n", ${expression})`, new RegExp(`^${tag}=(-?\\d+)$`, 'm')))[1]);
    if (value === expected) return value;
    await sleep(100);
  } while (Date.now() < deadline);
  return value;
}

/** CPU time PID has used so far, in ms (utime + stime of /proc/PID/stat). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of stat(5), counted from the state (field 3) here, in clock ticks of 10 ms.
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/**
 * Waits until PID has burnt `ms` of CPU from now: an input that loops is then surely running,
 * however long a busy machine took to start it (a fixed sleep would race with that).
 */
export async function burnsCpu(pid: number, ms: number): Promise<void> {
  const from = cpuMs(pid);
  await waitFor(() => cpuMs(pid) - from >= ms, `pid ${pid} to use ${ms} ms of CPU`, 60_000);
}

/** Compiles test/repl/ppid.c into `directory`. */
export function buildWorkload(directory: string): string {
  const binary = join(directory, 'ppid');
  execFileSync('cc', ['-O1', '-o', binary, join(__dirname, 'ppid.c')]);
  return binary;
}

/** A long-lived process whose getppid() calls the tests count exactly (filtered by its pid). */
export class Workload {
  readonly child: ChildProcess;
  private output = '';
  private requests = 0;

  constructor(binary: string) {
    this.child = spawn(binary, [], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.child.stdout!.on('data', (chunk: Buffer) => (this.output += chunk.toString('latin1')));
  }

  /** A workload that ends with the test. */
  static for(t: Test, binary: string): Workload {
    const workload = new Workload(binary);
    t.teardown(() => workload.stop());
    return workload;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Makes `count` getppid() calls and resolves once they are done. */
  async calls(count: number): Promise<void> {
    this.requests++;
    const done = this.requests;
    this.child.stdin!.write(`${count}\n`);
    await waitFor(() => this.output.split('\n').filter((line) => line.startsWith('ok ')).length >= done, `${count} getppid calls`);
  }

  stop(): void {
    this.child.stdin!.end();
    if (this.child.exitCode === null) this.child.kill();
  }
}

/** ktap's environment: a private HOME (history), without tap's loader in NODE_OPTIONS. */
export function ktapEnvironment(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
  delete env.NODE_OPTIONS;
  return env;
}

// ---- through a terminal (tmux) --------------------------------------------------------

/** One tmux server per test file, on its own socket, so nothing touches the user's tmux. */
const socket = `ktap-repl-test-${process.pid}`;
let sessionCount = 0;

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-L', socket, '-f', '/dev/null', ...args], { encoding: 'utf8' });
}

/** Stops this file's tmux server and removes its socket (teardown). */
export function stopTmuxServer(): void {
  spawnSync('tmux', ['-L', socket, 'kill-server'], { stdio: 'ignore' });
  rmSync(join(process.env.TMUX_TMPDIR ?? '/tmp', `tmux-${process.getuid?.()}`, socket), { force: true });
}

export function tmuxSessions(): string[] {
  const result = spawnSync('tmux', ['-L', socket, 'list-sessions', '-F', '#{session_name}'], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.split('\n').filter((line) => line !== '') : [];
}

/**
 * `ktap` in a 120x40 tmux pane, run by a shell that writes its exit status below it (tmux's
 * own pane_dead_status proved unreliable); the pane stays so the last screen can be read.
 */
export class TerminalKtap {
  readonly name: string;
  readonly pid: number;

  private constructor(name: string, pid: number) {
    this.name = name;
    this.pid = pid;
  }

  static async start(args: readonly string[], home: string): Promise<TerminalKtap> {
    // Between tests no session exists; the server stays up instead of racing a new session.
    if (sessionCount === 0) tmux('start-server', ';', 'set-option', '-s', 'exit-empty', 'off');
    const name = `repl-${++sessionCount}`;
    const command = ['env', '-u', 'NODE_OPTIONS', `HOME=${home}`, process.execPath, ktap, ...args].map(shellQuote).join(' ');
    tmux('new-session', '-d', '-s', name, '-x', '120', '-y', '40', `${command}; echo "[ktap exited $?]"`,
      ';', 'set-option', '-t', name, 'remain-on-exit', 'on');
    const shell = tmux('display-message', '-p', '-t', name, '#{pane_pid}').trim();
    const pid = await waitFor(() => {
      const children = spawnSync('ps', ['-o', 'pid=', '--ppid', shell], { encoding: 'utf8' }).stdout.trim();
      return children === '' ? undefined : Number(children.split('\n')[0]);
    }, 'ktap to start');
    return new TerminalKtap(name, pid);
  }

  /** Types text literally (no Enter). */
  type(text: string): void {
    tmux('send-keys', '-t', this.name, '-l', text);
  }

  /** Sends key names: Enter, Tab, C-c, C-d, … */
  keys(...keys: string[]): void {
    tmux('send-keys', '-t', this.name, ...keys);
  }

  /** Types a line and presses Enter. */
  line(text: string): void {
    this.type(text);
    this.keys('Enter');
  }

  /** Types a line and waits for the screen to match. */
  async ask(text: string, pattern: RegExp): Promise<RegExpExecArray> {
    this.line(text);
    return await this.expect(pattern) as RegExpExecArray;
  }

  /** Everything the pane shows, scrollback included, trailing blank lines removed. */
  screen(): string {
    return tmux('capture-pane', '-p', '-J', '-S', '-', '-t', this.name).replace(/\s+$/, '');
  }

  /** The line the cursor is on. */
  cursorLine(): string {
    const y = Number(tmux('display-message', '-p', '-t', this.name, '#{cursor_y}').trim());
    return tmux('capture-pane', '-p', '-t', this.name).split('\n')[y] ?? '';
  }

  /** Waits until the screen matches; returns the match. */
  async expect(pattern: RegExp | string, what = String(pattern), timeoutMs = 10_000): Promise<RegExpExecArray | string> {
    try {
      return await waitFor(() => (typeof pattern === 'string' ? this.screen().includes(pattern) && pattern : pattern.exec(this.screen()) ?? undefined), what, timeoutMs);
    } catch (error) {
      throw new Error(`${(error as Error).message}; the screen:\n${this.screen()}`);
    }
  }

  /** Waits until the last line of the screen is the empty prompt. */
  async prompt(timeoutMs = 10_000): Promise<void> {
    try {
      await waitFor(() => this.screen().split('\n').at(-1) === 'ktap>', 'the prompt', timeoutMs);
    } catch (error) {
      throw new Error(`${(error as Error).message}; the screen:\n${this.screen()}`);
    }
  }

  /** Exit status once ktap has exited, else undefined. */
  exitStatus(): number | undefined {
    const status = /^\[ktap exited (\d+)\]$/m.exec(this.screen());
    return status === null ? undefined : Number(status[1]);
  }

  async exited(timeoutMs = 10_000): Promise<number> {
    return waitFor(() => this.exitStatus(), 'ktap to exit', timeoutMs);
  }

  /** Removes the tmux session: the terminal hangs up, and ktap gets SIGHUP if it still runs. */
  close(): void {
    spawnSync('tmux', ['-L', socket, 'kill-session', '-t', this.name], { stdio: 'ignore' });
  }
}

// ---- through a pipe -----------------------------------------------------------------

/** `ktap` with its stdin, stdout and stderr on pipes. */
export class PipedKtap {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;

  constructor(args: readonly string[], home: string) {
    this.child = spawn(process.execPath, [ktap, ...args], { cwd: root, env: ktapEnvironment(home), stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (chunk: Buffer) => (this.stdout += chunk.toString('latin1')));
    this.child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString('latin1')));
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Writes one input line. */
  line(text: string): void {
    this.child.stdin!.write(text + '\n');
  }

  /** Waits until stdout (from `from` on) matches; returns the match. */
  async expect(pattern: RegExp | string, from = 0, timeoutMs = 10_000): Promise<RegExpExecArray | string> {
    try {
      return await waitFor(() => {
        const text = this.stdout.slice(from);
        return typeof pattern === 'string' ? text.includes(pattern) && pattern : pattern.exec(text) ?? undefined;
      }, String(pattern), timeoutMs);
    } catch (error) {
      throw new Error(`${(error as Error).message}; stdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
    }
  }

  /** Sends a line and waits for the output it produces to match. */
  async ask<P extends RegExp | string>(text: string, pattern: P, timeoutMs = 10_000): Promise<P extends RegExp ? RegExpExecArray : string> {
    const from = this.stdout.length;
    this.line(text);
    return this.expect(pattern, from, timeoutMs) as Promise<P extends RegExp ? RegExpExecArray : string>;
  }

  /** Closes stdin (EOF, like Ctrl-D) and waits for the exit code. */
  async end(): Promise<number | null> {
    this.child.stdin!.end();
    return this.exited;
  }

  close(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
  }
}
