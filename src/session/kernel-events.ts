// Kernel events of a session: turns registered trace and profile handlers into events
// enabled in the tracer, and dispatches each record to its handlers — the hot path
// (decode → dispatch → VM) runs through `deliver`.

import { compileArgstr } from '../probes/argstr-stub';
import { parseEventSpec } from '../probes/eventdef';
import { readField, recordEventId, type PageBytes } from '../probes/fields';
import type { EventLayout } from '../probes/format';
import type { PageCursor } from '../probes/ringbuf';
import { TaskTable } from '../probes/tasks';
import { KernelTracer, type TracerOptions } from '../probes/tracer';
import { TracefsError } from '../probes/tracefs';
import { readFileSync } from 'node:fs';
import type { Tracepoint } from '../probes/resolve';
import { parseInterval } from '../vm/lib/timer';
import type { KFunction } from '../vm/value';
import { TraceEvent, type EventType } from './trace-event';

/** A trace or profile handler as the session registered it. */
export interface KernelHandler {
  readonly id: number;
  readonly kind: 'trace' | 'profile';
  readonly header: string;
  readonly fn: KFunction;
}

/** How the session runs a handler; returns false when the session must stop delivering. */
export type RunHandler = (handler: KernelHandler, event: TraceEvent) => boolean;

interface ProfileState {
  readonly handler: KernelHandler;
  readonly intervalNs: number;
  /** Per CPU: the time (ns after the reader's base) the handler last ran there. */
  readonly lastRun: number[];
  readonly type: EventType;
}

interface Route {
  readonly type: EventType;
  readonly handlers: KernelHandler[];
  readonly profiles: ProfileState[];
  /** Bookkeeping of the session itself (task creation and renames). */
  internal?: (bytes: PageBytes, offset: number, length: number, tid: number) => void;
  /** Events delivered, per route, for the `-v` summary and later the dashboard. */
  count: number;
}

/** The scheduler-tick event profile-N samples on (SPEC §8), filtered to the tick handler. */
const PROFILE_EVENT: Tracepoint = { system: 'timer', event: 'hrtimer_expire_entry' };
const TICK_HANDLERS = ['tick_nohz_handler', 'tick_sched_timer'];

export class KernelEvents {
  readonly tracer: KernelTracer;
  readonly tasks: TaskTable;
  private readonly routes: Array<Route | undefined> = [];
  private readonly event: TraceEvent;
  /** Cleared when the session ends (except while draining). */
  delivering = true;
  /** What was attached, for -v and the REPL: header → number of kernel events. */
  readonly attached: Array<{ header: string; events: number }> = [];

  constructor(
    options: TracerOptions,
    private readonly runHandler: RunHandler,
    private readonly kernelSymbol: (address: bigint) => string | undefined,
  ) {
    this.tracer = KernelTracer.open(options);
    this.tasks = new TaskTable(() => {
      try {
        return this.tracer.instance.read('../../saved_cmdlines');
      } catch {
        return '';
      }
    });
    const wallOffset = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
    this.event = new TraceEvent(this.tasks, (type) => compileArgstr(type.layout, { kernelSymbol: this.kernelSymbol }), wallOffset);
  }

  /** Resolves and prepares one handler's events (filters written, not yet enabled). */
  add(handler: KernelHandler): void {
    if (handler.kind === 'profile') {
      this.addProfile(handler);
      return;
    }
    const spec = parseEventSpec(handler.header);
    if (spec === undefined) throw new TracefsError(`cannot parse eventdef '${handler.header}'`);
    const unsupported = spec.definitions.find((definition) => definition.kind !== 'tracepoint');
    if (unsupported !== undefined) {
      throw new TracefsError(`'${unsupported.text}': ${unsupported.kind} probes are not supported by this build yet; use tracepoints (ktap -le)`);
    }
    const tracepoints = this.tracer.resolve(spec.definitions as Array<Extract<typeof spec.definitions[number], { kind: 'tracepoint' }>>);
    for (const tracepoint of tracepoints) {
      const route = this.route(tracepoint);
      if (spec.filter !== undefined) this.tracer.setFilter(tracepoint, spec.filter);
      route.handlers.push(handler);
    }
    this.attached.push({ header: handler.header, events: tracepoints.length });
  }

  private addProfile(handler: KernelHandler): void {
    const intervalNs = parseInterval(handler.header.slice('profile-'.length));
    if (intervalNs === undefined) throw new TracefsError(`cannot parse timer interval: ${handler.header}`);
    const address = this.tickHandlerAddress();
    const route = this.route(PROFILE_EVENT);
    if (route.profiles.length === 0) this.tracer.setFilter(PROFILE_EVENT, `function == 0x${address.toString(16)}`);
    route.profiles.push({
      handler,
      intervalNs,
      lastRun: [],
      type: { layout: route.type.layout, probename: handler.header, argFields: [], render: () => '' },
    });
    this.attached.push({ header: handler.header, events: 1 });
  }

  /** The kernel's scheduler-tick handler (kallsyms), which profile samples are filtered to. */
  private tickHandlerAddress(): bigint {
    const kallsyms = readKallsyms();
    for (const name of TICK_HANDLERS) {
      const match = new RegExp(`^([0-9a-f]+) [tT] ${name}$`, 'm').exec(kallsyms);
      if (match !== null && BigInt('0x' + match[1]) !== 0n) return BigInt('0x' + match[1]);
    }
    throw new TracefsError('profile-N needs the address of the kernel tick handler (tick_nohz_handler) in /proc/kallsyms');
  }

  private route(tracepoint: Tracepoint): Route {
    const layout = this.tracer.layout(tracepoint);
    let route = this.routes[layout.id];
    if (route === undefined) {
      route = { type: eventType(layout), handlers: [], profiles: [], count: 0 };
      this.routes[layout.id] = route;
    }
    return route;
  }

  /** Enables every prepared event plus the task bookkeeping events, then starts reading. */
  start(): void {
    this.addTaskTracking();
    const tracepoints: Tracepoint[] = [];
    for (const route of this.routes) {
      if (route !== undefined) tracepoints.push({ system: route.type.layout.system, event: route.type.layout.name });
    }
    this.tracer.enable(tracepoints);
    this.tracer.start(this.deliver);
  }

  /** task_newtask and task_rename keep the comm/tgid of new tasks right (SPEC §4.10 execname). */
  private addTaskTracking(): void {
    const created = this.route({ system: 'task', event: 'task_newtask' });
    const [pidField, commField, flagsField] = fieldsNamed(created.type.layout, 'pid', 'comm', 'clone_flags');
    created.internal = (bytes, offset, length, tid) => {
      this.tasks.taskCreated(tid, readField(bytes, offset, length, pidField!) as number,
        readField(bytes, offset, length, commField!) as string, readField(bytes, offset, length, flagsField!) as number);
    };
    const renamed = this.route({ system: 'task', event: 'task_rename' });
    const [renamedPid, newComm] = fieldsNamed(renamed.type.layout, 'pid', 'newcomm');
    renamed.internal = (bytes, offset, length) => {
      this.tasks.taskRenamed(readField(bytes, offset, length, renamedPid!) as number, readField(bytes, offset, length, newComm!) as string);
    };
  }

  /** Reads what is buffered now (before a timer handler runs, SPEC §3.10). */
  pump(): void {
    this.tracer.pump(this.deliver);
  }

  /** Stops recording; with `drain`, what is already recorded is still delivered. */
  stop(drain: boolean): void {
    this.tracer.stop();
    if (drain) {
      this.delivering = true;
      this.tracer.drain(this.deliver);
    }
    this.delivering = false;
  }

  close(): void {
    this.tracer.close();
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
    if (route.internal !== undefined) route.internal(record, offset, record.length, event.tid);
    const handlers = route.handlers;
    for (let index = 0; index < handlers.length; index++) {
      if (!this.runHandler(handlers[index]!, event)) {
        this.delivering = false;
        return;
      }
    }
    if (route.profiles.length > 0) this.sample(route, event, cpu);
  };

  private sample(route: Route, event: TraceEvent, cpu: number): void {
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

  /** Events the kernel lost, per CPU. */
  lostPerCpu(): Map<number, number> {
    return this.tracer.lostPerCpu();
  }
}

function eventType(layout: EventLayout): EventType {
  return { layout, probename: layout.name, argFields: layout.fields.slice(0, 10), render: null };
}

function fieldsNamed(layout: EventLayout, ...names: string[]): Array<EventLayout['fields'][number] | undefined> {
  return names.map((name) => layout.fields.find((field) => field.name === name));
}

function readKallsyms(): string {
  try {
    return readFileSync('/proc/kallsyms', 'latin1');
  } catch {
    return '';
  }
}
