// Kernel events of a session: the live attacher of the probe-source table (events routed
// to handlers with their kernel filters, the function tracer, profile sampling), enabled in
// the tracer; dispatches each record to its handlers — the hot path (decode → dispatch →
// VM) runs through `deliver`. Beside it: the routes and the task bookkeeping
// (kernel-routes.ts), the probes planned and refused (probe-plan.ts), the end's plan
// (teardown-plan.ts).

import { btfEnumValues, compileArgstr, kernelAddressText } from '../probes/argstr';
import { UserSymbolizer } from '../probes/usersyms';
import { followingRecords } from '../probes/ringbuf';
import { recordEventId } from '../probes/fields';
import type { FieldLayout } from '../probes/format';
import type { PageCursor } from '../probes/ringbuf';
import type { KernelSymbol } from '../probes/kallsyms';
import { TaskTable } from '../probes/tasks';
import { KernelTracer, type TracerOptions } from '../probes/tracer';
import { TracefsError, findTracefs } from '../probes/tracefs';
import { hasKprobes, type ProbeDefiners } from '../probes/dynamic';
import { startGuardian } from '../probes/guardian';
import { checkEventFields, checkSharedFilter, FUNCTION_EVENT, functionTracerTaken, PROFILE_EVENT, profileFilter, type Attacher } from '../probes/sources';
import { ProbeSet } from '../probes/uprobe';
import { readFileSync, readdirSync } from 'node:fs';
import type { Tracepoint, TracepointDefinition } from '../probes/resolve';
import { samplingHz } from '../bpf/sampler';
import { CapturedEvents, captureFilter, isUserPointer, isUserPointerArray, openCapture, type CapturedRoute } from './captured-events';
import type { Handler } from './handler';
import { ProbePlan, type RefusedProbes } from './probe-plan';
import { eventType, trackTasks, type Route } from './kernel-routes';
import { TeardownPlan } from './teardown-plan';
import { TraceEvent, type EventType, type StackSymbolizer } from './trace-event';

/** How the session runs a handler; returns false when the session must stop delivering. */
export type RunHandler = (handler: Handler, event: TraceEvent) => boolean;

/**
 * After a signal, recorded events are delivered until this long after the session began to
 * end (SPEC §3.10 drain).
 * With the signal's wait for the event loop, counting what is left, trace_end, removal and
 * the process's own exit, this is most of the 1 s in which ktap must have exited; on a
 * busy machine (load 12 on 2 CPUs) a storm's end measured 0.8–1.2 s with 400 ms here.
 */
export const DRAIN_DEADLINE_MS = 250;

/**
 * One delivery in this many (a power of two) is timed, and counts for all of them: the
 * dashboard's share of handler time per CPU at a fraction of the cost of timing each.
 */
export const HANDLER_TIME_SAMPLE = 64;

/** Offset of the first return address in kernel_stack and user_stack records. */
const STACK_ENTRIES_OFFSET = 16;
/** How often the capture ring buffer is read while events flow. */
const CAPTURE_POLL_MS = 10;

export class KernelEvents implements Omit<Attacher<Handler>, 'tick'> {
  readonly tracer: KernelTracer;
  /** Created before the tracer: their cleanups must run after the instance's (newest first). */
  private readonly probes: { readonly uprobes: ProbeSet; readonly kprobes: ProbeSet | null };
  readonly tasks: TaskTable;
  private readonly routes: Array<Route | undefined> = [];
  private readonly event: TraceEvent;
  /** Cleared when the session ends (except while draining). */
  delivering = true;
  private started = false;
  private readonly userSymbols = new UserSymbolizer();
  /** Record kernel / user stacks with the events (the script calls stack() / ustack()). */
  private kernelStacks = false;
  private userStacks = false;
  private kernelStackId = -1;
  private userStackId = -1;
  private enumValues: Map<string, bigint> | null = null;
  /** Per CPU: records delivered to a route (the dashboard's per-CPU table). */
  readonly eventsPerCpu: number[] = [];
  /** Per CPU: estimated ms spent running handlers (sampled, see HANDLER_TIME_SAMPLE). */
  readonly handlerMsPerCpu: number[] = [];
  /** The uprobes and kprobes asked for, and those the kernel refused (skipped). */
  private readonly probePlan = new ProbePlan();
  /** Per CPU: records the drain had no time left to deliver (see stop()). */
  undelivered = new Map<number, number>();
  /** Pid of the guardian that removes what this run created if ktap dies (guardian.ts). */
  private readonly guardian: number | undefined;
  /** Handlers routed to events since the last commit. */
  private pendingRoutes: Array<{ handler: Handler; tracepoint: Tracepoint; filter: string | null }> = [];
  /** BPF capture for the user tier: not asked yet (null), open, or why it is unavailable. */
  private capture: CapturedEvents | string | null = null;
  /** Routes of captured events, by their capture source number. */
  private readonly capturedRoutes: Array<Route | undefined> = [];
  private capturePoll: NodeJS.Timeout | null = null;
  /** Events whose handlers want a capture that their filter kept in the instance, and why (-v, once). */
  private readonly uncaptured: string[] = [];
  /** ktap's own tasks, which capture programs skip as the instance does (unless --trace-self). */
  private readonly ownTasks: readonly number[] | undefined;
  /** Whether ktap or the guardian removes the probes at the end, planned ahead. */
  private readonly teardown: TeardownPlan;

  constructor(
    private readonly options: TracerOptions & { readonly traceSelf?: boolean },
    private readonly runHandler: RunHandler,
    private readonly kernelSymbol: (address: bigint) => KernelSymbol | undefined,
  ) {
    const root = findTracefs();
    // Before the first write to tracefs: from here on, a killed ktap leaves nothing behind.
    this.guardian = startGuardian(root);
    this.probes = { uprobes: new ProbeSet(root, 'uprobe_events'), kprobes: hasKprobes(root) ? new ProbeSet(root, 'kprobe_events') : null };
    // With -p or -- cmd the kernel records only those processes: nothing to exclude.
    const excludePids = options.pids !== undefined || options.traceSelf === true ? undefined : ownTasks(this.guardian);
    this.tracer = KernelTracer.open(excludePids === undefined ? options : { ...options, excludePids });
    this.ownTasks = excludePids;
    this.teardown = new TeardownPlan(this.guardian, this.tracer, this.probes.kprobes === null ? [this.probes.uprobes] : [this.probes.uprobes, this.probes.kprobes]);
    this.tasks = new TaskTable(() => {
      try {
        return this.tracer.instance.read('../../saved_cmdlines');
      } catch {
        return '';
      }
    });
    const wallOffset = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
    const userSymbols = this.userSymbols;
    const symbolizer: StackSymbolizer = {
      kernelFrame: (address) => kernelAddressText(address, this.kernelSymbol(address), true),
      userFrame: (tgid, address) => userSymbols.frame(tgid, address),
    };
    this.event = new TraceEvent(this.tasks, symbolizer, (type) => compileArgstr(type.layout, { kernelSymbol: this.kernelSymbol, enumValue: (name) => this.enumValue(name) }), wallOffset);
  }

  /** Enum constants print formats name, from the kernel's BTF, loaded when argstr first needs one. */
  private enumValue(name: string): bigint | undefined {
    if (this.enumValues === null) {
      try {
        this.enumValues = btfEnumValues(readFileSync('/sys/kernel/btf/vmlinux'));
      } catch {
        this.enumValues = new Map();
      }
    }
    return this.enumValues.get(name);
  }

  tracepoints(definitions: readonly TracepointDefinition[]): Tracepoint[] {
    return this.tracer.resolve(definitions);
  }

  /**
   * Where the probes of one definition are defined: they are only planned here (named, so
   * that they can be routed) and created by commit(), one kernel write per step (ProbePlan).
   */
  definers(): ProbeDefiners {
    return this.probePlan.definers(this.probes);
  }

  /** Routes the handler's events, FILTER as their kernel filter; commit() writes it and enables them. */
  route(handler: Handler, events: readonly Tracepoint[], filter: string | null): number {
    for (const tracepoint of events) {
      const batch = this.probePlan.batchOf(tracepoint);
      if (batch !== undefined && batch.header === '') batch.header = handler.header;
      this.pendingRoutes.push({ handler, tracepoint, filter });
    }
    return events.length;
  }

  /** Routes one event to a handler: its format read, its kernel filter written. */
  private routeOne(handler: Handler, tracepoint: Tracepoint, filter: string | null): void {
    const route = this.routeOf(tracepoint);
    checkSharedFilter(handler.header, route.tracepoint, route.filter, route.handlers.length > 0, filter);
    this.captureIfNeeded(route, handler, filter);
    // A captured event's filter is its capture program's (kept for checkSharedFilter).
    if (route.captured !== undefined) route.filter = filter;
    else if (route.filter !== filter) {
      this.tracer.setFilter(route.tracepoint, filter ?? '0');
      route.filter = filter;
    }
    route.origin = this.probePlan.batchOf(tracepoint);
    route.handlers.push(handler);
  }

  /**
   * A route whose first handler passes pointer arguments to user_string, or `char **`
   * arguments to join, is captured by BPF (the strings copied while the process still
   * exists) when BPF is available; otherwise user_string and join read the process's memory
   * when the handler runs, as before. The handler's kernel filter is compiled into the
   * capture program; one it cannot compile keeps the event in the instance (-v says why).
   */
  private captureIfNeeded(route: Route, handler: Handler, filter: string | null): void {
    if (route.handlers.length > 0 || route.enabled) return;
    const { argFields, fields } = route.type;
    const argumentsOf = (numbered: readonly number[], named: readonly string[], fits: (field: FieldLayout | undefined) => boolean): number[] =>
      [...new Set([...numbered, ...named.map((name) => argFields.indexOf(fields.get(name)!))])].filter((index) => fits(argFields[index]));
    const strings = argumentsOf(handler.userStrings, handler.userStringFields, isUserPointer);
    const arrays = argumentsOf(handler.argvs, handler.argvFields, isUserPointerArray);
    if (strings.length === 0 && arrays.length === 0) return;
    const compiled = filter === null ? null : captureFilter(route.type, filter);
    if (typeof compiled === 'string') {
      this.uncaptured.push(`${route.tracepoint.system}:${route.tracepoint.event} not captured at the event (${compiled})`);
      return;
    }
    const capture = this.openCapture();
    if (capture === null) return;
    route.captured = capture.addTracepoint(route.type, strings, arrays, compiled);
    this.capturedRoutes[route.captured.source] = route;
  }

  /** The capture source, opened on first need; null (the reason kept for -v) without BPF. */
  private openCapture(): CapturedEvents | null {
    if (this.capture === null) {
      const { pids, cpus } = this.options;
      this.capture = openCapture({ tracefsRoot: findTracefs(), pids, cpus, excludeTgids: this.ownTasks });
    }
    return typeof this.capture === 'string' ? null : this.capture;
  }

  /** What -v says of the probe definitions resolved since the last call. */
  takeDefinitionNotes(): string[] {
    return this.probePlan.takeNotes();
  }

  /** What -v says of capture: what BPF copies at the event, what it does not and why. */
  captureNotes(): string[] {
    const readLater = 'user_string and join read process memory when the handler runs';
    if (typeof this.capture === 'string') return [`BPF capture unavailable (${this.capture}): ${readLater}; profile-N samples the scheduler tick`];
    const names = this.capturedRoutes.filter((route) => route !== undefined).map((route) => route.captured!.sampler ? `${route.type.probename} (sampled by perf)` : `${route.tracepoint.system}:${route.tracepoint.event}`);
    return [
      ...(names.length === 0 ? [] : [`captured at the event by BPF: ${names.join(', ')}`]),
      ...this.uncaptured.splice(0).map((note) => `${note}: ${readLater}`),
    ];
  }

  private stopCapturing(route: Route): void {
    const captured = route.captured!;
    (this.capture as CapturedEvents).remove(captured);
    this.capturedRoutes[captured.source] = undefined;
    route.captured = undefined;
    route.filter = null;
  }

  /** Probes of globs the kernel refused (skipped). */
  get refused(): readonly RefusedProbes[] {
    return this.probePlan.refused;
  }

  /** How many of the handler's events the kernel refused (globs only). */
  refusedCount(handler: Handler): number {
    return this.probePlan.refusedCount(handler);
  }

  /**
   * ftrace:function (SPEC §4.3): the function tracer of our instance, its functions chosen
   * through set_ftrace_filter.
   */
  functionTracer(handler: Handler, patterns: readonly string[]): number {
    const route = this.routeOf(FUNCTION_EVENT);
    if (route.handlers.length > 0) throw functionTracerTaken(handler.header);
    const instance = this.tracer.instance;
    if (patterns.length > 0) instance.write('set_ftrace_filter', patterns.join(' '), `cannot select functions '${patterns.join(' ')}' for ftrace:function`);
    instance.write('current_tracer', 'function', 'the kernel refused the function tracer for ftrace:function');
    route.enabled = true;
    route.handlers.push(handler);
    return 1;
  }

  /** Detaches a handler; events no handler needs any more are disabled in the kernel. */
  remove(handler: Handler): void {
    this.probePlan.dropPending();
    this.pendingRoutes = [];
    for (const route of [...this.routes, ...this.capturedRoutes]) {
      if (route === undefined) continue;
      const index = route.handlers.indexOf(handler);
      if (index >= 0) route.handlers.splice(index, 1);
      const profile = route.profiles.findIndex((state) => state.handler === handler);
      if (profile >= 0) route.profiles.splice(profile, 1);
      if (route.captured !== undefined && route.handlers.length === 0) this.stopCapturing(route);
      if (route.enabled && route.handlers.length === 0 && route.profiles.length === 0 && route.internal === undefined) {
        this.tracer.disable(route.tracepoint);
        route.enabled = false;
        // disable() cleared the kernel filter: a later handler with the same filter must write it again.
        route.filter = null;
      }
    }
    this.teardown.plan();
  }

  /**
   * profile-N: with BPF, a perf CPU clock sampling at the real rate, the stacks those of the
   * sampled code; otherwise samples of the scheduler-tick event filtered to the tick handler
   * (at most HZ per second).
   */
  sample(handler: Handler, intervalNs: number): number {
    const capture = this.openCapture();
    if (capture !== null) {
      const type: EventType = { layout: this.tracer.layout(PROFILE_EVENT), probename: handler.header, argFields: [], fields: new Map(), render: () => '' };
      const captured = capture.addSampler(samplingHz(intervalNs), type);
      // Never enabled in the instance; found through capturedRoutes only.
      const route: Route = { tracepoint: PROFILE_EVENT, type, handlers: [handler], profiles: [], filter: null, enabled: false, count: 0, captured };
      this.capturedRoutes[captured.source] = route;
      return 1;
    }
    const route = this.routeOf(PROFILE_EVENT);
    const filter = profileFilter(handler.header, route.filter, route.handlers.length > 0);
    if (route.filter !== filter) {
      this.tracer.setFilter(PROFILE_EVENT, filter);
      route.filter = filter;
    }
    route.profiles.push({
      handler,
      intervalNs,
      lastRun: [],
      type: { layout: route.type.layout, probename: handler.header, argFields: [], fields: new Map(), render: () => '' },
    });
    return 1;
  }

  private routeOf(tracepoint: Tracepoint): Route {
    const layout = this.tracer.layout(tracepoint);
    let route = this.routes[layout.id];
    if (route === undefined) {
      route = { tracepoint, type: eventType(layout), handlers: [], profiles: [], filter: null, enabled: false, count: 0 };
      this.routes[layout.id] = route;
    }
    return route;
  }

  /**
   * Asks the kernel to record stacks with the events from now on (SPEC §5.4: only when the
   * script uses stack() or ustack()): the stacktrace trigger per event, the userstacktrace
   * option for the instance.
   */
  useStacks(kernel: boolean, user: boolean): void {
    if (kernel && !this.kernelStacks) {
      this.kernelStacks = true;
      this.kernelStackId = this.tracer.layout({ system: 'ftrace', event: 'kernel_stack' }).id;
      for (const route of this.routes) {
        if (route?.enabled && route.internal === undefined) this.addStackTrigger(route.tracepoint);
      }
    }
    if (user && !this.userStacks) {
      this.userStacks = true;
      this.userStackId = this.tracer.layout({ system: 'ftrace', event: 'user_stack' }).id;
      this.tracer.instance.setOption('userstacktrace', true);
    }
  }

  private addStackTrigger(tracepoint: Tracepoint): void {
    this.tracer.instance.write(`events/${tracepoint.system}/${tracepoint.event}/trigger`, 'stacktrace');
  }

  /**
   * Creates the probes planned and routes the events since the last commit, then enables
   * them; the first commit also enables the task bookkeeping events and starts reading. A
   * generator, one kernel write per step, so that the session can pause between steps
   * (signals are handled meanwhile) or stop. A probe of a glob the kernel refuses is
   * skipped and counted (refused); any other refusal throws, naming the user's probe.
   */
  *commit(): Generator<void, void> {
    this.tracer.held = true;
    this.teardown.forget();
    try {
      yield* this.commitSteps();
      this.teardown.plan();
    } finally {
      this.tracer.held = false;
    }
  }

  private *commitSteps(): Generator<void, void> {
    const routes = this.pendingRoutes;
    this.pendingRoutes = [];
    yield* this.probePlan.create(routes);
    const routed = routes.filter(({ tracepoint }) => !this.probePlan.wasRefused(tracepoint));
    for (const { handler, tracepoint, filter } of routed) {
      // Each route reads its event's format file: thousands after a glob.
      this.routeOne(handler, tracepoint, filter);
      yield;
    }
    // args.NAME, once every event of each handler has its format read.
    for (const handler of new Set(routed.map((entry) => entry.handler))) {
      if (handler.fields.length === 0) continue;
      const events = routed.filter((entry) => entry.handler === handler).map(({ tracepoint }) =>
        ({ name: `${tracepoint.system}:${tracepoint.event}`, fields: [...this.routeOf(tracepoint).type.fields.keys()] }));
      checkEventFields(handler, events);
    }
    if (!this.started) trackTasks(this.routeOf({ system: 'task', event: 'task_newtask' }), this.routeOf({ system: 'task', event: 'task_rename' }), this.tasks, this.userSymbols);
    const pending: Tracepoint[] = [];
    const byEvent = new Map<string, Route>();
    for (const route of this.routes) {
      if (route === undefined || route.enabled || route.captured !== undefined) continue;
      if (route.handlers.length === 0 && route.profiles.length === 0 && route.internal === undefined) continue;
      pending.push(route.tracepoint);
      byEvent.set(`${route.tracepoint.system}:${route.tracepoint.event}`, route);
      route.enabled = true;
      if (this.kernelStacks && route.internal === undefined) {
        this.addStackTrigger(route.tracepoint);
        yield;
      }
    }
    // Recording starts (and the clock is calibrated) before the first events are enabled.
    if (!this.started) {
      this.started = true;
      this.tracer.start(this.deliver);
      this.event.wallOffsetNs += this.tracer.clockToMonotonicNs;
    }
    if (this.capture instanceof CapturedEvents && this.capturePoll === null) {
      this.capturePoll = setInterval(() => this.drainCaptured(), CAPTURE_POLL_MS);
      this.capturePoll.unref();
    }
    yield* this.tracer.enable(pending, (tracepoint, error) => {
      const route = byEvent.get(`${tracepoint.system}:${tracepoint.event}`)!;
      route.enabled = false;
      const reason = error.reason ?? error.message;
      const origin = route.origin;
      if (origin === undefined || origin.size === 1) {
        const probe = origin === undefined ? `${tracepoint.system}:${tracepoint.event}` : origin.header;
        throw new TracefsError(`cannot enable ${probe}: ${reason}`, reason);
      }
      this.probePlan.refuse(origin, tracepoint.event, reason, route.handlers);
      route.handlers.length = 0;
    });
  }

  /** Reads what is buffered now (before a timer handler runs, SPEC §3.10). */
  pump(): void {
    this.tracer.pump(this.deliver);
    this.drainCaptured();
  }

  /** Delivers what BPF captured so far. */
  private drainCaptured(): void {
    if (!(this.capture instanceof CapturedEvents) || !this.delivering || this.tracer.held) return;
    const base = this.tracer.clockToMonotonicNs + this.tracer.timeBase;
    this.event.origin = this.tracer.timeBase;
    this.capture.drain(this.event, this.tasks, (monotonicNs) => Number(monotonicNs - base), this.deliverCaptured);
  }

  private readonly deliverCaptured = (captured: CapturedRoute, event: TraceEvent, cpu: number): void => {
    const route = this.capturedRoutes[captured.source];
    if (route === undefined || !this.delivering) return;
    route.count++;
    this.dispatch(route, event, cpu);
  };

  /**
   * Stops recording; with `drain`, what is already recorded is still delivered, for at most
   * DRAIN_DEADLINE_MS from now. Records left then are counted per CPU (undelivered). A
   * teardown the kernel makes slow starts first, in the guardian, while the drain runs.
   */
  stop(drain: boolean): void {
    const ending = performance.now();
    this.handOffSlowTeardown();
    this.tracer.stop();
    if (this.capturePoll !== null) clearInterval(this.capturePoll);
    if (this.capture instanceof CapturedEvents) this.capture.detach();
    if (drain) {
      this.delivering = true;
      this.undelivered = this.tracer.drain(this.deliver, ending + DRAIN_DEADLINE_MS);
      this.drainCaptured();
    }
    this.delivering = false;
  }

  /**
   * Removes the instance, then the probes it enabled (the kernel refuses the other order),
   * unless that was handed to the guardian (handOffSlowTeardown). Returns the number of
   * enabled probes the guardian still removes after ktap has exited (0: none).
   */
  close(): number {
    if (this.capture instanceof CapturedEvents) this.capture.close();
    this.handOffSlowTeardown();
    const handedOff = this.teardown.handedOff;
    this.tracer.close(handedOff !== null);
    if (handedOff !== null) return handedOff;
    this.probes.uprobes.removeAll();
    this.probes.kprobes?.removeAll();
    return 0;
  }

  /**
   * Hands a slow teardown to the guardian (TeardownPlan), first thing at the end: the
   * session's end() calls it before anything else; stop() and close() too.
   */
  handOffSlowTeardown(): void {
    this.teardown.handOff();
  }

  /** The hot path: one record → its handlers. */
  private readonly deliver = (record: PageCursor, cpu: number, time: number): void => {
    if (!this.delivering) return;
    const offset = record.offset;
    const route = this.routes[recordEventId(record, offset)];
    if (route === undefined) return;
    route.count++;
    const event = this.event;
    event.origin = this.tracer.timeBase;
    event.set(route.type, record, offset, record.length, cpu, time);
    if (this.kernelStacks || this.userStacks) this.findStacks(record, event);
    if (route.internal !== undefined) route.internal(record, offset, record.length, event.tid);
    this.dispatch(route, event, cpu);
  };

  private dispatch(route: Route, event: TraceEvent, cpu: number): void {
    if (cpu >= this.eventsPerCpu.length) this.growCpuCounters(cpu);
    // Small-integer array elements and the timing in a function of its own keep this path
    // within about 1.5 ns of what it cost without the counters (bench/events, pages variant).
    if ((++this.eventsPerCpu[cpu]! & (HANDLER_TIME_SAMPLE - 1)) === 0) this.runHandlersTimed(route, event, cpu);
    else this.runHandlers(route, event, cpu);
  }

  private runHandlers(route: Route, event: TraceEvent, cpu: number): void {
    const handlers = route.handlers;
    for (let index = 0; index < handlers.length; index++) {
      if (!this.runHandler(handlers[index]!, event)) {
        this.delivering = false;
        return;
      }
    }
    if (route.profiles.length > 0) this.sampleProfiles(route, event, cpu);
  }

  /** One delivery in HANDLER_TIME_SAMPLE on each CPU: timed, and counted for all of them. */
  private runHandlersTimed(route: Route, event: TraceEvent, cpu: number): void {
    const started = performance.now();
    this.runHandlers(route, event, cpu);
    this.handlerMsPerCpu[cpu]! += (performance.now() - started) * HANDLER_TIME_SAMPLE;
  }

  /** Off the hot path: the counters grow to the highest CPU seen. */
  private growCpuCounters(cpu: number): void {
    while (this.eventsPerCpu.length <= cpu) this.eventsPerCpu.push(0);
    while (this.handlerMsPerCpu.length <= cpu) this.handlerMsPerCpu.push(0);
  }

  /** The stack records the kernel wrote right after the event on the same page. */
  private findStacks(record: PageCursor, event: TraceEvent): void {
    followingRecords(record, 3, (offset, length) => {
      const id = recordEventId(record, offset);
      // Both records hold their return addresses from byte 16 on.
      const frames = Math.floor((length - STACK_ENTRIES_OFFSET) / 8);
      if (id === this.kernelStackId && event.kernelFramesAt < 0) {
        // kernel_stack: `int size` (entries) at 8.
        event.kernelFramesAt = offset + STACK_ENTRIES_OFFSET;
        event.kernelFrameCount = Math.min(frames, record.view.getInt32(offset + 8, true));
      } else if (id === this.userStackId && event.userFramesAt < 0) {
        // user_stack: `unsigned int tgid` at 8; up to 8 addresses ending at the first 0.
        event.userFramesAt = offset + STACK_ENTRIES_OFFSET;
        event.userFrameCount = frames;
        event.userStackTgid = record.view.getUint32(offset + 8, true);
      }
    });
  }

  private sampleProfiles(route: Route, event: TraceEvent, cpu: number): void {
    for (const profile of route.profiles) {
      // Runs advance in whole intervals from the first tick seen on the CPU, so the average
      // rate is the requested one, up to the tick rate (SPEC §8).
      const last = profile.lastRun[cpu];
      const now = event.time;
      if (last === undefined) {
        profile.lastRun[cpu] = now;
        continue;
      }
      if (now - last < profile.intervalNs) continue;
      profile.lastRun[cpu] = last + profile.intervalNs * Math.floor((now - last) / profile.intervalNs);
      event.type = profile.type;
      event.kind = 'timer';
      if (!this.runHandler(profile.handler, event)) {
        this.delivering = false;
        return;
      }
    }
  }

  /** Records delivered so far per kernel event the handlers asked for (`system:event`). */
  deliveredPerEvent(): Array<{ readonly event: string; readonly count: number }> {
    const counts: Array<{ event: string; count: number }> = [];
    for (const route of this.routes) {
      if (route === undefined || route.internal !== undefined || !route.enabled) continue;
      counts.push({ event: `${route.tracepoint.system}:${route.tracepoint.event}`, count: route.count });
    }
    return counts;
  }

  /** Events the kernel lost, per CPU. */
  lostPerCpu(): Map<number, number> {
    const lost = this.tracer.lostPerCpu();
    if (this.capture instanceof CapturedEvents) {
      this.capture.lostPerCpu().forEach((count, cpu) => {
        if (count > 0) lost.set(cpu, (lost.get(cpu) ?? 0) + count);
      });
    }
    return lost;
  }
}

/**
 * Every thread of ktap (V8's and libuv's have task ids of their own, and the kernel
 * filters tasks) and the guardian: their events are not recorded, so ktap does not count
 * itself.
 */
function ownTasks(guardian: number | undefined): number[] {
  let threads: number[];
  try {
    threads = readdirSync('/proc/self/task').map(Number);
  } catch {
    threads = [process.pid];
  }
  return guardian === undefined ? threads : [...threads, guardian];
}
