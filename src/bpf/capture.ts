// Capture at the event for the user tier: a small eBPF program copies what only the event's
// moment can give — the record itself, strings from the process's memory, execve's argv,
// kernel and user stacks — into a BPF ring buffer, for handlers that still run in the VM.
//
// One record per event, laid out by captureLayout():
//   0  u64 time (bpf_ktime_get_ns: CLOCK_MONOTONIC)   8  u32 cpu   12  u32 source (which
//      program wrote it, as its creator numbered them)   16  u32 tgid   24  comm[16] (the
//      task's process and name at the event)
//   40 the tracepoint's record as tracefs lays it out (common fields first; no context flags),
//      padded to 8
//   then one slot per captured string, ARGV_MAX slots per captured `char **` array (execve's
//   argv), a slot per stack; a slot is an s32 length (the helper's result: bytes with the NUL,
//   or a negative errno), a u32 (1 in an array's first slot when the array holds more than
//   ARGV_MAX strings, else 0), and its bytes.

import { Assembler, FP, Helper, type Label, type Reg } from './asm';
import { BpfMap } from './maps';
import { BpfProgram } from './program';
import { emitTracedCheck } from './traced-processes';
import { MAX_ARRAY_STRING, MAX_ARRAY_STRINGS } from '../vm/lib/user-memory';

/** Helper ids the capture programs use beyond asm.ts's list (linux/bpf.h). */
const RINGBUF_RESERVE = 131;
const RINGBUF_SUBMIT = 132;
/** bpf_get_stack flag: the user-space stack. */
const USER_STACK = 1 << 8;

export const STRING_BYTES = 256;
/** Strings of a `char **` array, and bytes of each with its NUL: what join reads without BPF too. */
export const ARGV_MAX = MAX_ARRAY_STRINGS;
export const ARG_BYTES = MAX_ARRAY_STRING + 1;
export const STACK_DEPTH = 64;
export const SLOT_HEADER = 8;
/** Offset in an array's first slot of the word saying the array went on past ARGV_MAX. */
export const SLOT_MORE = 4;
export const RECORD_AT = 40;
export const TGID_AT = 16;
export const COMM_AT = 24;

export interface CaptureSpec {
  /** Written into every record: tells the reader which program (and event) it came from. */
  readonly source: number;
  /** The event's id (`common_type`). */
  readonly eventId: number;
  /** Bytes of the event's record to copy: its fixed part, plus room for dynamic arrays. */
  readonly recordBytes: number;
  /** Byte offsets in the record of pointer fields whose user-memory strings are copied. */
  readonly userStrings: readonly number[];
  /** Byte offsets of `char **` fields (execve's argv, envp) whose strings are copied. */
  readonly argvs: readonly number[];
  readonly kernelStack: boolean;
  readonly userStack: boolean;
  /**
   * The handler's /filter/ (filter.ts), emitted first: jumps to SKIP for an event that does
   * not pass, with the record in CONTEXT.
   */
  readonly filter?: (asm: Assembler, context: Reg, skip: Label) => void;
}

/** Where each part of a capture record sits (byte offsets from the record's start). */
export interface CaptureLayout {
  readonly bytes: number;
  readonly strings: readonly number[];
  /** Per captured array, its ARGV_MAX slots. */
  readonly argvs: ReadonlyArray<readonly number[]>;
  readonly kernelStack: number;
  readonly userStack: number;
}

const align8 = (value: number): number => (value + 7) & ~7;

export function captureLayout(spec: CaptureSpec): CaptureLayout {
  let at = RECORD_AT + align8(spec.recordBytes);
  const slot = (size: number): number => {
    const start = at;
    at += SLOT_HEADER + align8(size);
    return start;
  };
  const strings = spec.userStrings.map(() => slot(STRING_BYTES));
  const argvs = spec.argvs.map(() => Array.from({ length: ARGV_MAX }, () => slot(ARG_BYTES)));
  const kernelStack = spec.kernelStack ? slot(STACK_DEPTH * 8) : -1;
  const userStack = spec.userStack ? slot(STACK_DEPTH * 8) : -1;
  return { bytes: at, strings, argvs, kernelStack, userStack };
}

/** A captured slot's bytes (a string without its NUL), or undefined when the copy failed. */
export function slotBytes(page: Buffer, view: DataView, recordOffset: number, slot: number): Buffer | undefined {
  const length = view.getInt32(recordOffset + slot, true);
  if (length <= 0) return undefined;
  const start = recordOffset + slot + SLOT_HEADER;
  const end = page.indexOf(0, start);
  return page.subarray(start, end < 0 || end > start + length ? start + length : end);
}

/** A captured stack's return addresses, innermost first. */
export function slotStack(view: DataView, recordOffset: number, slot: number): bigint[] {
  const bytes = view.getInt32(recordOffset + slot, true);
  const frames: bigint[] = [];
  for (let index = 0; index * 8 < bytes; index++) frames.push(view.getBigUint64(recordOffset + slot + SLOT_HEADER + index * 8, true));
  return frames;
}

/** Where a capture program writes, and which events it keeps. */
export interface CaptureMaps {
  readonly ring: BpfMap;
  /** Per-CPU array of one u64: records the ring buffer had no room for. */
  readonly lost: BpfMap;
  /** When set, the traced processes' set (TracedProcesses): only these are captured (-p, -- cmd). */
  readonly tgids?: BpfMap;
  /** When set, only events on these CPUs (-C). */
  readonly cpus?: readonly number[];
  /** Processes whose events are skipped (ktap's own tasks). */
  readonly excludeTgids?: readonly number[];
}

export function createLostCounter(name = 'ktap_lost'): BpfMap {
  return BpfMap.create({ type: 'percpuArray', keySize: 4, valueSize: 8, maxEntries: 1, name });
}

// Registers kept across helper calls.
const CTX: Reg = 6;
const RECORD: Reg = 7;
const SCRATCH: Reg = 8;

/** Exits at once unless the event is one MAPS keeps (its process, its CPU). Uses FP-8. */
function emitFilters(a: Assembler, maps: CaptureMaps): void {
  if (maps.cpus !== undefined) {
    const onCpu = a.label('on-cpu');
    a.call(Helper.getSmpProcessorId);
    for (const cpu of maps.cpus) a.jumpImm('jeq', 0, cpu, onCpu);
    a.movImm(0, 0);
    a.exit();
    a.place(onCpu);
  }
  if (maps.tgids !== undefined) emitTracedCheck(a, maps.tgids.fd);
  if (maps.excludeTgids !== undefined && maps.excludeTgids.length > 0) {
    const skip = a.label('skip');
    const keep = a.label('not-excluded');
    a.call(Helper.getCurrentPidTgid);
    a.aluImm('rsh', 0, 32);
    for (const tgid of maps.excludeTgids) a.jumpImm('jeq', 0, tgid, skip);
    a.goto(keep);
    a.place(skip);
    a.movImm(0, 0);
    a.exit();
    a.place(keep);
  }
}

/** Counts one record the ring buffer could not take, and exits. */
function emitLost(a: Assembler, lost: BpfMap): void {
  const done = a.label('lost-done');
  a.storeImm('W', FP, -8, 0);
  a.mapLookup(lost.fd, -8);
  a.jumpImm('jeq', 0, 0, done);
  a.movImm(1, 1);
  a.atomicAdd(0, 0, 1);
  a.place(done);
  a.movImm(0, 0);
  a.exit();
}

/** Reserves a record of BYTES in the ring (RECORD) and writes its header, or counts it lost and exits. */
function emitReserve(a: Assembler, maps: CaptureMaps, bytes: number, source: number): void {
  const reserved = a.label('reserved');
  a.loadMap(1, maps.ring.fd);
  a.movImm(2, bytes);
  a.movImm(3, 0);
  a.call(RINGBUF_RESERVE);
  a.jumpImm('jne', 0, 0, reserved);
  emitLost(a, maps.lost);
  a.place(reserved);
  a.mov(RECORD, 0);
  a.call(Helper.ktimeGetNs);
  a.store('DW', RECORD, 0, 0);
  a.call(Helper.getSmpProcessorId);
  a.store('W', RECORD, 8, 0);
  a.storeImm('W', RECORD, 12, source);
  a.call(Helper.getCurrentPidTgid);
  a.aluImm('rsh', 0, 32);
  a.store('DW', RECORD, TGID_AT, 0);
  a.mov(1, RECORD);
  a.aluImm('add', 1, COMM_AT);
  a.movImm(2, 16);
  a.call(Helper.getCurrentComm);
}

/** Calls HELPER(RECORD + slot + 8, size, R3 as set by the caller) and stores its result in the slot. */
function emitSlotCopy(a: Assembler, helper: number, slot: number, size: number): void {
  a.mov(1, RECORD);
  a.aluImm('add', 1, slot + SLOT_HEADER);
  a.movImm(2, size);
  a.call(helper);
  a.store('W', RECORD, slot, 0);
}

function emitStack(a: Assembler, slot: number, flags: number): void {
  a.mov(1, CTX);
  a.mov(2, RECORD);
  a.aluImm('add', 2, slot + SLOT_HEADER);
  a.movImm(3, STACK_DEPTH * 8);
  a.movImm(4, flags);
  a.call(Helper.getStack);
  a.store('W', RECORD, slot, 0);
}

function emitSubmit(a: Assembler): void {
  a.mov(1, RECORD);
  a.movImm(2, 0);
  a.call(RINGBUF_SUBMIT);
  a.movImm(0, 0);
  a.exit();
}

/** The capture program for one tracepoint (BPF_PROG_TYPE_TRACEPOINT: ctx is its record). */
export function tracepointCapture(spec: CaptureSpec, maps: CaptureMaps): BpfProgram {
  const layout = captureLayout(spec);
  const a = new Assembler();
  a.mov(CTX, 1);
  if (spec.filter !== undefined) {
    const pass = a.label('filter-passed');
    const skip = a.label('filter-failed');
    spec.filter(a, CTX, skip);
    a.goto(pass);
    a.place(skip);
    a.movImm(0, 0);
    a.exit();
    a.place(pass);
  }
  emitFilters(a, maps);
  emitReserve(a, maps, layout.bytes, spec.source);
  a.mov(3, CTX);
  a.mov(1, RECORD);
  a.aluImm('add', 1, RECORD_AT);
  a.movImm(2, spec.recordBytes);
  a.call(Helper.probeReadKernel);
  // For BPF the kernel puts a pt_regs pointer over the record's common fields (its first 8
  // bytes): write them back as tracefs has them — the event id and the thread (no flags).
  a.storeImm('W', RECORD, RECORD_AT, spec.eventId & 0xffff);
  a.call(Helper.getCurrentPidTgid);
  a.store('W', RECORD, RECORD_AT + 4, 0);
  spec.userStrings.forEach((field, index) => {
    a.load('DW', 3, CTX, field);
    emitSlotCopy(a, Helper.probeReadUserStr, layout.strings[index]!, STRING_BYTES);
  });
  spec.argvs.forEach((field, index) => emitArgv(a, field, layout.argvs[index]!));
  if (layout.kernelStack >= 0) emitStack(a, layout.kernelStack, 0);
  if (layout.userStack >= 0) emitStack(a, layout.userStack, USER_STACK);
  emitSubmit(a);
  return BpfProgram.load({ type: 'tracepoint', code: a.finish().code, name: 'ktap_capture' });
}

/**
 * argv[0…ARGV_MAX): each pointer read from user memory, then its string; a NULL pointer or
 * a fault reading a pointer ends the list (a slot says 0 until it is filled). A non-NULL
 * argv[ARGV_MAX] sets the first slot's SLOT_MORE word.
 */
function emitArgv(a: Assembler, field: number, slots: readonly number[]): void {
  const end = a.label('argv-end');
  for (const slot of slots) {
    a.storeImm('W', RECORD, slot, 0);
    a.storeImm('W', RECORD, slot + SLOT_MORE, 0);
  }
  a.load('DW', SCRATCH, CTX, field);
  const readPointer = (index: number): void => {
    a.mov(1, FP);
    a.aluImm('add', 1, -8);
    a.movImm(2, 8);
    a.mov(3, SCRATCH);
    a.aluImm('add', 3, index * 8);
    a.call(Helper.probeReadUser);
    a.jumpImm('jne', 0, 0, end);
    a.load('DW', 3, FP, -8);
    a.jumpImm('jeq', 3, 0, end);
  };
  slots.forEach((slot, index) => {
    readPointer(index);
    emitSlotCopy(a, Helper.probeReadUserStr, slot, ARG_BYTES);
  });
  readPointer(slots.length);
  a.storeImm('W', RECORD, slots[0]! + SLOT_MORE, 1);
  a.place(end);
}

/**
 * A captured array's strings in order (a string that could not be read is empty; an unfilled
 * slot ends them), and whether the array went on past its slots.
 */
export function slotStrings(page: Buffer, view: DataView, recordOffset: number, slots: readonly number[]): { strings: Buffer[]; more: boolean } {
  const strings: Buffer[] = [];
  for (const slot of slots) {
    if (view.getInt32(recordOffset + slot, true) === 0) break;
    strings.push(slotBytes(page, view, recordOffset, slot) ?? Buffer.alloc(0));
  }
  return { strings, more: view.getUint32(recordOffset + slots[0]! + SLOT_MORE, true) === 1 };
}

/**
 * The sampling program for profile-N (BPF_PROG_TYPE_PERF_EVENT on a CPU clock): the
 * interrupted task and the stacks of the interrupted context — not the sampler's own frames.
 * Its record is the common fields of a trace entry, the thread in common_pid.
 */
export function profileCapture(source: number, kernelStack: boolean, userStack: boolean, maps: CaptureMaps): { program: BpfProgram; layout: CaptureLayout } {
  const layout = captureLayout({ source, eventId: 0, recordBytes: PROFILE_RECORD_BYTES, userStrings: [], argvs: [], kernelStack, userStack });
  const a = new Assembler();
  a.mov(CTX, 1);
  emitFilters(a, maps);
  emitReserve(a, maps, layout.bytes, source);
  a.storeImm('W', RECORD, RECORD_AT, 0);
  a.call(Helper.getCurrentPidTgid);
  a.store('W', RECORD, RECORD_AT + 4, 0);
  if (layout.kernelStack >= 0) emitStack(a, layout.kernelStack, 0);
  if (layout.userStack >= 0) emitStack(a, layout.userStack, USER_STACK);
  emitSubmit(a);
  return { program: BpfProgram.load({ type: 'perfEvent', code: a.finish().code, name: 'ktap_profile' }), layout };
}

/** A profile sample's record: the common fields of a trace entry. */
export const PROFILE_RECORD_BYTES = 8;
