// The probe-source table: for each probe kind of src/syntax/headers.ts, what a definition
// selects on this kernel and how its handler is attached, through an Attacher. The live
// session (KernelEvents and its timers) and the dry run (a recording attacher) implement
// the same Attacher, so a dry run resolves and checks exactly what a live run does. The
// kernel tier's column says how each kind's trace handler runs as eBPF (src/bpf/tier.ts
// implements the paths, as the session implements Attacher), or why it stays in user space.

import { readFileSync } from 'node:fs';
import type { DefinitionOf, EventDefinition, EventSpec, ProbeKind } from '../syntax/headers';
import { defineKprobes, defineMarkers, defineUprobes, type ProbeDefiners } from './dynamic';
import type { Tracepoint, TracepointDefinition } from './resolve';
import { TracefsError } from './tracefs';

/** What the table needs of a handler; the session's Handler is one. */
export interface ProbeHandler {
  readonly header: string;
  /** N of the user_string(argN) calls in the handler: fetched as strings by uprobes. */
  readonly userStrings: readonly number[];
  /** NAME of its user_string(args.NAME) calls: the same, by field name. */
  readonly userStringFields: readonly string[];
  /** Fields the handler reads as args.NAME. */
  readonly fields: readonly string[];
}

/**
 * Where handlers are attached: the live session, or the dry run's recorder. Each method
 * returns the number of kernel events it attached the handler to.
 */
export interface Attacher<H extends ProbeHandler> {
  /** The tracepoints `SYSTEM:EVENT` globs select on this kernel (`unknown event …` when none). */
  tracepoints(definitions: readonly TracepointDefinition[]): Tracepoint[];
  /** Where uprobes and kprobes are defined; kprobes null on a kernel without them. */
  definers(): ProbeDefiners;
  /** Delivers EVENTS to the handler, FILTER (null: none) installed as their kernel filter. */
  route(handler: H, events: readonly Tracepoint[], filter: string | null): number;
  /** ftrace:function, the functions chosen by PATTERNS (none: every function). */
  functionTracer(handler: H, patterns: readonly string[]): number;
  /** profile-N: the handler samples the scheduler tick every intervalNs on each CPU. */
  sample(handler: H, intervalNs: number): number;
  /** tick-N: a user-space timer. */
  tick(handler: H, intervalNs: number): number;
}

/**
 * How the kernel tier (src/bpf/tier.ts) attaches a handler's events of a kind:
 * - `tracepoints`: a perf tracepoint per event the SYSTEM:EVENT glob selects; when all of
 *   the handler's events are system calls of one direction whose numbers are known, one raw
 *   sys_enter/sys_exit program checking the number in a bitmap instead (cheaper per event);
 * - `syscalls`: the same, and the whole direction (`sys_enter_*`, `sys_exit_*`) is that raw
 *   program for every number, chosen without resolving the glob (so -b and -d know it too);
 * - `sampler`: profile-N's program on a perf CPU clock sampling each CPU at N Hz;
 * - `uprobes`: a kprobe-type program on each address the definition resolves to, through the
 *   uprobe PMU (perf_event_open; nothing written to uprobe_events), the probe name as cookie.
 */
export type KernelTierPath = TracepointPath | 'sampler' | 'uprobes';
type TracepointPath = 'tracepoints' | 'syscalls';

/**
 * The kernel tier's column: a path — the tracepoint paths open only to kinds whose
 * definitions name SYSTEM:EVENT, the sampler to profile-N — or the reason a handler of the
 * kind stays in user space (-v, -b).
 */
type KernelTierColumn<K extends ProbeKind> =
  | (DefinitionOf<K> extends TracepointDefinition ? TracepointPath : never)
  | (K extends 'profile' ? 'sampler' : never)
  | (K extends 'uprobe' ? 'uprobes' : never)
  | { readonly userSpace: string };

/**
 * One row: a kind either selects events that are routed with the handler's kernel filter
 * (`events`), or attaches itself (`attach`), the filter meaning what the kind says; and
 * how the kernel tier attaches it (`kernelTier`).
 */
type ProbeSource<K extends ProbeKind> = (
  | { readonly events: <H extends ProbeHandler>(definition: DefinitionOf<K>, handler: H, attacher: Attacher<H>) => Tracepoint[] }
  | { readonly attach: <H extends ProbeHandler>(definition: DefinitionOf<K>, handler: H, attacher: Attacher<H>, filter: string | null) => number }
) & { readonly kernelTier: KernelTierColumn<K> };

/** The scheduler-tick event profile-N samples on (SPEC §8), filtered to the tick handler. */
export const PROFILE_EVENT: Tracepoint = { system: 'timer', event: 'hrtimer_expire_entry' };
const TICK_HANDLERS = ['tick_nohz_handler', 'tick_sched_timer'];
/** Records of the function tracer. */
export const FUNCTION_EVENT: Tracepoint = { system: 'ftrace', event: 'function' };

export const PROBE_SOURCES: { readonly [K in ProbeKind]: ProbeSource<K> } = {
  tracepoint: { events: (definition, _handler, attacher) => attacher.tracepoints([definition]), kernelTier: 'tracepoints' },
  syscall: { events: (definition, _handler, attacher) => attacher.tracepoints([definition]), kernelTier: 'syscalls' },
  kprobe: {
    events: (definition, _handler, attacher) => defineKprobes(definition, attacher.definers()),
    kernelTier: { userSpace: 'kprobe probes run in user space' },
  },
  uprobe: {
    events: (definition, handler, attacher) => defineUprobes(definition, attacher.definers(), fetchedStrings(handler)),
    // Through the uprobe PMU, one perf event per address: nothing written to uprobe_events.
    kernelTier: 'uprobes',
  },
  sdt: {
    events: (definition, handler, attacher) => defineMarkers(definition, attacher.definers(), fetchedStrings(handler)),
    kernelTier: { userSpace: 'sdt probes run in user space' },
  },
  ftrace: {
    attach: (_definition, handler, attacher, filter) => attacher.functionTracer(handler, filter === null ? [] : functionPatterns(filter)),
    kernelTier: { userSpace: 'ftrace probes run in user space' },
  },
  // In user space the samples are captured by BPF (a perf CPU clock sampler) where it can, the handler run in the VM.
  profile: { attach: (definition, handler, attacher) => attacher.sample(handler, definition.intervalNs), kernelTier: 'sampler' },
  tick: { attach: (definition, handler, attacher) => attacher.tick(handler, definition.intervalNs), kernelTier: { userSpace: 'tick handlers run in user space' } },
};

/** A definition with the kernel-tier path its row names. */
export type KernelTierRoute =
  | { readonly path: TracepointPath; readonly definition: TracepointDefinition }
  | { readonly path: 'sampler'; readonly definition: DefinitionOf<'profile'> }
  | { readonly path: 'uprobes'; readonly definition: DefinitionOf<'uprobe'> };

/**
 * The kernel tier's column of DEFINITION's row: its path with the definition (SYSTEM:EVENT,
 * or profile-N's interval), or why it stays in user space.
 */
export function kernelTierPath(definition: EventDefinition): KernelTierRoute | { readonly userSpace: string } {
  // The row of the definition's own kind; its column takes a path only for the kinds the column's type allows.
  const column = (PROBE_SOURCES[definition.kind] as ProbeSource<ProbeKind>).kernelTier;
  return typeof column === 'string' ? ({ path: column, definition } as KernelTierRoute) : column;
}

/**
 * The argN a uprobe's or marker's default fetch arguments should fetch as strings: those the
 * handler passes to user_string as argN, as args.argN, or as args.retval (a return probe's arg2).
 */
function fetchedStrings(handler: ProbeHandler): Set<number> {
  const indexes = new Set(handler.userStrings);
  for (const name of handler.userStringFields) {
    const numbered = /^arg([1-9])$/.exec(name);
    if (numbered !== null) indexes.add(Number(numbered[1]));
    else if (name === 'retval') indexes.add(2);
  }
  return indexes;
}

/**
 * Attaches one handler: each definition through its kind's row; the events of routed kinds
 * go to the attacher together, each once, with the spec's filter. Returns the events.
 */
export function attachHandler<H extends ProbeHandler>(handler: H, spec: EventSpec, attacher: Attacher<H>): number {
  const filter = spec.filter ?? null;
  const routed = new Map<string, Tracepoint>();
  let count = 0;
  for (const definition of spec.definitions) {
    // The row of the definition's own kind (TypeScript cannot pair a union with its row).
    const source = PROBE_SOURCES[definition.kind] as ProbeSource<ProbeKind>;
    if ('attach' in source) count += source.attach(definition, handler, attacher, filter);
    else for (const event of source.events(definition, handler, attacher)) routed.set(`${event.system}:${event.event}`, event);
  }
  if (routed.size > 0) count += attacher.route(handler, [...routed.values()], filter);
  return count;
}

/** `ip == tcp_* || ip == udp_*` → the globs; anything else is refused (SPEC §4.3). */
function functionPatterns(filter: string): string[] {
  return filter.split('||').map((term) => {
    const match = /^\s*ip\s*==\s*(\S+)\s*$/.exec(term);
    if (match === null) throw new TracefsError(`unsupported filter for ftrace:function: '${filter}'`);
    return match[1]!;
  });
}

/**
 * The error when a handler's filter differs from the one an event already has: one event
 * has one kernel filter, so handlers sharing an event must agree on it.
 */
export function checkSharedFilter(header: string, event: Tracepoint, current: string | null, shared: boolean, filter: string | null): void {
  if (!shared || current === filter) return;
  throw new TracefsError(`'${header}': ${event.system}:${event.event} is already traced ` +
    `${current === null ? 'without a filter' : `with filter '${current}'`}; an event has one kernel filter`);
}

/** Most field names an unknown-field error lists. */
const LISTED_FIELDS = 40;

/**
 * Each args.NAME the handler reads must be a field of at least one of its events (an
 * event lacking it reads nil); otherwise the error names the field and the real ones.
 */
export function checkEventFields(handler: ProbeHandler, events: ReadonlyArray<{ name: string; fields: readonly string[] }>): void {
  for (const name of handler.fields) {
    if (events.length === 0 || events.some((event) => event.fields.includes(name))) continue;
    const real = [...new Set(events.flatMap((event) => event.fields))];
    const listed = real.length > LISTED_FIELDS ? `${real.slice(0, LISTED_FIELDS).join(', ')}, …` : real.join(', ');
    const which = events.length === 1 ? `${events[0]!.name} has no` : `none of its ${events.length} events has a`;
    throw new TracefsError(`args.${name} in '${handler.header}': ${which} field '${name}'; ` +
      (real.length === 0 ? 'there are no fields' : `the fields are: ${listed}`));
  }
}

/** The kernel filter of PROFILE_EVENT for profile-N: the tick handler's address (kallsyms). */
export function profileFilter(header: string, current: string | null, shared: boolean): string {
  const filter = `function == 0x${tickHandlerAddress().toString(16)}`;
  if (shared && current !== filter) {
    throw new TracefsError(`'${header}': ${PROFILE_EVENT.system}:${PROFILE_EVENT.event} is already traced; profile-N needs it filtered to the tick handler`);
  }
  return filter;
}

/** The kernel's scheduler-tick handler (kallsyms), which profile samples are filtered to. */
function tickHandlerAddress(): bigint {
  let kallsyms = '';
  try {
    kallsyms = readFileSync('/proc/kallsyms', 'latin1');
  } catch {
    // no symbols: the error below
  }
  for (const name of TICK_HANDLERS) {
    const match = new RegExp(`^([0-9a-f]+) [tT] ${name}$`, 'm').exec(kallsyms);
    if (match !== null && BigInt('0x' + match[1]) !== 0n) return BigInt('0x' + match[1]);
  }
  throw new TracefsError('profile-N needs the address of the kernel tick handler (tick_nohz_handler) in /proc/kallsyms');
}

/** The one error of ftrace:function being traced twice. */
export function functionTracerTaken(header: string): TracefsError {
  return new TracefsError(`'${header}': ftrace:function is already traced by another handler`);
}
