// What the eBPF code generator is given: the analysed handler, the maps its tables and
// scalars live in, how the program reads the event, and the filters it applies first.

import type { Assembler, Label, Reg } from './asm';
import type { Analysis, KeyKind } from './analyze';
import type { FieldLayout } from '../probes/format';

/** How a kernel table or scalar is stored: its map, and whether it is a per-CPU map of sums. */
export interface MapBinding {
  readonly fd: number;
  readonly percpu: boolean;
}
export interface TableBinding extends MapBinding {
  readonly key: KeyKind;
  /** A table of sums: the per-CPU array of its hot keys (hot-keys.ts). */
  readonly hotFd?: number;
}

/** How the program reads argN. */
export type EventAccess =
  /** A perf tracepoint: the record is the context; argN is format field N. */
  | { readonly kind: 'record'; readonly fields: readonly FieldLayout[] }
  /** The raw sys_enter tracepoint (args: regs, id): arg0 is the system call number. */
  | { readonly kind: 'rawSysEnter' }
  /** The raw sys_exit tracepoint (args: regs, ret): arg0 the number, arg1 the return value. */
  | { readonly kind: 'rawSysExit' }
  /** A perf sample (profile-N): no arguments (a handler reading any stays in user space). */
  | { readonly kind: 'sample' }
  /**
   * A uprobe of the PMU (the context is the task's pt_regs): argN as the user tier's default
   * fetch arguments give it (uprobe.ts): entry arg0 = probed address, arg1… the argument
   * registers; return arg1 = return address, arg2 = return value.
   */
  | { readonly kind: 'uprobe'; readonly isReturn: boolean };

export interface CodegenInput {
  readonly analysis: Analysis;
  readonly tables: ReadonlyMap<number, TableBinding>;
  readonly scalars: ReadonlyMap<number, MapBinding>;
  readonly access: EventAccess;
  /** Per-CPU array, one u64: the program's runs (the dashboard's per-CPU rows). */
  readonly hitsFd: number;
  /** Array, one entry {count u64, first u64 = code << 56 | handler << 32 | line}: errors counted, the first one. */
  readonly errorsFd: number;
  /** The session's id of the handler (told back with its errors). */
  readonly handlerId: number;
  /** -C: run only on this CPU. */
  readonly cpu?: number;
  /** ktap's own process: its events are not counted (unless --trace-self). */
  readonly excludeTgid?: number;
  /** -p / -- cmd: the traced processes' set (TracedProcesses); the program runs for them only. */
  readonly tracedFd?: number;
  /**
   * Raw system call tracepoints fire for every call: the program runs for these numbers,
   * compared one by one when they are few, else looked up in the bitmap of an array map (one
   * entry of SYSCALL_NUMBERS_END bits; see syscallBitmap).
   */
  readonly syscalls?: { readonly numbers: readonly number[] } | { readonly bitmapFd: number };
  /** Added to CLOCK_MONOTONIC (bpf_ktime_get_ns) to give wall-clock time, as the user tier does. */
  readonly wallOffsetNs: bigint;
  /** The stack map (BPF_MAP_TYPE_STACK_TRACE) of stack() keys, when the handler calls stack(). */
  readonly stackMapFd?: number;
  /** With it, the per-CPU counter of samples whose stack did not fit that map (KernelStacks.dropped). */
  readonly stackDroppedFd?: number;
  /** A /filter/ compiled to a condition on the record (jumps to `skip` when false). */
  readonly filter?: (asm: Assembler, context: Reg, skip: Label) => void;
}
