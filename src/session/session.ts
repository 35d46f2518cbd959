// One tracing session: the VM with its globals, the handlers scripts register, the phases
// and ending order of SPEC §3.10, and script output. The faces (cli, repl, tui) talk to it.

import { readFileSync } from 'node:fs';
import { compile } from '../compiler';
import { CompileError } from '../compiler/errors';
import { parseEventSpec } from '../probes/eventdef';
import { startTimer, type TimerHandle } from '../probes/timer';
import { readBytecodeFile } from '../vm/bytecode-file';
import { ExitSignal, RuntimeError } from '../vm/errors';
import { GLOBAL_NAMES, makeGlobals } from '../vm/lib/index';
import { parseInterval } from '../vm/lib/timer';
import type { Limits } from '../vm/limits';
import type { HandlerKind } from '../vm/opcodes';
import type { Proto } from '../vm/proto';
import { Runtime, type EventContext, type RuntimeHost, type TracerIdentity } from '../vm/runtime';
import type { KTable } from '../vm/table';
import { Cell, translate } from '../vm/translate';
import { parseDecimalInteger, type KFunction, type Value } from '../vm/value';
import { BufferedWriter, JsonSink, TextSink, type ScriptSink } from './output';

export interface SessionOptions {
  readonly limits: Limits;
  /** File descriptor of the script output (stdout or the -o file). */
  readonly outputFd: number;
  readonly json: boolean;
  readonly quiet: boolean;
  readonly verbose: boolean;
  readonly dryRun: boolean;
  /** arg[0]: the script path as given, or `(command line)`. */
  readonly scriptName: string;
  /** arg[1]…: script arguments. */
  readonly scriptArgs: readonly string[];
}

/** A registered trace, tick or profile handler. */
export interface Handler {
  readonly id: number;
  readonly kind: Exclude<HandlerKind, 'trace_end'>;
  readonly header: string;
  readonly fn: KFunction;
}

/** A failure outside the VM (SPEC §6.3): `error: MESSAGE` on stderr, exit status 1. */
export class TracingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TracingError';
  }
}

/** How a session ended (SPEC §3.10), which decides draining and trace_end. */
export type EndReason = 'finished' | 'exit' | 'interrupt' | 'terminate' | 'workload' | 'error';

/** Outcome of one run of VM code. */
export type RunOutcome = 'ok' | 'exit' | 'error';

export class Session {
  readonly writer: BufferedWriter;
  readonly sink: ScriptSink;
  readonly rt: Runtime;
  readonly globals: Map<string, Value>;
  readonly handlers: Handler[] = [];
  readonly endHandlers: KFunction[] = [];
  /** REPL session variables: name → slot, and each slot's cell. */
  readonly sessionSlots = new Map<string, number>();
  readonly sessionCells: Cell[] = [];
  private nextHandlerId = 1;
  private timers: TimerHandle[] = [];
  private ending: ((reason: EndReason) => void) | null = null;
  endReason: EndReason | null = null;

  constructor(readonly options: SessionOptions) {
    this.writer = new BufferedWriter(options.outputFd);
    this.sink = options.json ? new JsonSink(this.writer) : new TextSink(this.writer);
    this.rt = new Runtime(options.limits, this.sink, this.host());
    this.globals = makeGlobals(this.rt, this.argTable());
  }

  // ---- loading ----------------------------------------------------------------------

  /** Compiles a script (CompileError on bad source) and links it to this session. */
  compileScript(source: string, chunkName: string): { proto: Proto; main: KFunction } {
    const { main } = compile(source, chunkName, { globals: GLOBAL_NAMES });
    return { proto: main, main: this.link(main) };
  }

  /** Loads a verified bytecode file (BadBytecodeError on a bad one). */
  loadBytecode(bytes: Uint8Array): KFunction {
    return this.link(readBytecodeFile(bytes, GLOBAL_NAMES));
  }

  private link(proto: Proto): KFunction {
    const makeMain = translate(proto, this.rt, this.globals, { trackPositions: this.options.verbose });
    const cells = proto.upvalues.map((upvalue) => this.sessionCells[upvalue.index]!);
    return makeMain(cells);
  }

  // ---- running ----------------------------------------------------------------------

  /**
   * Runs VM code as one run. A runtime error is reported (SPEC §6.2) and ends the session;
   * exit() ends it normally. Tracing errors propagate to the face.
   */
  runCode(fn: KFunction, mainThread: boolean, event: EventContext | null, header?: string): RunOutcome {
    try {
      this.rt.run(fn, [], mainThread, event);
      return 'ok';
    } catch (error) {
      if (error instanceof ExitSignal) return 'exit';
      if (error instanceof RuntimeError) {
        this.reportRuntimeError(error, header);
        return 'error';
      }
      throw error;
    }
  }

  reportRuntimeError(error: RuntimeError, header?: string): void {
    this.sink.error(error.message);
    if (this.options.verbose) {
      const position = this.rt.positions[this.rt.pos];
      const where = position === undefined ? '' : `${position.chunk}:${position.line}: `;
      process.stderr.write(`${where}${error.message}${header === undefined ? '' : ` (in ${header})`}\n`);
    }
  }

  /** Runs the trace_end handlers in registration order; exit() in one skips the rest. */
  runEndHandlers(): void {
    this.rt.phase = 'END';
    for (const handler of this.endHandlers) {
      if (this.runCode(handler, true, null, 'trace_end') !== 'ok') break;
    }
  }

  /** Whether any handler needs events or ticks (so the session keeps running after main). */
  get hasEventHandlers(): boolean {
    return this.handlers.length > 0;
  }

  /**
   * Attaches every handler, writes the banner and waits until the session ends: exit(),
   * a runtime error in a handler, SIGINT or SIGTERM. Resolves with the reason.
   */
  async runEvents(): Promise<EndReason> {
    const kernelHandlers = this.handlers.filter((handler) => handler.kind !== 'tick');
    if (kernelHandlers.length > 0 && !this.options.dryRun) {
      throw new TracingError(`cannot attach '${kernelHandlers[0]!.header}': kernel event sources are not available in this build`);
    }
    const ended = new Promise<EndReason>((resolve) => {
      this.ending = resolve;
    });
    for (const handler of this.handlers) {
      if (handler.kind === 'tick') {
        const intervalNs = parseInterval(handler.header.slice('tick-'.length))!;
        this.timers.push(startTimer(intervalNs, (due) => this.dispatchTick(handler, due)));
      }
    }
    if (!this.options.quiet) this.sink.banner();
    const onInterrupt = (): void => this.end('interrupt');
    const onTerminate = (): void => this.end('terminate');
    process.on('SIGINT', onInterrupt);
    process.on('SIGTERM', onTerminate);
    const reason = await ended;
    process.off('SIGINT', onInterrupt);
    process.off('SIGTERM', onTerminate);
    return reason;
  }

  /** Starts ending the session; the first reason wins. */
  end(reason: EndReason): void {
    if (this.endReason !== null) return;
    this.endReason = reason;
    for (const timer of this.timers) timer.stop();
    this.timers = [];
    if (reason === 'interrupt') this.sink.interrupted();
    this.ending?.(reason);
  }

  private dispatchTick(handler: Handler, wallTimeNs: bigint): void {
    if (this.endReason !== null) return;
    const outcome = this.runCode(handler.fn, false, this.timerContext(handler.header, wallTimeNs), handler.header);
    if (outcome === 'exit') this.end('exit');
    else if (outcome === 'error') this.end('error');
  }

  private timerContext(header: string, wallTimeNs: bigint): EventContext {
    const tracer = this.tracer;
    return {
      kind: 'timer',
      probename: header,
      cpu: tracer.cpu(),
      pid: tracer.pid,
      tid: tracer.tid,
      uid: () => tracer.uid,
      execname: () => tracer.execname,
      arg: () => undefined,
      argstr: () => '',
      wallTimeNs: () => wallTimeNs,
      inInterrupt: () => false,
    };
  }

  // ---- the VM's host --------------------------------------------------------------

  private readonly tracer: TracerIdentity = {
    cpu: currentCpu,
    pid: process.pid,
    tid: process.pid,
    uid: process.getuid?.() ?? -1,
    get execname(): string {
      return readFileSync('/proc/self/comm', 'latin1').trimEnd();
    },
  };

  private host(): RuntimeHost {
    return {
      tracer: this.tracer,
      registerHandler: (kind, header, fn) => this.registerHandler(kind, header, fn),
      kernelSymbol: () => undefined,
      traceClockNs: () => process.hrtime.bigint(),
    };
  }

  private registerHandler(kind: HandlerKind, header: string, fn: KFunction): void {
    if (kind === 'trace_end') {
      this.endHandlers.push(fn);
      return;
    }
    if (kind === 'trace' && parseEventSpec(header) === undefined) throw new RuntimeError(`cannot parse eventdef '${header}'`);
    this.handlers.push({ id: this.nextHandlerId++, kind, header, fn });
  }

  private argTable(): KTable {
    const table = this.rt.newTable();
    table.set(0, this.options.scriptName);
    this.options.scriptArgs.forEach((text, index) => table.set(index + 1, parseDecimalInteger(text) ?? text));
    return table;
  }
}

/** The CPU this process last ran on (field 39 of /proc/self/stat). */
function currentCpu(): number {
  try {
    const stat = readFileSync('/proc/self/stat', 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[36]);
  } catch {
    return 0;
  }
}

export { CompileError };
