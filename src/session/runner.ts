// Runs of VM code in a session and the phases of SPEC §3.10: main chunks and REPL inputs,
// trace and timer handlers (the per-event path), trace_end handlers; a runtime error
// reported, and what it does to the session (ends it, or detaches the handler in the REPL).

import { UserError } from '../errors';
import { ExitSignal, RuntimeError } from '../vm/errors';
import type { EventContext, Runtime } from '../vm/runtime';
import type { KFunction, Value } from '../vm/value';
import type { Handler } from './handler';
import type { SessionOptions } from './options';
import type { ScriptSink } from './output';
import { OWN_IDENTITY } from './own-identity';
import type { TraceEvent } from './trace-event';

/** How a session ended (SPEC §3.10), which decides draining and trace_end. */
export type EndReason = 'finished' | 'exit' | 'interrupt' | 'terminate' | 'workload' | 'error';

/** Outcome of one run of VM code. */
export type RunOutcome = 'ok' | 'exit' | 'error';

/** How one REPL input ran: its value (a bare expression's), and a runtime error's message. */
export interface InputRun {
  readonly outcome: RunOutcome;
  readonly value: Value | undefined;
  readonly runtimeError: string | null;
}

/** What a run may do to its session: fail it, end it, detach a handler, deliver pending events. */
export interface RunnerHost {
  /** Set by a runtime error in a run: trace_end handlers must not run (SPEC §3.10). */
  failed: boolean;
  readonly endReason: EndReason | null;
  /** When set (the REPL), a failing handler is reported here and detached; the session goes on. */
  readonly onHandlerError: ((handler: Handler, error: RuntimeError) => void) | null;
  /** Told of each runtime error reported. */
  readonly onRuntimeError: ((message: string) => void) | null;
  /** Kernel events, once a handler needs them: a tick first delivers what is readable. */
  readonly kernel: { pump(): void } | null;
  end(reason: EndReason): void;
  detach(handler: Handler): void;
}

export class SessionRunner {
  /** -T: each event's output is prefixed with its kernel timestamp. */
  private readonly timestamps: boolean;

  constructor(
    private readonly host: RunnerHost,
    private readonly options: SessionOptions,
    private readonly rt: Runtime,
    private readonly sink: ScriptSink,
    /** Runs of each trace, tick and profile handler, by handler id (.probes, the dashboard). */
    private readonly handlerRuns: number[],
  ) {
    this.timestamps = options.timestamps === true;
  }

  /**
   * Runs main-thread code (a main chunk or trace_end handler) as one run. A runtime error
   * is reported (SPEC §6.2) and marks the session failed; exit() ends it normally. Tracing
   * errors propagate to the face.
   */
  runCode(fn: KFunction, header?: string): RunOutcome {
    const { outcome } = this.runGuarded(fn, header, (run) => run());
    if (outcome === 'error') this.host.failed = true;
    return outcome;
  }

  /**
   * Runs one REPL input, through `wrap` (which makes it interruptible), and gives its value.
   * As runCode, except that the session goes on after an error: a runtime error, an
   * interruption or a tracing error is reported on the script output.
   */
  runInput(fn: KFunction, wrap: <T>(run: () => T) => T): InputRun {
    try {
      return this.runGuarded(fn, undefined, wrap);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ERR_SCRIPT_EXECUTION_INTERRUPTED') this.sink.error('interrupted');
      else if (error instanceof UserError) this.sink.error(error.message);
      else throw error;
      return { outcome: 'error', value: undefined, runtimeError: null };
    }
  }

  private runGuarded(fn: KFunction, header: string | undefined, wrap: <T>(run: () => T) => T): InputRun {
    try {
      return { outcome: 'ok', value: wrap(() => this.rt.run(fn, true, null)) as Value | undefined, runtimeError: null };
    } catch (error) {
      if (error instanceof ExitSignal) return { outcome: 'exit', value: undefined, runtimeError: null };
      if (!(error instanceof RuntimeError)) throw error;
      this.reportRuntimeError(error, header);
      return { outcome: 'error', value: undefined, runtimeError: error.message };
    }
  }

  /**
   * A runtime error on the script output: `error: FILE:LINE: MESSAGE (LIMIT OPTION)`, or
   * ktap's bare `error: MESSAGE` with --bare-errors (docs/language.md).
   */
  reportRuntimeError(error: RuntimeError, header?: string): void {
    const bare = this.options.bareErrors === true;
    const message = bare || error.limit === undefined ? error.message : `${error.message} (${error.limit})`;
    this.sink.error(message, bare ? undefined : error.position);
    this.host.onRuntimeError?.(message);
    if (this.options.verbose) {
      const position = error.position;
      const where = position === undefined ? '' : `${position.chunk}:${position.line}: `;
      process.stderr.write(`${where}${error.message}${header === undefined ? '' : ` (in ${header})`}\n`);
    }
  }

  /** The END phase: runs the trace_end handlers in registration order; exit() in one skips the rest. */
  runEndHandlers(endHandlers: readonly KFunction[]): void {
    this.rt.phase = 'END';
    for (const handler of endHandlers) {
      if (this.runCode(handler, 'trace_end') !== 'ok') break;
    }
  }

  /** Runs one trace or profile handler for a record; false ends delivery. */
  dispatchEvent(handler: Handler, event: TraceEvent): boolean {
    if (this.timestamps) this.sink.timestamp = event.clockNs();
    const keepGoing = this.runHandler(handler, event);
    if (this.timestamps) this.sink.timestamp = null;
    return keepGoing;
  }

  /** Runs one tick of a timer handler, due at WALLTIMENS. */
  dispatchTick(handler: Handler, wallTimeNs: bigint): void {
    // Every event already readable is delivered before a timer handler runs (SPEC §3.10).
    this.host.kernel?.pump();
    if (this.host.endReason !== null) return;
    this.runHandler(handler, this.timerContext(handler.header, wallTimeNs));
  }

  /**
   * One run of a trace or timer handler. exit() ends the session; a runtime error goes to
   * handlerFailed. Returns whether events should still be delivered.
   */
  private runHandler(handler: Handler, event: EventContext): boolean {
    this.handlerRuns[handler.id] = (this.handlerRuns[handler.id] ?? 0) + 1;
    try {
      this.rt.run(handler.fn, false, event);
      return true;
    } catch (error) {
      if (error instanceof ExitSignal) {
        this.host.end('exit');
        return false;
      }
      if (!(error instanceof RuntimeError)) throw error;
      return this.handlerFailed(handler, error);
    }
  }

  /**
   * A runtime error in a trace or timer handler (run by the VM or counted by its program in
   * the kernel) ends the session (SPEC §6.2), unless onHandlerError is set (the REPL): then
   * the handler is detached and reported there. Returns whether events are still delivered.
   */
  handlerFailed(handler: Handler, error: RuntimeError): boolean {
    const host = this.host;
    if (host.onHandlerError !== null) {
      host.detach(handler);
      host.onHandlerError(handler, error);
      return true;
    }
    host.failed = true;
    this.reportRuntimeError(error, handler.header);
    host.end('error');
    return false;
  }

  private timerContext(header: string, wallTimeNs: bigint): EventContext {
    const tracer = OWN_IDENTITY;
    return {
      kind: 'timer',
      probename: header,
      cpu: tracer.cpu(),
      pid: tracer.pid,
      tid: tracer.tid,
      uid: () => tracer.uid,
      execname: () => tracer.execname,
      arg: () => undefined,
      field: () => undefined,
      argstr: () => '',
      wallTimeNs: () => wallTimeNs,
      inInterrupt: () => false,
    };
  }
}
