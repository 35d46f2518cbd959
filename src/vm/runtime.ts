// The state one VM instance runs with: limits and their counters, the output sink, the
// current event context and the host (the session) that handlers are registered with.
// Translated code and builtins both work through it.

import { HANDLER_KINDS, type ArgVariable, type EventVariable, type HandlerKind } from './opcodes';
import { ExitSignal, RuntimeError } from './errors';
import { EntryBudget, budgetExceeded, effectiveLimit, limitHint, type Limits } from './limits';
import { PositionTable, place, type Position } from './positions';
import { parseHeader } from '../syntax/headers';
import { KTable } from './table';
import type { Proto } from './proto';
import { typeName, type KFunction, type Value } from './value';
import type { Bucket, BucketKind } from './lib/buckets';

/** Where script output goes (SPEC-product §7): text or one JSON object per output. */
export interface OutputSink {
  /** print(v, …) */
  print(values: readonly Value[]): void;
  /** printf and the ansi library: already formatted bytes. */
  printf(text: string): void;
  /** print_hist: the rows shown, how many entries were left out, and the text rendering. */
  hist(rows: ReadonlyArray<{ key: Value; count: number | bigint }>, more: number, text: string): void;
  /** print_log2/print_linear: the buckets in order and the text rendering. */
  buckets(kind: BucketKind, buckets: readonly Bucket[], text: string): void;
  /** A runtime error ending the session, and where it happened when that is to be shown. */
  error(message: string, position?: Position): void;
}

/** The event a trace or timer handler runs for (SPEC §4.10). Supplied by the session. */
export interface EventContext {
  /** 'timer' contexts have no arguments (nil) and an empty argstr. */
  readonly kind: 'trace' | 'timer';
  readonly probename: string;
  readonly cpu: number;
  readonly pid: number;
  readonly tid: number;
  uid(): number;
  execname(): string;
  /** Event field N (0-based after the common fields), nil when absent. */
  arg(index: number): Value;
  /** The event's field named `name` (args.NAME), nil when it has none. */
  field(name: string): Value;
  argstr(): string;
  /** Wall-clock time of the event (or the tick's due time) in nanoseconds since the epoch. */
  wallTimeNs(): bigint;
  /** Recorded in hard-IRQ, soft-IRQ or NMI context. */
  inInterrupt(): boolean;
  /** Kernel stack recorded with the event, one symbolized frame per entry, innermost first. */
  kernelStack?(): readonly string[] | undefined;
  /** User stack recorded with the event, likewise. */
  userStack?(): readonly string[] | undefined;
  /**
   * The strings of the `char **` array at user address ADDRESS as captured at the event
   * (with `more` when it held more than were captured), or undefined when none was.
   */
  capturedArgv?(address: bigint): { readonly strings: readonly string[]; readonly more: boolean } | undefined;
}

/** Identity of the tracer process itself, for event variables outside events. */
export interface TracerIdentity {
  cpu(): number;
  pid: number;
  tid: number;
  uid: number;
  execname: string;
}

/** What the VM needs from the session around it. */
export interface RuntimeHost {
  /**
   * Registers a handler; the runtime has checked thread and phase. `userStrings` lists the
   * N of user_string(argN) calls in the handler (a hint for kernel-side string fetching).
   */
  registerHandler(kind: HandlerKind, header: string, handler: KFunction, hints: RegistrationHints): void;
  readonly tracer: TracerIdentity;
  /** Kernel symbol containing `address` (name without offset), or undefined (for %p and ipof). */
  kernelSymbol(address: bigint): string | undefined;
  /** The tracing clock (clock of event timestamps) in nanoseconds, for print_trace_clock. */
  traceClockNs(): bigint;
  /** What host() returns: the host's label on a fleet (--hosts); the hostname when absent. */
  hostLabel?(): string;
}

export type Phase = 'RUNNING' | 'END';

/** Extra facts about a registration. */
export interface RegistrationHints {
  /** The name of the registering builtin, for errors (default: the REGISTER instruction's). */
  readonly registrar?: string;
  /** Arguments the handler passes to user_string (from its bytecode). */
  readonly userStrings?: readonly number[];
  /** Fields it passes to user_string as args.NAME. */
  readonly userStringFields?: readonly string[];
  /** Arguments it passes to join (`char **` arrays, from its bytecode). */
  readonly argvs?: readonly number[];
  /** Fields it passes to join as args.NAME. */
  readonly argvFields?: readonly string[];
  /** Event fields the handler reads by name (args.NAME), checked against its events at attach. */
  readonly fields?: readonly string[];
  /** The handler's prototype and the cells of its upvalues, when REGISTER created it. */
  readonly body?: HandlerBody;
}

/** A handler as bytecode: what the kernel tier compiles, and the variables it shares. */
export interface HandlerBody {
  readonly proto: Proto;
  readonly cells: readonly { v: Value }[];
}

/** Names of the registering operations in error messages (SPEC §3.10). */
const REGISTRAR_NAMES: Record<HandlerKind, string> = {
  trace: 'kdebug.trace_by_id',
  tick: 'timer.tick',
  profile: 'timer.profile',
  trace_end: 'kdebug.trace_end',
};

export class Runtime {
  readonly limits: Limits;
  readonly entries: EntryBudget;
  readonly maxString: number;
  readonly maxDepth: number;

  /**
   * Instructions left in the current run; translated code decrements it at back-edges and
   * calls, builtins charge their work to it. Unlimited between runs (a builtin called by
   * the host, not by a script, is not charged).
   */
  budget = Infinity;
  /** The budget the current run started with, for the error text. */
  runBudget = 0;
  depth = 0;
  mainThread = true;
  phase: Phase = 'RUNNING';
  /** Source positions of translated instructions, to place runtime errors. */
  readonly positions = new PositionTable();
  /** Tail-call trampoline registers (see translate.ts). */
  tailFunction: KFunction | undefined = undefined;
  tailArgs: Value[] = [];
  /** The event context of the running handler, or null on the main thread. */
  event: EventContext | null = null;
  /** Instructions executed in finished runs, for the dashboard's instructions/s. */
  instructionsDone = 0;
  /**
   * The tracer's own CPU and name, read once per run when a script asks for `cpu` or
   * `execname` outside an event (each read would otherwise be a read of /proc).
   */
  private tracerCpu: number | undefined = undefined;
  private tracerExecname: string | undefined = undefined;

  constructor(
    limits: Limits,
    readonly out: OutputSink,
    readonly host: RuntimeHost,
  ) {
    this.limits = limits;
    this.entries = new EntryBudget(limits.maxTableEntries);
    this.entries.chargeWork = (units) => this.charge(units);
    this.maxString = effectiveLimit(limits.maxString);
    this.maxDepth = effectiveLimit(limits.maxDepth);
  }

  newTable(): KTable {
    return new KTable(this.entries);
  }

  /**
   * Runs `fn` (a main chunk or handler: no arguments) as one run (SPEC §3.10): a fresh
   * instruction budget and call depth, on the main thread or in a handler with its event
   * context. Errors propagate to the caller.
   */
  run(fn: KFunction, mainThread: boolean, event: EventContext | null): Value {
    const budget = mainThread ? this.limits.maxInstructions : this.limits.maxEventInstructions;
    this.runBudget = budget;
    this.budget = effectiveLimit(budget);
    this.depth = 0;
    this.mainThread = mainThread;
    this.event = event;
    this.tracerCpu = undefined;
    this.tracerExecname = undefined;
    const outermost = !this.entries.collecting;
    this.entries.collecting = true;
    try {
      let result = fn();
      if (result === TAIL) result = this.finishTailCalls();
      return result;
    } catch (error) {
      const normalized = normalizeError(error, this);
      if (normalized instanceof RuntimeError) place(normalized, this.positions, error);
      throw normalized;
    } finally {
      this.instructionsDone += this.budget === Infinity ? 0 : effectiveLimit(budget) - this.budget;
      this.budget = Infinity;
      this.event = null;
      this.mainThread = true;
      if (outermost) {
        // The run's registers are gone: tables nothing else refers to are dead.
        this.entries.collecting = false;
        this.entries.collect();
      }
    }
  }

  /** A cell's value replaced (SETUPVAL, SETCELL): references to tables from cells are counted. */
  swapCellValue(previous: Value, next: Value): void {
    if (next instanceof KTable) next.refs++;
    if (previous instanceof KTable) this.entries.unref(previous);
  }

  /** Runs pending tail calls until one returns a value. */
  finishTailCalls(): Value {
    let result: Value | typeof TAIL = TAIL;
    while (result === TAIL) {
      const fn = this.tailFunction!;
      const args = this.tailArgs;
      this.tailFunction = undefined;
      result = fn(...args);
    }
    return result;
  }

  /** Charges `units` of work done by a builtin or host call (see WORK_COST) to the run's budget. */
  charge(units: number): void {
    if ((this.budget -= units) < 0) this.overBudget();
  }

  overBudget(): never {
    this.budget = 0;
    throw budgetExceeded(this.runBudget, this.mainThread ? 'maxInstructions' : 'maxEventInstructions');
  }

  stackOverflow(): never {
    throw new RuntimeError('stack overflow', limitHint('maxDepth', this.limits.maxDepth));
  }

  /**
   * REGISTER and the registering builtins: the checks of SPEC §3.10 in their order, then
   * the host registers. `registrar` names the operation in errors (a builtin's own name).
   */
  register(kind: number, header: string, handler: KFunction, hints: RegistrationHints = {}): void {
    const handlerKind = HANDLER_KINDS[kind];
    const registrar = hints.registrar ?? REGISTRAR_NAMES[handlerKind];
    if (handlerKind !== 'trace_end' && !this.mainThread) {
      throw new RuntimeError(`${registrar} only can be called in mainthread`);
    }
    if (this.phase !== 'RUNNING') throw new RuntimeError(`${registrar} only can be called in RUNNING state`);
    // Compiled code always passes a function and a checked header; a bytecode file may not.
    if (typeof handler !== 'function') throw new RuntimeError(`${registrar}: attempt to register a ${typeName(handler)} value as a handler`);
    if (handlerKind !== 'trace_end') {
      const parsed = parseHeader(handlerKind, header);
      if (typeof parsed === 'string') throw new RuntimeError(parsed);
    }
    this.host.registerHandler(handlerKind, header, handler, hints);
  }

  /** EVENTVAR of arg0..arg9: the event's Nth argument (nil outside trace handlers). */
  eventArg(n: number): Value {
    const event = this.event;
    if (event === null) throw new RuntimeError('invalid event context');
    return event.kind === 'trace' ? event.arg(n) : undefined;
  }

  // EVENTVAR of the other event variables: one method each (EVENT_VARIABLE_READERS), so the
  // per-event path makes a direct call. Outside an event, the ones that describe a task
  // describe ktap itself, each read from the system once per run.
  eventExecname(): Value {
    const event = this.event;
    return event === null ? (this.tracerExecname ??= this.host.tracer.execname) : event.execname();
  }

  eventPid(): Value {
    const event = this.event;
    return event === null ? this.host.tracer.pid : event.pid;
  }

  eventTid(): Value {
    const event = this.event;
    return event === null ? this.host.tracer.tid : event.tid;
  }

  eventCpu(): Value {
    const event = this.event;
    return event === null ? (this.tracerCpu ??= this.host.tracer.cpu()) : event.cpu;
  }

  eventUid(): Value {
    const event = this.event;
    return event === null ? this.host.tracer.uid : event.uid();
  }

  eventProbename(): Value {
    const event = this.event;
    if (event === null) throw new RuntimeError('invalid event context');
    return event.probename;
  }

  eventArgstr(): Value {
    const event = this.event;
    if (event === null) throw new RuntimeError('invalid event context');
    return event.kind === 'trace' ? event.argstr() : '';
  }

  /** FIELD: args.NAME in the current context (nil in timer handlers). */
  eventField(name: string): Value {
    const event = this.event;
    if (event === null) throw new RuntimeError('invalid event context');
    return event.kind === 'trace' ? event.field(name) : undefined;
  }

  exit(): never {
    throw new ExitSignal();
  }
}

/** The Runtime method EVENTVAR calls for each event variable but argN (SPEC §4.10). */
export const EVENT_VARIABLE_READERS = {
  argstr: 'eventArgstr', probename: 'eventProbename', cpu: 'eventCpu', pid: 'eventPid', tid: 'eventTid', uid: 'eventUid',
  execname: 'eventExecname',
} as const satisfies Record<Exclude<EventVariable, ArgVariable>, keyof Runtime>;

/** Returned by a function that made a tail call; the caller runs `finishTailCalls`. */
export const TAIL = Symbol('tail call') as unknown as Value;

/**
 * JavaScript's own limits, reachable when a sandbox limit is lifted with 0, become the
 * VM's errors for the same condition.
 */
function normalizeError(error: unknown, rt: Runtime): unknown {
  if (!(error instanceof RangeError)) return error;
  const limits = rt.limits;
  if (/call stack/i.test(error.message)) return new RuntimeError('stack overflow', limitHint('maxDepth', limits.maxDepth));
  if (/string length/i.test(error.message)) return new RuntimeError('string too long', limitHint('maxString', limits.maxString));
  if (/maximum size|array length/i.test(error.message)) return new RuntimeError('table overflow', limitHint('maxTableEntries', limits.maxTableEntries));
  return error;
}
