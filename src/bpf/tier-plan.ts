// Whether a handler can run in the kernel tier, and how: its analysis, the path each of its
// definitions takes (perf events per tracepoint, one raw system call tracepoint, profile-N's
// sampler, or uprobes of the uprobe PMU), its events' formats and its /filter/; or the first
// reason it stays in user space.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DefinitionOf, EventSpec } from '../syntax/headers';
import { parseEventFormat, type FieldLayout } from '../probes/format';
import { resolveTracepoints, type Tracepoint, type TracepointDefinition } from '../probes/resolve';
import { kernelTierPath, type KernelTierRoute } from '../probes/sources';
import { resolveUprobes, type UprobeTarget } from '../probes/dynamic';
import { uprobePmuType } from './attach';
import { uprobeArgOffset, uprobeFieldIndex } from './codegen-event';
import type { HandlerBody } from '../vm/runtime';
import type { Cell } from '../vm/translate';
import { NotForKernel, analyze, type Analysis, type GlobalBinding } from './analyze';
import { syscallNumber } from './syscalls';
import { samplingHz } from './sampler';
import { FilterNotCompiled, filterProblem, parseFilter, type FilterFields, type FilterNode } from './filter';

/** What planning reads of a handler: its header's events and filter, and its code. */
export interface PlannedHandler {
  readonly spec: EventSpec;
  readonly body?: HandlerBody;
}

/**
 * Most tracepoints a handler attaches as perf events (~1 ms each here); beyond, tracefs
 * enables a whole glob faster (~155 ms for every system call).
 */
const MAX_PERF_EVENTS = 128;
/** The whole direction of a `syscalls` path's glob: the raw tracepoint for every number. */
const WHOLE_SYSCALL_DIRECTIONS = new Map([
  ['sys_enter_*', { raw: 'sys_enter' as const, access: 'rawSysEnter' as const }],
  ['sys_exit_*', { raw: 'sys_exit' as const, access: 'rawSysExit' as const }],
]);

interface PlannedEvent {
  readonly tracepoint: Tracepoint;
  readonly fields: readonly FieldLayout[];
}

/**
 * One raw tracepoint for system calls: those numbered IDS, or `all` of the direction (the
 * whole `sys_enter_*` / `sys_exit_*` glob).
 */
export interface RawPlan {
  readonly name: 'sys_enter' | 'sys_exit';
  readonly access: 'rawSysEnter' | 'rawSysExit';
  readonly ids: readonly number[] | 'all';
}

export interface Plan {
  readonly analysis: Analysis;
  /**
   * One raw tracepoint for every system call (ids: those of the handler's system calls, or
   * undefined for all), or null for one perf event per tracepoint.
   */
  readonly raw: RawPlan | null;
  readonly events: readonly PlannedEvent[];
  /** The /filter/, compiled into each program. */
  readonly filter: FilterNode | null;
  /** profile-N: one program on a perf CPU clock per CPU instead of tracepoints. */
  readonly sampler: SamplerPlan | null;
  /** Uprobes: one perf event of the uprobe PMU per address instead of tracepoints. */
  readonly uprobes: readonly UprobeTarget[] | null;
  /** Lines for -v about how the definitions were resolved (aliases folded). */
  readonly notes?: readonly string[];
}

interface SamplerPlan {
  readonly hz: number;
}

/** Analyses a handler and resolves its events; throws NotForKernel with the first reason. */
export function planFor(
  handler: PlannedHandler,
  tracefsRoot: string | null,
  kindOf: (cell: Cell) => 'table' | 'scalar' | null,
  idOf: (cell: Cell, upvalue: number) => number,
): Plan {
  const body = handler.body;
  if (body === undefined) throw new NotForKernel(0, 'a handler registered by a function call runs in user space');
  const line = body.proto.lineDefined;
  const spec = handler.spec;
  // Each definition goes the way its kind's row says, or keeps the handler in user space.
  const definitions: Array<Extract<KernelTierRoute, { definition: TracepointDefinition }>> = [];
  const uprobes: Array<Extract<KernelTierRoute, { path: 'uprobes' }>['definition']> = [];
  let sampler: SamplerPlan | null = null;
  for (const definition of spec.definitions) {
    const column = kernelTierPath(definition);
    if ('userSpace' in column) throw new NotForKernel(line, column.userSpace);
    if (column.path === 'sampler') sampler = { hz: samplingHz(column.definition.intervalNs) };
    else if (column.path === 'uprobes') uprobes.push(column.definition);
    else definitions.push(column);
  }
  if (uprobes.length > 0 && definitions.length > 0) throw new NotForKernel(line, 'a handler on uprobes and tracepoints runs in user space');
  let filter: FilterNode | null = null;
  try {
    if (spec.filter !== undefined) filter = parseFilter(spec.filter);
  } catch (error) {
    if (error instanceof FilterNotCompiled) throw new NotForKernel(line, error.message);
    throw error;
  }
  /** The first reason the filter cannot be compiled for events with FIELDS. */
  const filterFits = (fields: FilterFields): string | null => (filter === null ? null : filterProblem(filter, fields));
  const globals: GlobalBinding[] = body.proto.upvalues.map((upvalue, index) => {
    const cell = body.cells[index] as Cell;
    const kind = kindOf(cell);
    return kind === null ? null : { kind, id: idOf(cell, index), name: upvalue.name };
  });
  const analysis = analyze(body.proto, globals);
  if (sampler !== null) {
    // profile-N (one definition, no filter): its samples have no arguments. The analysis took
    // them for integers; nil in the VM, they keep the handler in user space.
    const used = [...[...analysis.args].map((index) => `arg${index}`), ...[...analysis.fields].map((name) => `args.${name}`)];
    if (used.length > 0) throw new NotForKernel(line, `${used[0]} of a profile sample is nil: it runs in user space`);
    return { analysis, raw: null, events: [], filter: null, sampler, uprobes: null };
  }
  // A tracepoint's kernel stack seen from BPF does not begin where tracefs's does (in the tracing code).
  if (analysis.kernelStackLine !== null) throw new NotForKernel(analysis.kernelStackLine, 'stack() runs in the kernel for profile-N samples only');
  if (uprobes.length > 0) {
    const notes: string[] = [];
    return { analysis, raw: null, events: [], filter: null, sampler: null, uprobes: planUprobes(uprobes, analysis, filter, tracefsRoot, line, notes), notes };
  }
  const only = definitions.length === 1 ? definitions[0]! : undefined;
  const whole = only?.path === 'syscalls' ? WHOLE_SYSCALL_DIRECTIONS.get(only.definition.event) : undefined;
  const rawArgs = whole?.access === 'rawSysEnter' ? [0] : [0, 1];
  if (whole !== undefined && !analysis.usesProbename && [...analysis.args].every((index) => rawArgs.includes(index)) && rawFields(whole.access, analysis)) {
    const problem = filterFits({ kind: whole.access });
    // The glob's events are hundreds, too many for perf events: the tracefs path then.
    if (problem !== null) throw new NotForKernel(line, problem);
    return { analysis, raw: { name: whole.raw, access: whole.access, ids: 'all' }, events: [], filter, sampler: null, uprobes: null };
  }
  if (tracefsRoot === null) return { analysis, raw: null, events: [], filter, sampler: null, uprobes: null };
  const events = resolveEvents(tracefsRoot, definitions.map((planned) => planned.definition), line);
  const raw = rawSyscalls(events.map((event) => event.tracepoint), analysis);
  if (raw !== null && filterFits({ kind: raw.access }) === null) return { analysis, raw, events: [], filter, sampler: null, uprobes: null };
  if (events.length > MAX_PERF_EVENTS) {
    throw new NotForKernel(line, `${events.length} events attach faster through tracefs than as ${events.length} perf events`);
  }
  for (const event of events) {
    // The analysis took argN and args.NAME for integers: on an event without them (nil in
    // the VM) or with them as strings, the handler stays in user space.
    const fields = [
      ...[...analysis.args].map((index) => ({ what: `arg${index}`, field: event.fields[index] })),
      ...[...analysis.fields].map((name) => ({ what: `args.${name}`, field: event.fields.find((candidate) => candidate.name === name) })),
    ];
    for (const { what, field } of fields) {
      if (field === undefined || field.kind !== 'int' || ![1, 2, 4, 8].includes(field.size)) {
        throw new NotForKernel(line, `${what} of ${event.tracepoint.system}:${event.tracepoint.event} ${field === undefined ? 'is nil' : 'is not an integer'}: it runs in user space`);
      }
    }
    const problem = filterFits({ kind: 'record', fields: event.fields });
    if (problem !== null) throw new NotForKernel(line, `${problem} (${event.tracepoint.system}:${event.tracepoint.event})`);
  }
  return { analysis, raw: null, events, filter, sampler: null, uprobes: null };
}

/**
 * The uprobes of a handler on uprobes only, when the kernel tier reads its events exactly as
 * the user tier does (its default fetch arguments, no filter, no stack()); resolved as the
 * user tier resolves them (not when TRACEFS_ROOT is null: -b, -d).
 */
function planUprobes(
  definitions: readonly DefinitionOf<'uprobe'>[],
  analysis: Analysis,
  filter: FilterNode | null,
  tracefsRoot: string | null,
  line: number,
  notes: string[],
): UprobeTarget[] | null {
  if (uprobePmuType() === undefined) throw new NotForKernel(line, 'this kernel has no uprobe PMU (/sys/bus/event_source/devices/uprobe): uprobes run in user space');
  if (process.arch !== 'x64') throw new NotForKernel(line, `uprobe arguments of ${process.arch} are read in user space`);
  if (filter !== null) throw new NotForKernel(line, "a uprobe's filter runs in user space");
  for (const definition of definitions) {
    if (definition.fetchArgs !== '') throw new NotForKernel(line, `${definition.text}: uprobes with fetch arguments run in user space`);
    const kind = definition.isReturn ? 'uretprobe' : 'uprobe';
    for (const index of analysis.args) {
      if (uprobeArgOffset(index, definition.isReturn) === undefined) throw new NotForKernel(line, `arg${index} of a ${kind} is read in user space`);
    }
    for (const name of analysis.fields) {
      if (uprobeFieldIndex(name, definition.isReturn) === undefined) throw new NotForKernel(line, `args.${name} of a ${kind} is read in user space`);
    }
  }
  if (tracefsRoot === null) return null;
  const targets: UprobeTarget[] = [];
  try {
    for (const definition of definitions) targets.push(...resolveUprobes(definition, (text) => notes.push(text)));
  } catch (error) {
    throw new NotForKernel(line, (error as Error).message);
  }
  if (targets.length > MAX_PERF_EVENTS) throw new NotForKernel(line, `${targets.length} uprobes attach faster through uprobe_events than as ${targets.length} perf events`);
  return targets;
}

/**
 * System call events of one direction whose numbers the headers give, without probename and
 * with arguments the raw tracepoint has (the number; on exit the return value): one raw
 * tracepoint program checking the number. Null when not.
 */
function rawSyscalls(events: readonly Tracepoint[], analysis: Analysis): RawPlan | null {
  if (events.length === 0 || analysis.usesProbename) return null;
  for (const [prefix, name, access, args] of [['sys_enter_', 'sys_enter', 'rawSysEnter', [0]], ['sys_exit_', 'sys_exit', 'rawSysExit', [0, 1]]] as const) {
    if (!events.every((event) => event.system === 'syscalls' && event.event.startsWith(prefix))) continue;
    if (![...analysis.args].every((index) => (args as readonly number[]).includes(index)) || !rawFields(access, analysis)) return null;
    const ids = events.map((event) => syscallNumber(event.event.slice(prefix.length)));
    if (ids.some((id) => id === undefined)) return null;
    return { name, access, ids: ids as number[] };
  }
  return null;
}

/** Whether the args.NAME a handler reads are on the raw system call tracepoint: the number, and on exit the return value. */
function rawFields(access: 'rawSysEnter' | 'rawSysExit', analysis: Analysis): boolean {
  const names = access === 'rawSysEnter' ? ['__syscall_nr'] : ['__syscall_nr', 'ret'];
  return [...analysis.fields].every((name) => names.includes(name));
}

function resolveEvents(root: string, definitions: readonly TracepointDefinition[], line: number): PlannedEvent[] {
  let tracepoints: Tracepoint[];
  try {
    tracepoints = resolveTracepoints(root, definitions);
  } catch (error) {
    throw new NotForKernel(line, (error as Error).message);
  }
  return tracepoints.map((tracepoint) => ({ tracepoint, fields: readEventFormat(root, tracepoint) }));
}

function readEventFormat(root: string, tracepoint: Tracepoint): readonly FieldLayout[] {
  return parseEventFormat(readFileSync(join(root, 'events', tracepoint.system, tracepoint.event, 'format'), 'utf8'), tracepoint.system).fields;
}
