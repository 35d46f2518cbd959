// The interactive session (SPEC-product §3): each input is compiled against the live session
// and run at once; handlers it registers attach while events keep flowing, and their output
// appears above the line being edited. Input is read with node:readline, never blocking.

import { clearLine, createInterface, cursorTo, type Interface } from 'node:readline';
import { Script } from 'node:vm';
import { UserError } from '../errors';
import { eventNames } from '../session/catalog';
import type { Handler, InputRun, Session } from '../session/session';
import type { RuntimeError } from '../vm/errors';
import type { Proto } from '../vm/proto';
import { toDisplayString } from '../vm/value';
import { COMMANDS, runCommand, type ReplContext } from './commands';
import { complete } from './completion';
import { compileInput } from './input';
import { HISTORY_LIMIT, historyProblem, loadHistory, saveHistory } from './history';
import { openDashboard, type Dashboard } from '../tui/dashboard';
import type { HostRow } from '../tui/model';

const PROMPT = 'ktap> ';
const CONTINUATION = '....> ';

/**
 * The REPL on a fleet (`ktap -i --hosts`, docs/fleet.md): every input also runs on each
 * host, where its trace and profile handlers attach; the session here holds the merged view.
 */
export interface ReplFleet {
  /**
   * An input this session ran: run it on every host, where `handlers` (its trace and profile
   * handlers, detached here) attach. `localError`: why it failed here, or null.
   */
  input(proto: Proto, handlers: readonly Handler[], localError: string | null): void;
  /** Detaches handlers (by id) on every host. */
  detach(ids: readonly number[]): void;
  /** Runs of a handler over every host. */
  runs(id: number): number;
  /** The hosts, for .probes and .dash. */
  hosts(): readonly HostRow[];
  /** Where the fleet's own lines go from now on (above the prompt). */
  setReporter(report: (line: string) => void): void;
  /** The end: every agent stops and sends its last update; resolves with 1 when a host failed. */
  finish(): Promise<number>;
}

/** Runs the REPL until Ctrl-D, `.exit` or exit(); resolves with the exit status. */
export function runRepl(session: Session, firstFile?: { source: string; chunk: string }, dashboardIntervalMs = 1000, fleet: ReplFleet | null = null): Promise<number> {
  return new Repl(session, dashboardIntervalMs, fleet).start(firstFile);
}

/** A completed input the session ran, for `.save`. */
interface InputRecord {
  readonly source: string;
  /** Handlers the input registered; when all are detached the input no longer makes sense. */
  readonly handlerIds: number[];
}

/** Evaluates a function so that Ctrl-C (SIGINT) interrupts it, even in a runaway loop. */
const interruptible = new Script('globalThis.__ktapReplRun()');

class Repl implements ReplContext {
  private readonly tty: boolean;
  private rl!: Interface;
  private buffer = '';
  private inputCount = 0;
  private evaluating = false;
  private finished = false;
  /** The prompt is on screen with the cursor after it (not while an input line is handled). */
  private promptShown = false;
  private resolveDone!: (code: number) => void;
  lastProto: Proto | null = null;
  readonly inputs: InputRecord[] = [];
  private eventNames: string[] | null = null;

  /** The dashboard `.dash` opened; while it is up, output goes to its log. */
  private dashboard: Dashboard | null = null;
  /** Messages of the REPL while the dashboard was up, shown again at the prompt. */
  private dashboardMessages: string[] = [];

  /** Handlers that run on the hosts (trace, profile), by id, while attached there. */
  readonly remoteHandlers = new Map<number, Handler>();

  constructor(readonly session: Session, private readonly dashboardIntervalMs = 1000, readonly fleet: ReplFleet | null = null) {
    this.tty = process.stdin.isTTY === true && process.stdout.isTTY === true;
  }

  start(firstFile?: { source: string; chunk: string }): Promise<number> {
    const done = new Promise<number>((resolve) => (this.resolveDone = resolve));
    const session = this.session;
    // Script output shares the terminal with the line editor, unless -o sends it to a file.
    if (session.options.outputFd === 1) session.writer.redirect = (text) => this.print(text);
    session.onHandlerError = (handler, error) => this.reportHandlerError(handler, error);
    this.fleet?.setReporter((line) => this.message(line));
    // At a terminal, Ctrl-C clears the line or interrupts a computation; it never ends the session.
    if (this.tty) session.signalsOfFace.add('SIGINT');
    void session.endPromise().then(() => this.finish());
    this.rl = createInterface({
      input: process.stdin,
      output: this.tty ? process.stdout : undefined,
      terminal: this.tty,
      completer: (line: string) => complete(line, {
        variables: () => [...session.variables()].map(([name]) => name),
        events: () => this.events(),
        commands: COMMANDS.map((command) => command.name),
      }),
      history: this.tty ? loadHistory() : [],
      historySize: HISTORY_LIMIT,
      removeHistoryDuplicates: true,
      prompt: PROMPT,
    });
    this.rl.on('line', (line) => this.onLine(line));
    this.rl.on('close', () => this.finish());
    this.rl.on('SIGINT', () => this.onInterrupt());
    // Without a terminal, Ctrl-C and SIGTERM end the session cleanly (detach, trace_end).
    if (!this.tty) process.on('SIGINT', () => this.finish());
    process.on('SIGTERM', () => this.finish());
    // A closed terminal (window closed, SSH gone): SIGHUP, then EIO on reads and writes. The
    // session still ends as with Ctrl-D: detach, run trace_end, clean up tracefs.
    process.on('SIGHUP', () => this.finish());
    if (this.tty) {
      const ignoreHangup = (error: NodeJS.ErrnoException): void => {
        if (error.code !== 'EIO') throw error;
      };
      this.rl.on('error', ignoreHangup);
      process.stdout.on('error', ignoreHangup);
    }
    if (this.tty) process.stdout.write(`ktap interactive session: .help for commands, Ctrl-D to exit\n`);
    const historyRefused = this.tty ? historyProblem() : null;
    if (historyRefused !== null) process.stdout.write(`history not kept: ${historyRefused}\n`);
    if (firstFile !== undefined) this.evaluate(firstFile.source, firstFile.chunk);
    this.prompt();
    return done;
  }

  // ---- output -----------------------------------------------------------------------

  /** Writes above the line being edited (a byte string), then redraws prompt and line. */
  print(text: string): void {
    if (text.length === 0) return;
    if (this.dashboard !== null) {
      this.dashboard.log(text);
      return;
    }
    const bytes = Buffer.from(text, 'latin1');
    if (!this.tty || this.evaluating || this.finished) {
      process.stdout.write(bytes);
      return;
    }
    cursorTo(process.stdout, 0);
    clearLine(process.stdout, 0);
    process.stdout.write(bytes);
    if (!text.endsWith('\n')) process.stdout.write('\n');
    this.rl.prompt(true);
  }

  /** A message of the REPL itself: flushed after the script's pending output. */
  message(text: string): void {
    this.session.writer.flush();
    if (this.dashboard !== null) this.dashboardMessages.push(text.endsWith('\n') ? text : text + '\n');
    this.print(text.endsWith('\n') ? text : text + '\n');
  }

  private prompt(): void {
    if (!this.tty || this.finished || this.dashboard !== null) return;
    this.rl.setPrompt(this.buffer === '' ? PROMPT : CONTINUATION);
    this.rl.prompt();
    this.promptShown = true;
  }

  // ---- input ------------------------------------------------------------------------

  private onLine(line: string): void {
    if (this.finished) return;
    this.promptShown = false;
    if (this.buffer === '' && /^\s*\.\w+/.test(line)) {
      this.remember(line);
      runCommand(this, line.trim());
      this.prompt();
      return;
    }
    this.buffer += (this.buffer === '' ? '' : '\n') + line;
    if (this.buffer.trim() === '') {
      this.buffer = '';
      this.prompt();
      return;
    }
    const source = this.buffer;
    if (this.evaluate(source, `(input ${this.inputCount + 1})`) !== 'incomplete') {
      this.buffer = '';
      this.remember(source.replace(/\n/g, ' '));
    }
    this.prompt();
  }

  private remember(entry: string): void {
    if (!this.tty) return;
    saveHistory((this.rl as unknown as { history: string[] }).history ?? [entry]);
  }

  private onInterrupt(): void {
    // Ctrl-C at the prompt clears the line (or the pending block); it never detaches.
    if (this.buffer !== '' || this.rl.line !== '') {
      this.buffer = '';
      (this.rl as unknown as { line: string }).line = '';
      process.stdout.write('^C\n');
    } else {
      process.stdout.write('\n(To exit, press Ctrl-D or type .exit)\n');
    }
    this.prompt();
  }

  /**
   * Compiles and runs one input; prints a bare expression's value and what its handler
   * statements attached. Errors are reported and the session goes on.
   */
  evaluate(source: string, chunk: string): 'incomplete' | 'ok' | 'failed' {
    const session = this.session;
    let compiled: ReturnType<typeof compileInput>;
    try {
      compiled = compileInput(session, source, chunk);
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      this.inputCount++;
      this.message(error.report());
      return 'failed';
    }
    if (compiled === 'incomplete') return 'incomplete';
    this.inputCount++;
    this.lastProto = compiled.proto;
    const before = new Set(session.handlers.map((handler) => handler.id));
    this.evaluating = true;
    let run: InputRun;
    try {
      run = session.runInput(compiled.main, (code) => this.runInterruptible(code));
    } finally {
      this.evaluating = false;
    }
    if (run.outcome === 'exit') {
      session.writer.flush();
      this.finish();
      return 'ok';
    }
    const ok = run.outcome === 'ok';
    // A bare expression shows its value; nil is not shown (calls like print() return it).
    const value = run.value;
    if (ok && compiled.expression && value !== undefined) {
      // A value is an answer to the user: on the terminal even when -o sends script output elsewhere.
      if (session.options.outputFd === 1) session.sink.print([value]);
      else this.message(toDisplayString(value));
    }
    const registered = session.handlers.filter((handler) => !before.has(handler.id));
    if (this.fleet !== null) {
      // Trace and profile handlers run on the hosts; tick-N here, on the merged view. The
      // hosts run every compiled input, so that their handlers are numbered as these are.
      const remote = registered.filter((handler) => handler.kind !== 'tick');
      for (const handler of remote) {
        session.detach(handler);
        if (ok) this.remoteHandlers.set(handler.id, handler);
      }
      this.fleet.input(compiled.proto, remote, ok ? null : run.runtimeError ?? 'failed');
    }
    if (!ok) {
      for (const handler of registered) if (session.handlers.includes(handler)) session.detach(handler);
      session.writer.flush();
      return 'failed';
    }
    try {
      for (const { handler, events } of session.attachPending()) this.message(describeAttached(handler, events));
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      this.message(error.report());
      return 'failed';
    }
    session.writer.flush();
    if (compiled.statement) this.inputs.push({ source, handlerIds: registered.map((handler) => handler.id) });
    return 'ok';
  }

  /** Runs VM code so that SIGINT (Ctrl-C, the terminal's signal key) interrupts it. */
  private runInterruptible<T>(run: () => T): T {
    const global = globalThis as unknown as { __ktapReplRun?: () => T };
    global.__ktapReplRun = run;
    // In raw mode Ctrl-C is a byte the blocked event loop would never read; with the
    // terminal's own line discipline it becomes SIGINT, which V8 turns into an exception.
    if (this.tty) process.stdin.setRawMode(false);
    try {
      return interruptible.runInThisContext({ breakOnSigint: true }) as T;
    } finally {
      if (this.tty) process.stdin.setRawMode(true);
      delete global.__ktapReplRun;
    }
  }

  private reportHandlerError(handler: Handler, error: RuntimeError): void {
    const position = error.position;
    const where = position === undefined ? '' : ` at ${position.chunk}:${position.line}`;
    this.message(`[${handler.id}] ${handler.header}: error: ${error.message}${where}; detached`);
  }

  /** Tracepoint names for completion, read once. */
  private events(): string[] {
    this.eventNames ??= eventNames();
    return this.eventNames;
  }

  // ---- the dashboard ----------------------------------------------------------------

  /** `.dash`: the dashboard on the running session; q or Ctrl-C comes back to the prompt. */
  openDashboard(): void {
    if (!this.tty) {
      this.message('.dash needs a terminal');
      return;
    }
    this.rl.pause();
    try {
      const fleet = this.fleet;
      this.dashboard = openDashboard(this.session, {
        intervalMs: this.dashboardIntervalMs,
        onQuit: () => this.closeDashboard(true),
        ...(fleet === null ? {} : { hosts: () => fleet.hosts() }),
      });
    } catch (error) {
      this.rl.resume();
      if (!(error instanceof UserError)) throw error;
      this.message(error.report());
    }
  }

  /** Back from the dashboard: the line editor gets the terminal again. */
  private closeDashboard(prompt: boolean): void {
    const dashboard = this.dashboard;
    if (dashboard === null) return;
    this.dashboard = null;
    dashboard.close();
    // The dashboard leaves the terminal in cooked mode while stdin still believes it is raw.
    process.stdin.setRawMode(false);
    process.stdin.setRawMode(true);
    this.rl.resume();
    const messages = this.dashboardMessages;
    this.dashboardMessages = [];
    for (const text of messages) this.print(text);
    if (prompt) this.prompt();
  }

  // ---- ending -----------------------------------------------------------------------

  /** Ctrl-D, .exit, exit() or a signal: detach everything, run trace_end, clean up, exit 0. */
  finish(): void {
    if (this.finished) return;
    this.closeDashboard(false);
    this.finished = true;
    // Ctrl-D, or exit() in a handler, leaves the cursor after the prompt: trace_end output
    // starts on a line of its own.
    if (this.tty && this.promptShown) process.stdout.write('\n');
    this.session.end('finished');
    void this.end();
  }

  /** After the hosts' last updates (on a fleet): trace_end, clean up, the exit status. */
  private async end(): Promise<void> {
    const status = this.fleet === null ? 0 : await this.fleet.finish();
    const session = this.session;
    if (!session.failed) session.runEndHandlers();
    session.writer.flush();
    session.close();
    this.rl.close();
    this.resolveDone(status);
  }
}

/** What an attached handler is: `[1] trace syscalls:sys_enter_* (345 events)`, `[2] tick-1s`. */
export function describeAttached(handler: Handler, events: number): string {
  if (handler.kind !== 'trace') return `[${handler.id}] ${handler.header}`;
  return `[${handler.id}] trace ${handler.header} (${events} event${events === 1 ? '' : 's'})`;
}
