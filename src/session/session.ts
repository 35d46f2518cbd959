// One tracing session: the VM with its globals, the handlers scripts register, the phases
// and ending order of SPEC §3.10, and script output. The faces (cli, repl, tui) talk to it.

import { UserError } from '../errors';
import { KernelSymbols } from '../probes/kallsyms';
import { attachHandler, type Attacher } from '../probes/sources';
import { TimerScheduler, type TimerHandle } from '../probes/timer';
import { DEFAULT_BUFFER_KB } from '../probes/tracer';
import { ExitSignal, RuntimeError } from '../vm/errors';
import { makeGlobals } from '../vm/lib/index';
import { parseHeader } from '../syntax/headers';
import type { Limits } from '../vm/limits';
import type { HandlerKind } from '../vm/opcodes';
import type { Proto } from '../vm/proto';
import { Runtime, type EventContext, type RegistrationHints, type RuntimeHost } from '../vm/runtime';
import { KernelTier, KernelTierError, type TierMode } from '../bpf/tier';
import { findTracefs } from '../probes/tracefs';
import { upvaluesWritten } from '../bpf/analyze';
import { KTable } from '../vm/table';
import type { Cell } from '../vm/translate';
import { parseDecimalInteger, type KFunction, type Value } from '../vm/value';
import { DryRun } from './dry-run';
import type { Handler } from './handler';
import { DRAIN_DEADLINE_MS, KernelEvents, type RefusedProbes } from './kernel-events';
import { SessionLinker } from './linker';
import { catchTerminatingSignals } from './signals';
import { checkTargets } from './targets';
import { BufferedWriter, JsonSink, TextSink, type ScriptSink } from './output';
import type { TraceEvent } from './trace-event';
import { OWN_IDENTITY } from './own-identity';
import { Workload } from './workload';

export interface SessionOptions {
  readonly limits: Limits;
  /** File descriptor of the script output (stdout or the -o file). */
  readonly outputFd: number;
  /** How errors name the output: the -o path (standard output when absent). */
  readonly outputName?: string;
  readonly json: boolean;
  readonly quiet: boolean;
  readonly verbose: boolean;
  readonly dryRun: boolean;
  /** --bare-errors: runtime errors as ktap wrote them (`error: MESSAGE`), without file, line or limit option. */
  readonly bareErrors?: boolean;
  /** arg[0]: the script path as given, or `(command line)`. */
  readonly scriptName: string;
  /** arg[1]…: script arguments. */
  readonly scriptArgs: readonly string[];
  /** -p: trace only this process (and its children). */
  readonly pid?: number;
  /** -C: trace only this CPU. */
  readonly cpu?: number;
  /** -T: prefix each event's output with its kernel timestamp. */
  readonly timestamps?: boolean;
  /** Ring buffer per CPU in KiB. */
  readonly bufferSizeKb?: number;
  /** --trace-self: keep the events of ktap's own process and its guardian (not recorded by default). */
  readonly traceSelf?: boolean;
  /** `-- cmd args`: the workload, released once everything is attached; its exit ends the run. */
  readonly command?: readonly string[];
  /**
   * The workload's stdout and stderr go to onWorkloadOutput and its stdin is /dev/null:
   * the dashboard owns the terminal.
   */
  readonly captureWorkloadOutput?: boolean;
  /** --tier: where trace handlers run (default auto: in the kernel when they can). */
  readonly tier?: TierMode;
  /** What host() returns (a fleet agent's label in --hosts); the hostname when absent. */
  readonly hostLabel?: string;
}

export type { Handler } from './handler';

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

/**
 * How often the kernel tier's error counter is read (ms): with every handler in the kernel this
 * is all ktap does, and each wake-up costs ~0.4 ms of CPU on a loaded machine.
 */
const KERNEL_POLL_MS = 1000;

/** How a session ended (SPEC §3.10), which decides draining and trace_end. */
export type EndReason = 'finished' | 'exit' | 'interrupt' | 'terminate' | 'workload' | 'error';

/** While attaching, the event loop has its turn (signals, output) at least this often. */
const ATTACH_SLICE_MS = 20;

/** Outcome of one run of VM code. */
export type RunOutcome = 'ok' | 'exit' | 'error';

/** How one REPL input ran: its value (a bare expression's), and a runtime error's message. */
export interface InputRun {
  readonly outcome: RunOutcome;
  readonly value: Value | undefined;
  readonly runtimeError: string | null;
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
  private nextHandlerId = 1;
  /** Runs of each trace, tick and profile handler, by handler id (.probes, the dashboard). */
  readonly handlerRuns: number[] = [];
  /** Running tick timers by handler id. */
  private readonly timers = new Map<number, TimerHandle>();
  private readonly timerScheduler = new TimerScheduler();
  /** Ids of handlers attached (kernel events enabled or timer started). */
  private readonly attachedIds = new Set<number>();
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
  /** The recording attacher of a dry run (-d), made by the first handler attached. */
  private dryRun: DryRun | null = null;
  /** The kernel tier (eBPF), once a handler was tried there and BPF is available. */
  private kernelTier: KernelTier | null = null;
  private kernelWatch: NodeJS.Timeout | null = null;
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

  // ---- running ----------------------------------------------------------------------

  /**
   * Runs main-thread code (a main chunk or trace_end handler) as one run. A runtime error
   * is reported (SPEC §6.2) and marks the session failed; exit() ends it normally. Tracing
   * errors propagate to the face.
   */
  runCode(fn: KFunction, header?: string): RunOutcome {
    const { outcome } = this.runGuarded(fn, header, (run) => run());
    if (outcome === 'error') this.failed = true;
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
    this.onRuntimeError?.(message);
    if (this.options.verbose) {
      const position = error.position;
      const where = position === undefined ? '' : `${position.chunk}:${position.line}: `;
      process.stderr.write(`${where}${error.message}${header === undefined ? '' : ` (in ${header})`}\n`);
    }
  }

  /** Runs the trace_end handlers in registration order; exit() in one skips the rest. */
  runEndHandlers(): void {
    this.rt.phase = 'END';
    for (const handler of this.endHandlers) {
      if (this.runCode(handler, 'trace_end') !== 'ok') break;
    }
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
      probes: this.handlers.map((handler) => ({ handler, runs: this.runsOf(handler), tier: this.tierOf(handler) })),
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

  /** Which tier runs HANDLER: the kernel (eBPF) or the VM in user space. */
  tierOf(handler: Handler): 'kernel' | 'user' {
    return this.kernelTier?.has(handler) === true ? 'kernel' : 'user';
  }

  /** Runs of HANDLER so far: counted by the VM, or by its program in the kernel (read now). */
  runsOf(handler: Handler): number {
    const tier = this.kernelTier;
    return tier !== null && tier.has(handler) ? tier.runs(handler) : this.handlerRuns[handler.id] ?? 0;
  }

  /** Events per CPU: those read from tracefs plus the kernel tier's runs (counted in the kernel). */
  private cpuStats(): CpuStats | null {
    const kernel = this.kernel;
    const inKernelTier = this.kernelTierRunsPerCpu();
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
      await this.attachInSlices();
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
    const steps = this.attachSteps();
    for (;;) {
      const step = steps.next();
      if (step.done === true) return step.value;
    }
  }

  /**
   * attachPending for scripts: the event loop has its turn every ATTACH_SLICE_MS, so that a
   * signal is handled while thousands of probes are placed; once the session is ending,
   * attaching stops (close() removes what was attached).
   */
  private async attachInSlices(): Promise<void> {
    const steps = this.attachSteps();
    let sliceStart = performance.now();
    while (steps.next().done !== true) {
      if (performance.now() - sliceStart < ATTACH_SLICE_MS) continue;
      await new Promise((resolve) => setImmediate(resolve));
      if (this.endReason !== null) {
        steps.return([]);
        return;
      }
      sliceStart = performance.now();
    }
  }

  /** The steps of attachPending: one kernel write each (see KernelEvents.commit). */
  private *attachSteps(): Generator<void, Array<{ handler: Handler; events: number }>> {
    const pending = this.handlers.filter((handler) => !this.attachedIds.has(handler.id));
    if (this.options.dryRun) {
      // -C and -p as the live run checks them once it attaches to the kernel.
      if (pending.some((handler) => handler.kind !== 'tick')) checkTargets(this.options);
      this.placeInKernel(pending); // -v: the tier each handler would run in
      this.dryRun ??= new DryRun(this.options.verbose, (handler, intervalNs) => this.startTimer(handler, intervalNs));
      for (const handler of pending) {
        this.dryRun.attach(handler);
        this.attachedIds.add(handler.id);
      }
      return pending.filter((handler) => handler.kind === 'tick').map((handler) => ({ handler, events: 0 }));
    }
    const attached: Array<{ handler: Handler; events: number }> = [];
    const refusedBefore = this.kernel?.refused.map((entry) => entry.probes.length) ?? [];
    const inKernel = this.placeInKernel(pending);
    try {
      for (const handler of pending) {
        const events = inKernel.has(handler) ? this.kernelTier!.eventsOf(handler) : attachHandler(handler, handler.spec, this.attacher);
        attached.push({ handler, events });
      }
      if (this.kernel !== null) yield* this.kernel.commit();
    } catch (error) {
      this.pendingTimers = [];
      for (const handler of pending) this.detach(handler);
      throw error;
    }
    for (const { handler, intervalNs } of this.pendingTimers.splice(0)) this.startTimer(handler, intervalNs);
    if (this.kernel !== null) this.reportRefused(this.kernel.refused, refusedBefore);
    for (const entry of attached) {
      this.attachedIds.add(entry.handler.id);
      entry.events -= this.kernel?.refusedCount(entry.handler) ?? 0;
      if (this.options.verbose && entry.events > 0) process.stderr.write(`ktap: attached ${entry.handler.header} (${entry.events} event${entry.events === 1 ? '' : 's'})\n`);
    }
    const captureNote = this.options.verbose ? this.kernel?.captureNote() : undefined;
    if (captureNote !== undefined) process.stderr.write(`ktap: ${captureNote}\n`);
    return attached;
  }

  /**
   * One line per handler with probes of a glob the kernel refused (skipped, the run goes
   * on); -v lists each with the kernel's reason. BEFORE: how many were reported already.
   */
  private reportRefused(refused: readonly RefusedProbes[], before: readonly number[]): void {
    refused.forEach((entry, index) => {
      const probes = entry.probes.slice(before[index] ?? 0);
      if (probes.length === 0) return;
      process.stderr.write(`ktap: ${entry.header}: the kernel refused ${probes.length} probe${probes.length === 1 ? '' : 's'}, ` +
        `traced without ${probes.length === 1 ? 'it' : 'them'}${this.options.verbose ? '' : ' (-v lists them)'}\n`);
      if (!this.options.verbose) return;
      for (const probe of probes) process.stderr.write(`ktap:   ${probe.event}: ${probe.reason}\n`);
    });
  }

  /** The live attacher: kernel events (created by the first handler that needs them) and timers. */
  private readonly attacher: Attacher<Handler> = {
    tracepoints: (definitions) => this.kernelEvents().tracepoints(definitions),
    definers: () => this.kernelEvents().definers(),
    route: (handler, events, filter) => this.kernelEvents().route(handler, events, filter),
    functionTracer: (handler, patterns) => this.kernelEvents().functionTracer(handler, patterns),
    sample: (handler, intervalNs) => this.kernelEvents().sample(handler, intervalNs),
    // Timers start once everything is attached (attachSteps), so no tick runs while attaching.
    tick: (handler, intervalNs) => {
      this.pendingTimers.push({ handler, intervalNs });
      return 0;
    },
  };

  private pendingTimers: Array<{ handler: Handler; intervalNs: number }> = [];

  private startTimer(handler: Handler, intervalNs: number): number {
    this.timers.set(handler.id, this.timerScheduler.start(intervalNs, (due) => this.dispatchTick(handler, due)));
    return 0;
  }

  /**
   * Chooses the trace handlers of PENDING that run in the kernel (--tier auto: those that
   * can; --tier kernel: all, or an error) and attaches them there. A global written by a
   * handler that stays in user space keeps every handler using it in user space too: user
   * space sees events later than the kernel, so the two would not see the same order.
   * -v says per handler which tier runs it and, for the user tier, why.
   */
  private placeInKernel(pending: readonly Handler[]): Set<Handler> {
    const mode = this.options.tier ?? 'auto';
    const placed = new Set<Handler>();
    const candidates = pending.filter((handler) => handler.kind === 'trace');
    if (mode === 'user' || candidates.length === 0) return placed;
    const tier = this.options.dryRun ? null : this.openKernelTier();
    if (tier === null && !this.options.dryRun) {
      if (mode === 'kernel') throw new KernelTierError(`--tier kernel: ${this.kernelTierUnavailable}`);
      return placed;
    }
    const reasons = new Map<Handler, string | null>(candidates.map((handler) => [handler, KernelTier.reasonAgainst(handler)]));
    for (;;) {
      this.keepSharedInUserSpace(reasons);
      let failed = false;
      for (const [handler, reason] of reasons) {
        if (reason !== null || placed.has(handler) || tier === null) continue;
        let refusal: string | null;
        try {
          refusal = tier.attach(handler);
        } catch (error) {
          if (!(error instanceof KernelTierError) || mode === 'kernel') throw error;
          refusal = error.message;
          if (this.options.verbose) for (const line of error.details) process.stderr.write(`ktap: verifier: ${line}\n`);
        }
        if (refusal === null) placed.add(handler);
        else {
          reasons.set(handler, refusal);
          failed = true;
        }
      }
      if (!failed) break;
      // A refusal may keep globals in user space that handlers already placed also use.
      for (const handler of placed) tier!.detach(handler);
      placed.clear();
    }
    for (const [handler, reason] of reasons) {
      if (reason !== null && mode === 'kernel') {
        for (const placedHandler of placed) tier?.detach(placedHandler);
        const located = reason.replace(/^line (\d+): /, `${this.options.scriptName}:$1: `);
        throw new KernelTierError(`--tier kernel: ${located} (trace ${handler.header})`);
      }
      this.tierNote(handler, reason);
    }
    if (this.options.dryRun) return new Set();
    if (placed.size > 0) this.watchKernelTier(tier!);
    return placed;
  }

  /** Globals written by trace handlers in user space (`all`: one calls a script function). */
  private userTierWrites: Set<object> | 'all' = new Set();

  private noteUserTierWrites(handler: Handler): void {
    if (this.userTierWrites === 'all') return;
    const body = handler.body;
    const written = body === undefined ? 'all' : upvaluesWritten(body.proto);
    if (written === 'all') this.userTierWrites = 'all';
    else for (const upvalue of written) this.userTierWrites.add(body!.cells[upvalue]!);
  }

  private keepSharedInUserSpace(reasons: Map<Handler, string | null>): void {
    for (let changed = true; changed; ) {
      changed = false;
      for (const [handler, reason] of reasons) if (reason !== null) this.noteUserTierWrites(handler);
      const written = this.userTierWrites;
      for (const [handler, reason] of reasons) {
        if (reason !== null || handler.body === undefined) continue;
        const shared = handler.body.proto.upvalues.findIndex((_, index) => written === 'all' || written.has(handler.body!.cells[index]!));
        if (shared < 0) continue;
        const name = handler.body.proto.upvalues[shared]!.name;
        reasons.set(handler, `line ${handler.body.proto.lineDefined}: ${name} is also written by a handler that runs in user space`);
        changed = true;
      }
    }
  }

  private tierNote(handler: Handler, reason: string | null): void {
    if (!this.options.verbose) return;
    process.stderr.write(reason === null ? `ktap: ${handler.header}: kernel tier (eBPF)\n` : `ktap: ${handler.header}: user tier (${reason})\n`);
  }

  /** Why the kernel tier is not available here, once asked. */
  private kernelTierUnavailable: string | null = null;

  private openKernelTier(): KernelTier | null {
    if (this.kernelTier !== null) return this.kernelTier;
    if (this.kernelTierUnavailable !== null) return null;
    checkTargets(this.options);
    const pids = this.workload !== null ? [this.workload.pid] : this.options.pid !== undefined ? [this.options.pid] : undefined;
    const opened = KernelTier.open({
      tracefsRoot: findTracefs(),
      maxEntries: this.options.limits.maxTableEntries,
      traceSelf: this.options.traceSelf === true,
      ...(this.options.cpu === undefined ? {} : { cpu: this.options.cpu }),
      ...(pids === undefined ? {} : { pids }),
    });
    if (opened instanceof KernelTier) return (this.kernelTier = opened);
    this.kernelTierUnavailable = opened.unavailable;
    if (this.options.verbose) process.stderr.write(`ktap: kernel tier unavailable (${opened.unavailable}); every handler runs in user space\n`);
    return null;
  }

  /**
   * While kernel-tier handlers run, a runtime error they counted ends the session as the
   * VM's would. Their runs are read when asked (runsOf), not polled: an idle poll is one
   * lookup, so ktap costs next to nothing while the kernel does the work.
   */
  private watchKernelTier(tier: KernelTier): void {
    if (this.kernelWatch !== null) return;
    // Not unref'd: with every handler in the kernel, this timer is what keeps the process up.
    this.kernelWatch = setInterval(() => this.pollKernelTier(tier), KERNEL_POLL_MS);
  }

  private pollKernelTier(tier: KernelTier): void {
    const error = tier.takeError();
    if (error === null || this.failed) return;
    const handler = this.handlers.find((candidate) => candidate.id === error.handlerId);
    // Events that ran while a failed handler was being detached count again: it was reported.
    if (handler === undefined) return;
    const message = new RuntimeError(error.message, error.limit);
    // Placed like the VM's errors are (error: FILE:LINE, -v, the REPL's report).
    message.position = { chunk: handler.body?.proto.source ?? this.options.scriptName, line: error.line };
    if (this.onHandlerError !== null) {
      this.detach(handler);
      this.onHandlerError(handler, message);
      return;
    }
    this.failed = true;
    this.reportRuntimeError(message, handler.header);
    this.end('error');
  }

  /** Runs of the kernel-tier handlers per CPU (the dashboard's per-CPU rows); null when none runs there. */
  kernelTierRunsPerCpu(): number[] | null {
    const tier = this.kernelTier;
    if (tier === null) return null;
    const totals: number[] = [];
    for (const handler of this.handlers) {
      if (!tier.has(handler)) continue;
      tier.hitsPerCpu(handler).forEach((runs, cpu) => (totals[cpu] = (totals[cpu] ?? 0) + runs));
    }
    return totals.length === 0 ? null : totals;
  }

  /** Detaches one handler (REPL .detach, or a handler that failed there). */
  detach(handler: Handler): void {
    const tier = this.kernelTier;
    if (tier?.has(handler) === true) {
      this.handlerRuns[handler.id] = tier.runs(handler); // kept for the faces once its program is gone
      tier.detach(handler);
    }
    this.timers.get(handler.id)?.stop();
    this.timers.delete(handler.id);
    this.kernel?.remove(handler);
    const index = this.handlers.indexOf(handler);
    if (index >= 0) this.handlers.splice(index, 1);
  }

  private kernelEvents(): KernelEvents {
    if (this.kernel !== null) {
      this.kernel.useStacks(this.linker.stackUse.kernel, this.linker.stackUse.user);
      return this.kernel;
    }
    const pids = this.workload !== null ? [this.workload.pid] : this.options.pid !== undefined ? [this.options.pid] : undefined;
    checkTargets(this.options);
    this.catchSignals();
    this.kernel = new KernelEvents(
      {
        bufferSizeKb: this.options.bufferSizeKb ?? DEFAULT_BUFFER_KB,
        traceSelf: this.options.traceSelf === true,
        ...(pids === undefined ? {} : { pids }),
        ...(this.options.cpu === undefined ? {} : { cpus: [this.options.cpu] }),
      },
      (handler, event) => this.dispatchEvent(handler, event),
      (address) => this.symbols().lookup(address),
    );
    this.kernel.useStacks(this.linker.stackUse.kernel, this.linker.stackUse.user);
    return this.kernel;
  }

  /** Runs one trace or profile handler for a record; false ends delivery. */
  private dispatchEvent(handler: Handler, event: TraceEvent): boolean {
    if (this.options.timestamps) this.sink.timestamp = event.clockNs();
    const keepGoing = this.runHandler(handler, event);
    if (this.options.timestamps) this.sink.timestamp = null;
    return keepGoing;
  }

  /**
   * One run of a trace or timer handler. exit() ends the session; a runtime error ends it
   * too (SPEC §6.2) unless onHandlerError is set (the REPL), which reports it and the
   * handler is detached. Returns whether events should still be delivered.
   */
  private runHandler(handler: Handler, event: EventContext): boolean {
    this.handlerRuns[handler.id] = (this.handlerRuns[handler.id] ?? 0) + 1;
    try {
      this.rt.run(handler.fn, false, event);
      return true;
    } catch (error) {
      if (error instanceof ExitSignal) {
        this.end('exit');
        return false;
      }
      if (!(error instanceof RuntimeError)) throw error;
      if (this.onHandlerError !== null) {
        this.detach(handler);
        this.onHandlerError(handler, error);
        return true;
      }
      this.failed = true;
      this.reportRuntimeError(error, handler.header);
      this.end('error');
      return false;
    }
  }

  /**
   * Removes everything created in the kernel after reporting lost events (SPEC §3.10), and
   * undelivered ones when the drain ran out of time. The last removal: terminating signals
   * are no longer caught after it.
   */
  close(): void {
    if (this.kernelWatch !== null) clearInterval(this.kernelWatch);
    this.kernelWatch = null;
    const tier = this.kernelTier;
    this.kernelTier = null;
    if (tier !== null) {
      this.pollKernelTier(tier);
      for (const handler of this.handlers) if (tier.has(handler)) this.handlerRuns[handler.id] = tier.runs(handler);
      tier.close();
    }
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
    for (const timer of this.timers.values()) timer.stop();
    this.timers.clear();
    if (reason === 'interrupt') this.sink.interrupted();
    this.kernel?.stop(reason === 'interrupt' || reason === 'terminate' || reason === 'workload');
    if (this.kernelTier !== null) {
      this.kernelTier.stop();
      this.pollKernelTier(this.kernelTier);
    }
    this.ending?.(reason);
  }

  private dispatchTick(handler: Handler, wallTimeNs: bigint): void {
    // Every event already readable is delivered before a timer handler runs (SPEC §3.10).
    this.kernel?.pump();
    if (this.endReason !== null) return;
    this.runHandler(handler, this.timerContext(handler.header, wallTimeNs));
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
