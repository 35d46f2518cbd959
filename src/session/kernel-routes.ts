// A kernel event's route in a session: the event, the handlers and profile-N samplers it is
// delivered to, its kernel filter and state; and the routes of the session's own bookkeeping
// (task creation and renames, which keep execname right).

import { readField, type PageBytes } from '../probes/fields';
import type { EventLayout } from '../probes/format';
import type { Tracepoint } from '../probes/resolve';
import type { TaskTable } from '../probes/tasks';
import type { UserSymbolizer } from '../probes/usersyms';
import type { CapturedRoute } from './captured-events';
import type { Handler } from './handler';
import type { ProbeBatch } from './probe-plan';
import { fieldsByName, type EventType } from './trace-event';

export interface ProfileState {
  readonly handler: Handler;
  readonly intervalNs: number;
  /** Per CPU: the time (ns after the reader's base) the handler last ran there. */
  readonly lastRun: number[];
  readonly type: EventType;
}

/** An event of the instance (or captured by BPF) and the handlers it is delivered to. */
export interface Route {
  readonly tracepoint: Tracepoint;
  readonly type: EventType;
  readonly handlers: Handler[];
  readonly profiles: ProfileState[];
  /** The kernel filter installed on the event (one per event), or null for none. */
  filter: string | null;
  /** Enabled in the kernel (events are enabled by commit()). */
  enabled: boolean;
  /** Bookkeeping of the session itself (task creation and renames). */
  internal?: (bytes: PageBytes, offset: number, length: number, tid: number) => void;
  /** Records delivered, per route (Prometheus' ktap_probe_events_total). */
  count: number;
  /** The probe of a glob this event is (a refusal skips it), with the header that asked for it. */
  origin?: ProbeBatch;
  /** Captured by BPF instead of recorded in the instance (see captured-events.ts). */
  captured?: CapturedRoute;
}

export function eventType(layout: EventLayout): EventType {
  return { layout, probename: layout.name, argFields: layout.fields.slice(0, 10), fields: fieldsByName(layout), render: null };
}


/** task_newtask (CREATED) and task_rename (RENAMED) keep the comm/tgid of new tasks right (SPEC §4.10 execname). */
export function trackTasks(created: Route, renamed: Route, tasks: TaskTable, userSymbols: UserSymbolizer): void {
  const [pidField, commField, flagsField] = fieldsNamed(created.type.layout, 'pid', 'comm', 'clone_flags');
  created.internal = (bytes, offset, length, tid) => {
    tasks.taskCreated(tid, readField(bytes, offset, length, pidField!) as number,
      readField(bytes, offset, length, commField!) as string, readField(bytes, offset, length, flagsField!) as number);
  };
  const [renamedPid, newComm] = fieldsNamed(renamed.type.layout, 'pid', 'newcomm');
  renamed.internal = (bytes, offset, length) => {
    const pid = readField(bytes, offset, length, renamedPid!) as number;
    tasks.taskRenamed(pid, readField(bytes, offset, length, newComm!) as string);
    // An exec maps other files: user stacks of this process need its new mappings.
    userSymbols.forget(pid);
  };
}

function fieldsNamed(layout: EventLayout, ...names: string[]): Array<EventLayout['fields'][number] | undefined> {
  return names.map((name) => layout.fields.find((field) => field.name === name));
}
