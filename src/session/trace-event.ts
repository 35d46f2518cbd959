// The event context a trace handler runs with (SPEC §4.10): one reusable object pointed at
// the current record, decoding each field, argstr and task identity only when asked for.

import { slotStrings } from '../bpf/capture';
import type { EventLayout, FieldLayout } from '../probes/format';
import { readField, recordFlags, recordPid, TRACE_FLAG_HARDIRQ, TRACE_FLAG_NMI, TRACE_FLAG_SOFTIRQ, type PageBytes } from '../probes/fields';
import type { TaskTable } from '../probes/tasks';
import type { EventContext } from '../vm/runtime';
import type { Value } from '../vm/value';

/** What the session knows about one kernel event type (one `common_type`). */
export interface EventType {
  readonly layout: EventLayout;
  /** `probename`: the event name without its system. */
  readonly probename: string;
  /** arg0…arg9: the event's own fields in format order. */
  readonly argFields: readonly FieldLayout[];
  /** args.NAME: the event's own fields by name (see fieldsByName). */
  readonly fields: ReadonlyMap<string, FieldLayout>;
  /** Renders argstr for a record; built on first use. */
  render: ((bytes: PageBytes, offset: number, length: number) => string) | null;
  /** `char **` fields whose strings BPF captured after the record (captured-events.ts). */
  readonly argvs?: readonly CapturedArray[];
}

/** A `char **` field and the slots (offsets from the record's start) its strings were copied to. */
export interface CapturedArray {
  readonly field: FieldLayout;
  readonly slots: readonly number[];
}

/**
 * The names args.NAME reads: the event's own fields, and `retval` for the value a return
 * probe fetched without naming it (arg2 of a uretprobe without fetch arguments, SPEC §4.5).
 */
export function fieldsByName(layout: EventLayout): Map<string, FieldLayout> {
  const fields = new Map(layout.fields.map((field) => [field.name, field]));
  const returned = fields.get('arg2');
  if (fields.has('__probe_ret_ip') && returned !== undefined && !fields.has('retval')) fields.set('retval', returned);
  return fields;
}

const INTERRUPT_FLAGS = TRACE_FLAG_HARDIRQ | TRACE_FLAG_SOFTIRQ | TRACE_FLAG_NMI;

/** Turns the stack records recorded with an event into symbolized frames. */
export interface StackSymbolizer {
  kernelFrame(address: bigint): string;
  userFrame(tgid: number, address: bigint): string;
}

export class TraceEvent implements EventContext {
  /** 'timer' for profile-N samples: the interrupted task's identity, no arguments. */
  kind: 'trace' | 'timer' = 'trace';
  type!: EventType;
  bytes!: PageBytes;
  offset = 0;
  length = 0;
  cpu = 0;
  tid = 0;
  /** Time of the record: ns after `origin` on the trace clock (a number: no allocation per event). */
  time = 0;
  /** Trace-clock ns that `time` counts from (the reader's time base). */
  origin = 0n;
  /**
   * The stacks that came with the event (from the kernel_stack / user_stack records after
   * it, or captured with it by BPF): where the return addresses start (-1: no stack) and
   * how many there are at most (a 0 address ends them early).
   */
  kernelFramesAt = -1;
  kernelFrameCount = 0;
  userFramesAt = -1;
  userFrameCount = 0;
  /** The process the user stack's addresses belong to. */
  userStackTgid = 0;

  constructor(
    private readonly tasks: TaskTable,
    private readonly stacks: StackSymbolizer,
    private readonly renderer: (type: EventType) => (bytes: PageBytes, offset: number, length: number) => string,
    /** Wall-clock ns minus trace-clock ns (the clocks' offset), for gettimeofday_*. */
    public wallOffsetNs: bigint,
  ) {}

  /** Points the context at a record. */
  set(type: EventType, bytes: PageBytes, offset: number, length: number, cpu: number, time: number): void {
    this.kind = 'trace';
    this.type = type;
    this.bytes = bytes;
    this.offset = offset;
    this.length = length;
    this.cpu = cpu;
    this.tid = recordPid(bytes, offset);
    this.time = time;
    this.kernelFramesAt = -1;
    this.userFramesAt = -1;
  }

  kernelStack(): readonly string[] | undefined {
    if (this.kernelFramesAt < 0) return undefined;
    return this.frames(this.kernelFramesAt, this.kernelFrameCount).map((address) => this.stacks.kernelFrame(address));
  }

  userStack(): readonly string[] | undefined {
    if (this.userFramesAt < 0) return undefined;
    const tgid = this.userStackTgid;
    return this.frames(this.userFramesAt, this.userFrameCount).map((address) => this.stacks.userFrame(tgid, address));
  }

  private frames(offset: number, count: number): bigint[] {
    const addresses: bigint[] = [];
    const view = this.bytes.view;
    for (let index = 0; index < count; index++) {
      const address = view.getBigUint64(offset + index * 8, true);
      if (address === 0n) break;
      addresses.push(address);
    }
    return addresses;
  }

  /** The record's trace-clock time in ns. */
  clockNs(): bigint {
    return this.origin + BigInt(this.time);
  }

  get probename(): string {
    return this.type.probename;
  }

  get pid(): number {
    return this.tasks.tgid(this.tid);
  }

  uid(): number {
    return this.tasks.uid(this.tid);
  }

  execname(): string {
    // Thread 0 is the CPU's idle task, which the kernel names swapper/N.
    return this.tid === 0 ? `swapper/${this.cpu}` : this.tasks.comm(this.tid);
  }

  capturedArgv(address: bigint): { strings: string[]; more: boolean } | undefined {
    for (const { field, slots } of this.type.argvs ?? []) {
      const value = readField(this.bytes, this.offset, this.length, field);
      if (value === undefined || BigInt.asUintN(64, BigInt(value)) !== address) continue;
      const { strings, more } = slotStrings(this.bytes.page, this.bytes.view, this.offset, slots);
      return { strings: strings.map((bytes) => bytes.toString('latin1')), more };
    }
    return undefined;
  }

  arg(index: number): Value {
    const field = this.type.argFields[index];
    return field === undefined ? undefined : readField(this.bytes, this.offset, this.length, field);
  }

  field(name: string): Value {
    const field = this.type.fields.get(name);
    return field === undefined ? undefined : readField(this.bytes, this.offset, this.length, field);
  }

  argstr(): string {
    const type = this.type;
    if (type.render === null) type.render = this.renderer(type);
    return type.render(this.bytes, this.offset, this.length);
  }

  wallTimeNs(): bigint {
    return this.clockNs() + this.wallOffsetNs;
  }

  inInterrupt(): boolean {
    return (recordFlags(this.bytes, this.offset) & INTERRUPT_FLAGS) !== 0;
  }
}
