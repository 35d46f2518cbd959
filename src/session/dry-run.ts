// -d (SPEC-product §1): the recording attacher. Handlers go through the probe-source table
// as in a live run — globs resolved, ELF files read, kprobe and function-tracer support and
// filter fields checked — but nothing is written to the kernel; -v lists what would be.

import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { hasKprobes, type ProbeDefiners } from '../probes/dynamic';
import { missingFilterField } from '../probes/filter';
import { resolveTracepoints, type Tracepoint, type TracepointDefinition } from '../probes/resolve';
import {
  attachHandler, checkEventFields, checkSharedFilter, FUNCTION_EVENT, functionTracerTaken, PROFILE_EVENT, profileFilter, type Attacher,
} from '../probes/sources';
import { errnoText, findTracefs, TracefsError } from '../probes/tracefs';
import { readEventLayout } from '../probes/tracer';
import { definitionLine, probeGroup, type ProbeDefiner, type ProbeSpec } from '../probes/uprobe';
import type { Handler } from './handler';

/** The fields of a kernel probe event (the kernel names unnamed fetch arguments argN). */
function probeFields(spec: ProbeSpec): string[] {
  const own = spec.isReturn ? ['__probe_func', '__probe_ret_ip'] : ['__probe_ip'];
  const fetched = spec.fetchArgs.split(/\s+/).filter((text) => text !== '')
    .map((text, index) => (text.includes('=') ? text.slice(0, text.indexOf('=')) : `arg${index + 1}`));
  return [...own, ...fetched];
}

const COMMON_FIELDS = ['common_type', 'common_flags', 'common_preempt_count', 'common_pid'];

export class DryRun implements Attacher<Handler> {
  private readonly root = findTracefs();
  /** Each event's filter and whether a handler has it, as KernelEvents keeps them. */
  private readonly routes = new Map<string, { filter: string | null; shared: boolean }>();
  /** Fields of the probe events recorded instead of created. */
  private readonly probeEvents = new Map<string, string[]>();
  private readonly recorder: ProbeDefiner = {
    define: (spec) => {
      this.described.definitions.push(definitionLine(probeGroup(), spec));
      const event = { system: probeGroup(), event: spec.event };
      this.probeEvents.set(keyOf(event), probeFields(spec));
      return event;
    },
  };
  private readonly probeDefiners: ProbeDefiners;
  /** What the handler being attached would get, for -v. */
  private described = { events: [] as string[], definitions: [] as string[], notes: [] as string[], sampled: false };

  constructor(
    private readonly verbose: boolean,
    /** Timers run in a dry run too (they need nothing of the kernel). */
    readonly tick: (handler: Handler, intervalNs: number) => number,
  ) {
    this.probeDefiners = {
      uprobes: this.recorder,
      kprobes: hasKprobes(this.root) ? this.recorder : null,
      note: (text) => this.described.notes.push(text),
    };
  }

  /** Resolves and checks one handler as a live run would; -v says what it would attach. */
  attach(handler: Handler): void {
    this.described = { events: [], definitions: [], notes: [], sampled: false };
    attachHandler(handler, handler.spec, this);
    if (!this.verbose) return;
    const { events, definitions, notes, sampled } = this.described;
    for (const note of notes) process.stderr.write(`ktap: ${note}\n`);
    const filter = handler.spec.filter;
    if (sampled) process.stderr.write(`ktap: would attach ${handler.header} (${keyOf(PROFILE_EVENT)})\n`);
    else if (events.length > 0) {
      process.stderr.write(`ktap: would attach ${handler.header}: ${events.join(' ')}${filter === undefined ? '' : ` with filter '${filter}'`}\n`);
    }
    for (const line of definitions) process.stderr.write(`ktap: would define ${line}\n`);
  }

  tracepoints(definitions: readonly TracepointDefinition[]): Tracepoint[] {
    return resolveTracepoints(this.root, definitions);
  }

  definers(): ProbeDefiners {
    return this.probeDefiners;
  }

  route(handler: Handler, events: readonly Tracepoint[], filter: string | null): number {
    for (const event of events) {
      const route = this.routes.get(keyOf(event));
      checkSharedFilter(handler.header, event, route?.filter ?? null, route?.shared ?? false, filter);
    }
    checkEventFields(handler, events.map((event) => ({ name: keyOf(event), fields: this.fieldsOf(event).filter((field) => !field.startsWith('common_')) })));
    for (const event of events) {
      const missing = filter === null ? undefined : missingFilterField(filter, this.fieldsOf(event));
      if (missing !== undefined) throw new TracefsError(`kernel rejected filter '${filter}' for ${keyOf(event)}: Field not found`);
    }
    for (const event of events) {
      this.routes.set(keyOf(event), { filter, shared: true });
      this.described.events.push(keyOf(event));
    }
    return events.length;
  }

  functionTracer(handler: Handler, _patterns: readonly string[]): number {
    if (this.routes.has(keyOf(FUNCTION_EVENT))) throw functionTracerTaken(handler.header);
    // A kernel that refuses the function tracer (lockdown, a sandbox) refuses reading its
    // list of functions too: the one sign of it that writes nothing.
    try {
      closeSync(openSync(join(this.root, 'available_filter_functions'), 'r'));
    } catch (error) {
      throw new TracefsError(`the kernel refused the function tracer for ftrace:function: ${errnoText(error)}`);
    }
    this.routes.set(keyOf(FUNCTION_EVENT), { filter: null, shared: true });
    this.described.events.push(keyOf(FUNCTION_EVENT));
    return 1;
  }

  sample(handler: Handler, _intervalNs: number): number {
    const route = this.routes.get(keyOf(PROFILE_EVENT));
    const filter = profileFilter(handler.header, route?.filter ?? null, route?.shared ?? false);
    this.routes.set(keyOf(PROFILE_EVENT), { filter, shared: true });
    this.described.sampled = true;
    return 1;
  }

  /** An event's fields: its format file, or what a recorded probe would have. */
  private fieldsOf(event: Tracepoint): string[] {
    const recorded = this.probeEvents.get(keyOf(event));
    if (recorded !== undefined) return [...COMMON_FIELDS, ...recorded];
    const layout = readEventLayout(this.root, event);
    return [...layout.commonFields, ...layout.fields].map((field) => field.name);
  }
}

function keyOf(event: Tracepoint): string {
  return `${event.system}:${event.event}`;
}
