// One tracing session, the door the faces (cli, repl, tui, fleet) talk to: the VM with its
// globals, the handlers scripts register, the session's life from attaching to the ending
// order of SPEC §3.10 and its removal, and what the faces read of it. Its jobs are done
// one a module: linker.ts (compiling, linking), runner.ts (runs and phases), attacher.ts
// (attaching), kernel-placement.ts (the kernel tier), dry-run.ts, workload.ts.

import { kernelAddressText } from '../probes/argstr';
import { KernelSymbols } from '../probes/kallsyms';
import { DEFAULT_BUFFER_KB } from '../probes/tracer';
import { RuntimeError } from '../vm/errors';
import { makeGlobals } from '../vm/lib/index';
import { parseHeader } from '../syntax/headers';
import type { HandlerKind } from '../vm/opcodes';
import type { Proto } from '../vm/proto';
import { Runtime, type RegistrationHints, type RuntimeHost } from '../vm/runtime';
import { KTable } from '../vm/table';
import type { Cell } from '../vm/translate';
import { parseDecimalInteger, type KFunction, type Value } from '../vm/value';
import { SessionAttacher } from './attacher';
import type { Handler } from './handler';
import { DRAIN_DEADLINE_MS, KernelEvents } from './kernel-events';
import { KernelPlacement } from './kernel-placement';
import { SessionLinker } from './linker';
import type { SessionOptions } from './options';
import { BufferedWriter, JsonSink, TextSink, type ScriptSink } from './output';
import { SessionRunner, type EndReason, type InputRun, type RunOutcome } from './runner';
import { catchTerminatingSignals } from './signals';
import { checkTargets } from './targets';
import { OWN_IDENTITY } from './own-identity';
import { Workload } from './workload';

export type { SessionOptions } from './options';
export type { Handler } from './handler';
export type { EndReason, InputRun, RunOutcome } from './runner';

/** Per-CPU counters of the kernel events: delivered, ms in handlers (sampled), lost. */
export interface CpuStats {
  readonly events: readonly number[];
  readonly handlerMs: readonly number[];
  readonly lost: ReadonlyMap<number, number>;
}

/** What the faces show of a session (.probes, .tables, the dashboard); read outside the event path. */
export interface SessionStats {
  /** Each attached handler, its runs so far and the tier that runs it. */
  readonly probes: ReadonlyArray<{ readonly handler: Handler; readonly runs: number; readonly tier: 'kernel' | 'user' }>;
  /** Null until a handler needs kernel events (and after the session closed them). */
  readonly cpus: CpuStats | null;
  /** Session variables holding tables. */
  readonly tables: ReadonlyArray<{ readonly name: string; readonly table: KTable }>;
  /**
   * Records delivered through tracefs per kernel event (`system:event`). Kernel-tier
   * handlers count in `probes` and `cpus`, not here: their programs count runs, not events.
   */
  readonly eventsPerProbe: ReadonlyArray<{ readonly event: string; readonly count: number }>;
  /** VM instructions run so far. */
  readonly instructions: number;
}

export class Session {
  readonly writer: BufferedWriter;
  readonly sink: ScriptSink;
  readonly rt: Runtime;
  readonly globals: Map<string, Value>;
  readonly handlers: Handler[] = [];
  readonly endHandlers: KFunction[] = [];
  /** Compiles and links code into this session; holds the session variables. */
  private readonly linker: SessionLinker;
  /** Runs VM code: main chunks, inputs, handlers, trace_end. */
  private readonly runner: SessionRunner;
  /** Attaches the handlers registered: kernel tier, kernel events, timers, or the dry run. */
  private readonly attacher: SessionAttacher;
  /** Which trace handlers run in the kernel (eBPF). */
  private readonly placement: KernelPlacement;
  private nextHandlerId = 1;
  /** Runs of each trace, tick and profile handler, by handler id (.probes, the dashboard). */
  readonly handlerRuns: number[] = [];
  /**
   * What a failing trace or timer handler does: end the session (scripts, SPEC §6.2) or,
   * when set (the REPL), get reported and detached while the others keep running.
   */
  onHandlerError: ((handler: Handler, error: RuntimeError) => void) | null = null;
  private ending: ((reason: EndReason) => void) | null = null;
  endReason: EndReason | null = null;
  /** A runtime error ended a run: trace_end handlers must not run (SPEC §3.10), even if it happened while draining. */
  failed = false;
  /** Kernel events of this session, once a trace or profile handler was attached. */
  kernel: KernelEvents | null = null;
  private workload: Workload | null = null;
  private kernelSymbols: KernelSymbols | null = null;
  /** When the session was created (performance.now()): the dashboard's elapsed time. */
  readonly createdAt = performance.now();
  /** Told of each runtime error reported; the dashboard repeats them once the screen is back. */
  onRuntimeError: ((message: string) => void) | null = null;
  /** Told once everything is attached, before the banner and the workload's start (a fleet agent says so). */
  onAttached: (() => void) | null = null;
  /** Where a captured workload's output goes (the dashboard's log); stdout and stderr when null. */
  onWorkloadOutput: ((text: string) => void) | null = null;
  /** Terminating signals the face handles itself (the REPL's Ctrl-C at a terminal). */
  readonly signalsOfFace = new Set<NodeJS.Signals>();
  private releaseSignals: (() => void) | null = null;

  constructor(readonly options: SessionOptions) {
    this.writer = new BufferedWriter(options.outputFd, options.outputName);
    // Output that cannot be written ends the session; the face reports writer.failure (exit 1).
    this.writer.onFailure = () => {
      this.failed = true;
      this.end('error');
    };
    this.sink = options.json ? new JsonSink(this.writer) : new TextSink(this.writer);
    this.rt = new Runtime(options.limits, this.sink, this.host());
    // The reader of the output went away (`| head`): end as on SIGTERM, cleaning up.
    this.writer.onClosed = () => this.end('terminate');
    this.globals = makeGlobals(this.rt, this.argTable());
    this.linker = new SessionLinker(this.rt, this.globals);
    this.runner = new SessionRunner(this, options, this.rt, this.sink, this.handlerRuns);
    this.placement = new KernelPlacement(options, {
      handlers: this.handlers,
      handlerRuns: this.handlerRuns,
      failed: () => this.failed,
      targetPids: () => this.targetPids(),
      handlerFailed: (handler, error) => void this.runner.handlerFailed(handler, error),
      kernelFrame: (address) => kernelAddressText(address, this.symbols().lookup(address), true),
    });
    this.attacher = new SessionAttacher(options, this, this.placement, () => this.kernelEvents(),
      (handler, wallTimeNs) => this.runner.dispatchTick(handler, wallTimeNs));
  }

  // ---- loading (session/linker.ts) ---------------------------------------------------

  /**
   * Compiles a script (CompileError on bad source) and links it to this session. With
   * `sessionScope` its top-level variables become session variables, so that the dashboard
   * sees its tables.
   */
  compileScript(source: string, chunkName: string, sessionScope = false): { proto: Proto; main: KFunction } {
    return this.linker.compileScript(source, chunkName, sessionScope);
  }

  /** Checks that `source` compiles against the session's variables, linking nothing (the REPL's question). */
  checkCompiles(source: string, chunkName: string): void {
    this.linker.checkCompiles(source, chunkName);
  }

  /** Loads a verified bytecode file (BadBytecodeError on a bad one); see SessionLinker.loadBytecode. */
  loadBytecode(bytes: Uint8Array, sessionVariables = false, slotLimit?: number): KFunction {
    return this.linker.loadBytecode(bytes, sessionVariables, slotLimit);
  }

  // ---- running (session/runner.ts) ---------------------------------------------------

  /**
   * Runs main-thread code (a main chunk or trace_end handler) as one run. A runtime error
   * is reported (SPEC §6.2) and marks the session failed; exit() ends it normally. Tracing
   * errors propagate to the face.
   */
  runCode(fn: KFunction, header?: string): RunOutcome {
    return this.runner.runCode(fn, header);
  }

  /**
   * Runs one REPL input, through `wrap` (which makes it interruptible), and gives its value.
   * As runCode, except that the session goes on after an error: a runtime error, an
   * interruption or a tracing error is reported on the script output.
   */
  runInput(fn: KFunction, wrap: <T>(run: () => T) => T): InputRun {
    return this.runner.runInput(fn, wrap);
  }

  /** Runs the trace_end handlers in registration order; exit() in one skips the rest. */
  runEndHandlers(): void {
    this.runner.runEndHandlers(this.endHandlers);
  }

  /**
   * `.stop` of the REPL: detaches every handler, runs the trace_end handlers once (they are
   * then forgotten) and goes on running, ready for new inputs.
   */
  stopAll(): void {
    for (const handler of [...this.handlers]) this.detach(handler);
    this.runEndHandlers();
    this.endHandlers.length = 0;
    this.rt.phase = 'RUNNING';
    this.writer.flush();
  }

  /** The counters the faces show; reads each CPU's buffer stats, so once per refresh. */
  stats(): SessionStats {
    const tables: Array<{ name: string; table: KTable }> = [];
    for (const [name, value] of this.variables()) if (value instanceof KTable) tables.push({ name, table: value });
    return {
      probes: this.handlers.map((handler) => ({ handler, runs: this.placement.runsOf(handler), tier: this.placement.tierOf(handler) })),
      cpus: this.cpuStats(),
      tables,
      instructions: this.rt.instructionsDone,
      eventsPerProbe: this.kernel?.deliveredPerEvent() ?? [],
    };
  }

  /** The session variables (a script's top-level variables with --tui, --metrics, --hosts, the REPL's) and their values now. */
  *variables(): Generator<readonly [string, Value]> {
    for (const [name, cell] of this.linker.variables()) yield [name, cell.v] as const;
  }

  /** The cell of a session variable (the fleet's merge writes there), or undefined when there is none of that name. */
  variableCell(name: string): Cell | undefined {
    return this.linker.cell(name);
  }

  /** Events per CPU: those read from tracefs plus the kernel tier's runs (counted in the kernel). */
  private cpuStats(): CpuStats | null {
    const kernel = this.kernel;
    const inKernelTier = this.placement.runsPerCpu();
    if (kernel === null && inKernelTier === null) return null;
    const tracefsEvents = kernel?.eventsPerCpu ?? [];
    const events = Array.from({ length: Math.max(tracefsEvents.length, inKernelTier?.length ?? 0) },
      (_, cpu) => (tracefsEvents[cpu] ?? 0) + (inKernelTier?.[cpu] ?? 0));
    return { events, handlerMs: kernel?.handlerMsPerCpu ?? [], lost: kernel?.lostPerCpu() ?? new Map<number, number>() };
  }

  /** Whether any handler needs events or ticks (so the session keeps running after main). */
  get hasEventHandlers(): boolean {
    return this.handlers.length > 0;
  }

  /**
   * Starts the `-- cmd` workload held at its gate, attaches every handler, writes the banner,
   * releases the workload and waits until the session ends: exit(), a runtime error in a
   * handler, SIGINT, SIGTERM or the workload's exit. Resolves with the reason once recording
   * has stopped (and, where SPEC §3.10 says so, what was already recorded has been
   * delivered). A dry run starts the workload too and ends as a live run does. close()
   * removes what it created.
   */
  async runEvents(): Promise<EndReason> {
    const ended = this.endPromise();
    this.catchSignals();
    // Nothing else may keep the process alive (a dry run reads no buffers): wait for the end.
    const keepAlive = setInterval(() => undefined, 1 << 30);
    try {
      const command = this.options.command ?? [];
      if (command.length > 0) {
        const captured = this.options.captureWorkloadOutput === true;
        this.workload = new Workload(command, captured);
        if (captured) this.forwardWorkloadOutput(this.workload);
        await this.workload.stopped();
      }
      await this.attacher.attachInSlices();
      // A signal while attaching ends the run here: no banner, the workload never starts.
      if (this.endReason === null) {
        this.onAttached?.();
        if (!this.options.quiet && this.hasEventHandlers) this.sink.banner();
        this.writer.flush();
        if (this.workload !== null) {
          void this.workload.exited.then(() => this.end('workload'));
          this.workload.release();
        }
      }
      return await ended;
    } finally {
      clearInterval(keepAlive);
    }
  }

  /**
   * From before the first write to the kernel until the last removal (close()), every
   * terminating signal ends the session: SIGINT as Ctrl-C, the others as SIGTERM.
   */
  private catchSignals(): void {
    if (this.releaseSignals !== null) return;
    this.releaseSignals = catchTerminatingSignals((signal) => this.end(signal === 'SIGINT' ? 'interrupt' : 'terminate'), this.signalsOfFace);
  }

  /**
   * After the session ended: ends a workload still running and gives the status ktap exits
   * with for it (docs/workload.md), or null when ktap's own status stands.
   */
  async workloadStatus(): Promise<number | null> {
    if (this.workload === null) return null;
    await this.workload.terminate();
    return this.workload.status;
  }

  private forwardWorkloadOutput(workload: Workload): void {
    const forward = (stream: NodeJS.WriteStream) => (chunk: Buffer): void => {
      if (this.onWorkloadOutput !== null) this.onWorkloadOutput(chunk.toString('latin1'));
      else stream.write(chunk);
    };
    workload.output!.stdout.on('data', forward(process.stdout));
    workload.output!.stderr.on('data', forward(process.stderr));
  }

  /** A promise resolved with the reason when the session ends. */
  endPromise(): Promise<EndReason> {
    return new Promise<EndReason>((resolve) => {
      if (this.endReason !== null) resolve(this.endReason);
      else this.ending = resolve;
    });
  }

  /**
   * Attaches the handlers registered since the last call: kernel events (the first one
   * creates the tracing instance) and timers. Returns the handlers attached, with their
   * number of kernel events. A failure detaches nothing that was attached before.
   */
  attachPending(): Array<{ handler: Handler; events: number }> {
    return this.attacher.attachPending();
  }

  /** Detaches one handler (REPL .detach, or a handler that failed there). */
  detach(handler: Handler): void {
    this.placement.detach(handler);
    this.attacher.stopTimer(handler);
    this.kernel?.remove(handler);
    const index = this.handlers.indexOf(handler);
    if (index >= 0) this.handlers.splice(index, 1);
  }

  /** The processes traced (the workload, or -p), when not all are. */
  private targetPids(): number[] | undefined {
    return this.workload !== null ? [this.workload.pid] : this.options.pid !== undefined ? [this.options.pid] : undefined;
  }

  private kernelEvents(): KernelEvents {
    if (this.kernel !== null) {
      this.kernel.useStacks(this.linker.stackUse.kernel, this.linker.stackUse.user);
      return this.kernel;
    }
    const pids = this.targetPids();
    checkTargets(this.options);
    this.catchSignals();
    this.kernel = new KernelEvents(
      {
        bufferSizeKb: this.options.bufferSizeKb ?? DEFAULT_BUFFER_KB,
        traceSelf: this.options.traceSelf === true,
        ...(pids === undefined ? {} : { pids }),
        ...(this.options.cpu === undefined ? {} : { cpus: [this.options.cpu] }),
      },
      (handler, event) => this.runner.dispatchEvent(handler, event),
      (address) => this.symbols().lookup(address),
    );
    this.kernel.useStacks(this.linker.stackUse.kernel, this.linker.stackUse.user);
    return this.kernel;
  }

  /**
   * Removes everything created in the kernel after reporting lost events (SPEC §3.10), and
   * undelivered ones when the drain ran out of time. The last removal: terminating signals
   * are no longer caught after it.
   */
  close(): void {
    this.placement.close();
    const kernel = this.kernel;
    this.kernel = null;
    this.workload?.terminateNow();
    try {
      if (kernel !== null) this.closeKernel(kernel);
    } finally {
      this.releaseSignals?.();
      this.releaseSignals = null;
    }
  }

  private closeKernel(kernel: KernelEvents): void {
    try {
      const perCpu = (counts: Map<number, number>): string =>
        [...counts].filter(([, count]) => count > 0).map(([cpu, count]) => `cpu${cpu}: ${count}`).join(', ');
      const lost = kernel.lostPerCpu();
      const total = [...lost.values()].reduce((sum, count) => sum + count, 0);
      if (total > 0) process.stderr.write(`ktap: ${total} events lost (${perCpu(lost)}); a bigger --buffer-kb may help\n`);
      const undelivered = [...kernel.undelivered.values()].reduce((sum, count) => sum + count, 0);
      if (undelivered > 0) {
        process.stderr.write(`ktap: ${undelivered} events recorded before the end were not delivered (${perCpu(kernel.undelivered)}): ` +
          `the drain stops after ${DRAIN_DEADLINE_MS} ms\n`);
      }
      if (this.options.verbose) {
        for (const stats of kernel.tracer.bufferStats()) {
          process.stderr.write(`ktap: cpu${stats.cpu}: ${stats.read} read, ${stats.overrun} overrun, ${stats.dropped} dropped\n`);
        }
      }
    } finally {
      const background = kernel.close();
      if (background > 0) {
        process.stderr.write(`ktap: the guardian removes the ${background} enabled probes in the background, ` +
          `~${Math.ceil(background * 0.027)} s (the kernel takes ~27 ms each; until then the probed functions stay slower)\n`);
      }
    }
  }

  /**
   * Starts ending the session; the first reason wins. Recording stops; after a signal or
   * the workload's exit, events already recorded are still delivered (SPEC §3.10).
   */
  end(reason: EndReason): void {
    if (this.endReason !== null) return;
    this.endReason = reason;
    // First of all: a slow removal starts in the guardian while the rest of the end runs.
    this.kernel?.handOffSlowTeardown();
    this.attacher.stopTimers();
    if (reason === 'interrupt') this.sink.interrupted();
    this.kernel?.stop(reason === 'interrupt' || reason === 'terminate' || reason === 'workload');
    this.placement.stop();
    this.ending?.(reason);
  }

  // ---- the VM's host --------------------------------------------------------------

  private host(): RuntimeHost {
    return {
      tracer: OWN_IDENTITY,
      registerHandler: (kind, header, fn, hints) => this.registerHandler(kind, header, fn, hints),
      kernelSymbol: (address) => this.symbols().name(address),
      traceClockNs: () => process.hrtime.bigint(),
      ...(this.options.hostLabel === undefined ? {} : { hostLabel: () => this.options.hostLabel! }),
    };
  }

  /** /proc/kallsyms, loaded on first use (%p, ipof, argstr). */
  private symbols(): KernelSymbols {
    if (this.kernelSymbols === null) this.kernelSymbols = KernelSymbols.load();
    return this.kernelSymbols;
  }

  private registerHandler(kind: HandlerKind, header: string, fn: KFunction, hints: RegistrationHints): void {
    if (kind === 'trace_end') {
      this.endHandlers.push(fn);
      return;
    }
    const spec = parseHeader(kind, header);
    if (typeof spec === 'string') throw new RuntimeError(spec);
    const { userStrings = [], userStringFields = [], argvs = [], argvFields = [], fields = [] } = hints;
    this.handlers.push({ id: this.nextHandlerId++, kind, header, spec, fn, userStrings, userStringFields, argvs, argvFields, fields, ...(hints.body === undefined ? {} : { body: hints.body }) });
  }

  private argTable(): KTable {
    const table = this.rt.newTable();
    table.set(0, this.options.scriptName);
    this.options.scriptArgs.forEach((text, index) => table.set(index + 1, parseDecimalInteger(text) ?? text));
    return table;
  }
}
