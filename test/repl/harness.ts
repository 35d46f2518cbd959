// Shared by the REPL tests: the real `ktap` driven through a tmux pseudo-terminal or a pipe,
// a workload process that makes exactly the getppid() calls asked of it, and polling helpers.

import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { ktap, root } from '../support/tracing';
import { Pane } from '../support/tmux';
import { sleep, waitFor } from '../support/wait';
import { compile } from '../support/workloads';

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
  return compile(directory, join(__dirname, 'ppid.c'), 'ppid');
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

/** `ktap` in a 120x40 tmux pane, HOME its own (history); the screen includes the scrollback. */
export class TerminalKtap {
  private constructor(readonly pane: Pane, readonly pid: number) {}

  static async start(args: readonly string[], home: string): Promise<TerminalKtap> {
    const pane = Pane.open([process.execPath, ktap, ...args], { width: 120, height: 40, env: [`HOME=${home}`] });
    return new TerminalKtap(pane, await pane.childPid(ktap));
  }

  type(text: string): void {
    this.pane.type(text);
  }

  /** Sends key names: Enter, Tab, C-c, C-d, … */
  keys(...keys: string[]): void {
    this.pane.keys(...keys);
  }

  line(text: string): void {
    this.pane.line(text);
  }

  /** Types a line and waits for the screen to match. */
  async ask(text: string, pattern: RegExp): Promise<RegExpExecArray> {
    this.line(text);
    return await this.expect(pattern) as RegExpExecArray;
  }

  /** Everything the pane shows, scrollback included, trailing blank lines removed. */
  screen(): string {
    return this.pane.history();
  }

  cursorLine(): string {
    return this.pane.cursorLine();
  }

  /** Waits until the screen matches; returns the match. */
  async expect(pattern: RegExp | string, what = String(pattern), timeoutMs = 10_000): Promise<RegExpExecArray | string> {
    return this.pane.showingScreen(() => waitFor(() =>
      (typeof pattern === 'string' ? this.screen().includes(pattern) && pattern : pattern.exec(this.screen()) ?? undefined), what, timeoutMs));
  }

  /** Waits until the last line of the screen is the empty prompt. */
  async prompt(timeoutMs = 10_000): Promise<void> {
    await this.pane.showingScreen(() => waitFor(() => this.screen().split('\n').at(-1) === 'ktap>', 'the prompt', timeoutMs));
  }

  exitStatus(): number | undefined {
    return this.pane.exitStatus();
  }

  async exited(timeoutMs = 10_000): Promise<number> {
    return this.pane.exited(timeoutMs);
  }

  /** The terminal hangs up: ktap gets SIGHUP if it still runs. */
  close(): void {
    this.pane.hangUp();
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
