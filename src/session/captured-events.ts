// Events whose handlers need what only the event's moment can give, captured by BPF for the
// user tier (src/bpf/capture-source.ts): tracepoints whose pointer arguments the handler
// passes to user_string or whose `char **` arguments it passes to join (the strings copied
// while the process still exists), and profile-N
// samples at any rate with the stacks of the sampled code. Records come out as the session's
// usual TraceEvent; without BPF, the caller keeps the tracefs path (the reason is kept for -v).

import { bpfAvailability } from '../bpf/available';
import { COMM_AT, RECORD_AT, SLOT_HEADER, STRING_BYTES, TGID_AT, type CaptureLayout } from '../bpf/capture';
import { CaptureSource, type CaptureOptions } from '../bpf/capture-source';
import { FilterNotCompiled, emitFilter, filterProblem, parseFilter, type FilterNode } from '../bpf/filter';
import { recordPid, type PageBytes } from '../probes/fields';
import type { TaskTable } from '../probes/tasks';
import type { FieldLayout } from '../probes/format';
import type { EventType, TraceEvent } from './trace-event';

/** A captured record, set into EVENT, goes to this route's handlers. */
export interface CapturedRoute {
  readonly source: number;
  readonly type: EventType;
  readonly layout: CaptureLayout;
  /** A profile sampler: EVENT is a timer event of the sampled task. */
  readonly sampler: boolean;
}

export type CapturedDelivery = (route: CapturedRoute, event: TraceEvent, cpu: number) => void;

/**
 * The capture source of a run, or why BPF cannot serve it. koffi is loaded here, on the
 * first handler that needs a capture, never by a run that needs none.
 */
export function openCapture(options: CaptureOptions): CapturedEvents | string {
  const available = bpfAvailability();
  if (!available.ok) return available.reason;
  try {
    return new CapturedEvents(new CaptureSource(options));
  } catch (error) {
    return (error as Error).message;
  }
}

/** An argument field is a user-space pointer the capture program can copy a string from. */
export function isUserPointer(field: FieldLayout | undefined): boolean {
  return field !== undefined && field.kind === 'int' && field.size === 8 && /\*\s*$/.test(field.type) && !isPointerArray(field);
}

/** An argument field is a `char **` (execve's `const char *const * argv`): an array of strings. */
export function isUserPointerArray(field: FieldLayout | undefined): boolean {
  return field !== undefined && field.kind === 'int' && field.size === 8 && isPointerArray(field);
}

const isPointerArray = (field: FieldLayout): boolean => /\*\s*(const\s*)?\*\s*$/.test(field.type);

/**
 * A handler's kernel /filter/ compiled for TYPE's capture program, or why it cannot be (the
 * event then stays in the tracefs instance, which applies the filter).
 */
export function captureFilter(type: EventType, filter: string): FilterNode | string {
  try {
    const node = parseFilter(filter);
    return filterProblem(node, { kind: 'record', fields: type.layout.fields }) ?? node;
  } catch (error) {
    if (error instanceof FilterNotCompiled) return error.message;
    throw error;
  }
}

export class CapturedEvents {
  private readonly routes: Array<CapturedRoute | undefined> = [];

  constructor(private readonly source: CaptureSource) {}

  /**
   * Captures TYPE's events with the user strings of argument fields ARGS and the string
   * arrays of argument fields ARRAYS copied; the route's type reads those arguments as the
   * copied strings (as a uprobe's fetched strings read), and join finds the arrays. Only
   * events FILTER (captureFilter) passes are captured.
   */
  addTracepoint(type: EventType, args: readonly number[], arrays: readonly number[], filter: FilterNode | null): CapturedRoute {
    const { layout: eventLayout } = type;
    const recordBytes = recordSize(eventLayout.fields, eventLayout.commonFields);
    const pointers = args.map((index) => type.argFields[index]!);
    const arrayFields = arrays.map((index) => type.argFields[index]!);
    const { source, layout } = this.source.addTracepoint(eventLayout.system, eventLayout.name, {
      recordBytes,
      userStrings: pointers.map((field) => field.offset),
      argvs: arrayFields.map((field) => field.offset),
      kernelStack: false,
      userStack: false,
      ...(filter === null ? {} : { filter: (asm, context, skip) => emitFilter(asm, filter, { kind: 'record', fields: eventLayout.fields }, context, skip) }),
    });
    // Slots, like fields, count from the start of the tracepoint's record.
    const argvs = arrayFields.map((field, index) => ({ field, slots: layout.argvs[index]!.map((slot) => slot - RECORD_AT) }));
    const argFields = type.argFields.map((field, index) => {
      const at = args.indexOf(index);
      if (at < 0) return field;
      // The copied string, read as a char array placed after the record.
      const offset = layout.strings[at]! + SLOT_HEADER - RECORD_AT;
      return { ...field, type: `char[${STRING_BYTES}]`, kind: 'chars' as const, offset, size: STRING_BYTES };
    });
    // args.NAME reads the same copies.
    const fields = new Map([...type.fields].map(([name, field]) => [name, argFields[type.argFields.indexOf(field)] ?? field]));
    return this.remember({ source, type: { ...type, argFields, fields, render: null, argvs }, layout, sampler: false });
  }

  /** profile at HZ on every CPU of the run, with both stacks of the sampled code. */
  addSampler(hz: number, type: EventType): CapturedRoute {
    const { source, layout } = this.source.addSampler(hz, true, true);
    return this.remember({ source, type, layout, sampler: true });
  }

  private remember(route: CapturedRoute): CapturedRoute {
    this.routes[route.source] = route;
    return route;
  }

  /** Stops capturing for ROUTE (its handlers are gone). */
  remove(route: CapturedRoute): void {
    this.source.removeSource(route.source);
    this.routes[route.source] = undefined;
  }

  /**
   * Hands every record captured so far to DELIVER, set into EVENT; TO_TRACE_CLOCK turns the
   * records' CLOCK_MONOTONIC time into ns on the session's time base.
   */
  drain(event: TraceEvent, tasks: TaskTable, toTraceClock: (monotonicNs: bigint) => number, deliver: CapturedDelivery): void {
    this.source.drain((source: number, bytes: PageBytes, offset: number, length: number) => {
      const route = this.routes[source];
      if (route === undefined) return;
      const view = bytes.view;
      const cpu = view.getUint32(offset + 8, true);
      // The task as it was at the event: a process gone or renamed since is still named right.
      const tgid = view.getUint32(offset + TGID_AT, true);
      const commEnd = bytes.page.indexOf(0, offset + COMM_AT);
      tasks.taskSeen(recordPid(bytes, offset + RECORD_AT), tgid, bytes.page.toString('latin1', offset + COMM_AT, commEnd < 0 || commEnd > offset + COMM_AT + 16 ? offset + COMM_AT + 16 : commEnd));
      event.set(route.type, bytes, offset + RECORD_AT, length - RECORD_AT, cpu, toTraceClock(view.getBigUint64(offset, true)));
      const { kernelStack, userStack } = route.layout;
      if (kernelStack >= 0) {
        event.kernelFramesAt = offset + kernelStack + SLOT_HEADER;
        event.kernelFrameCount = Math.max(0, view.getInt32(offset + kernelStack, true)) / 8;
      }
      if (userStack >= 0) {
        event.userFramesAt = offset + userStack + SLOT_HEADER;
        event.userFrameCount = Math.max(0, view.getInt32(offset + userStack, true)) / 8;
        event.userStackTgid = tgid;
      }
      if (route.sampler) event.kind = 'timer';
      deliver(route, event, cpu);
    });
  }

  /** Stops every capture program; what they wrote can still be drained. */
  detach(): void {
    this.source.detach();
  }

  lostPerCpu(): number[] {
    return this.source.lostPerCpu();
  }

  close(): void {
    this.source.close();
  }
}

/**
 * Bytes of a record to copy: its fixed part, and room for the strings of `__data_loc`
 * fields when it has them (the kernel's buffer is larger than any record, so reading a
 * little past a short record is harmless; the strings' own locations say where they end).
 */
function recordSize(fields: readonly FieldLayout[], common: readonly FieldLayout[]): number {
  let end = 0;
  let dynamic = false;
  for (const field of [...common, ...fields]) {
    end = Math.max(end, field.offset + field.size);
    if (field.kind === 'dataloc' || field.kind === 'relloc') dynamic = true;
  }
  return dynamic ? end + DYNAMIC_ROOM : end;
}

/** Room copied after a record's fixed part for its `__data_loc` strings. */
const DYNAMIC_ROOM = 256;
