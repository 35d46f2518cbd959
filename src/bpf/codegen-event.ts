// eBPF that reads the event: pid, tid, uid, cpu, argN and args.NAME from the tracepoint's
// record, from a raw system call tracepoint's arguments (its number and return value), or
// from a uprobe's registers.

import { FP, Helper, type Reg } from './asm';
import type { EVENT_VARIABLES } from '../vm/opcodes';
import { CTX, type Frame } from './codegen-frame';

// x86-64 struct pt_regs offsets of the system call arguments, number and return value.
const PT_REGS_ORIG_AX = 120;

/** x86-64 struct pt_regs offsets of a uprobe's argN, entry (ip, di, si, dx, cx, r8, r9) and return (-, ip, ax). */
const UPROBE_ARGS: readonly (number | undefined)[] = [128, 112, 104, 96, 88, 72, 64];
const URETPROBE_ARGS: readonly (number | undefined)[] = [undefined, 128, 80];
/**
 * A uprobe's args.NAME as fields of its tracefs event (uprobe.ts's default fetch arguments,
 * and `retval` for a return probe's arg2, as trace-event.ts names it): their argN.
 */
export function uprobeFieldIndex(name: string, isReturn: boolean): number | undefined {
  if (isReturn) return name === '__probe_ret_ip' ? 1 : name === 'arg2' || name === 'retval' ? 2 : undefined;
  if (name === '__probe_ip') return 0;
  const numbered = /^arg([1-6])$/.exec(name);
  return numbered === null ? undefined : Number(numbered[1]);
}
/** The pt_regs offset of a uprobe's argN, or undefined when the kernel tier cannot read it as the user tier does. */
export function uprobeArgOffset(index: number, isReturn: boolean): number | undefined {
  return (isReturn ? URETPROBE_ARGS : UPROBE_ARGS)[index];
}

/** Keeps the low 32 bits of `register` (a helper's packed pair: tid of pid_tgid, uid of uid_gid). */
function lowHalf(frame: Frame, register: Reg): void {
  frame.asm.aluImm('lsh', register, 32);
  frame.asm.aluImm('rsh', register, 32);
}

/**
 * REG = the system call number on a raw system call tracepoint: sys_enter's second
 * argument; on sys_exit (whose second argument is the return value) regs->orig_ax.
 */
export function syscallId(frame: Frame, reg: Reg): void {
  const { asm } = frame;
  if (frame.input.access.kind === 'rawSysEnter') {
    asm.load('DW', reg, CTX, 8);
    return;
  }
  asm.load('DW', 3, CTX, 0);
  asm.aluImm('add', 3, PT_REGS_ORIG_AX);
  frame.valuePointer(1);
  asm.movImm(2, 8);
  asm.call(Helper.probeReadKernel);
  asm.load('DW', reg, FP, frame.valueOffset);
}

export function eventVariable(frame: Frame, a: number, variable: (typeof EVENT_VARIABLES)[number]): void {
  const { asm } = frame;
  switch (variable) {
    case 'pid': case 'tid':
      asm.call(Helper.getCurrentPidTgid);
      // The helper gives tgid << 32 | tid: pid is the high half, tid the low one.
      if (variable === 'pid') asm.aluImm('rsh', 0, 32);
      else lowHalf(frame, 0);
      frame.setInt(a, 0);
      return;
    case 'uid':
      asm.call(Helper.getCurrentUidGid);
      lowHalf(frame, 0);
      frame.setInt(a, 0);
      return;
    case 'cpu':
      asm.call(Helper.getSmpProcessorId);
      frame.setInt(a, 0);
      return;
    case 'execname': case 'probename':
      return; // read where used (a key): the comm by helper, the name by attach cookie
    default:
      argument(frame, a, Number(variable.slice(3)));
  }
}

/** R(A) = args.NAME: the record's integer field NAME; on a raw system call tracepoint its number or return value. */
export function namedField(frame: Frame, a: number, name: string): void {
  const access = frame.input.access;
  if (access.kind === 'record') {
    const index = access.fields.findIndex((field) => field.name === name);
    if (index < 0) frame.setNil(a);
    else argument(frame, a, index);
    return;
  }
  if (access.kind === 'uprobe') {
    const index = uprobeFieldIndex(name, access.isReturn);
    if (index === undefined) frame.setNil(a);
    else argument(frame, a, index);
    return;
  }
  if (name === '__syscall_nr' && access.kind !== 'sample') argument(frame, a, 0);
  else if (name === 'ret' && access.kind === 'rawSysExit') argument(frame, a, 1);
  else frame.setNil(a);
}

function argument(frame: Frame, a: number, index: number): void {
  const { asm } = frame;
  const access = frame.input.access;
  if (access.kind === 'rawSysEnter' || access.kind === 'rawSysExit') {
    if (index === 0 && access.kind === 'rawSysEnter') asm.load('DW', 1, CTX, 8);
    else if (index === 1 && access.kind === 'rawSysExit') asm.load('DW', 1, CTX, 8);
    else if (index === 0) syscallId(frame, 1);
    else {
      frame.setNil(a);
      return;
    }
    frame.setInt(a, 1);
    return;
  }
  if (access.kind === 'uprobe') {
    // Read straight from the context: a kprobe program's pt_regs.
    const offset = uprobeArgOffset(index, access.isReturn);
    if (offset === undefined) frame.setNil(a);
    else {
      asm.load('DW', 1, CTX, offset);
      frame.setInt(a, 1);
    }
    return;
  }
  const field = access.kind === 'sample' ? undefined : access.fields[index];
  if (field === undefined || field.kind !== 'int' || ![1, 2, 4, 8].includes(field.size)) {
    frame.setNil(a);
    return;
  }
  const size = ({ 1: 'B', 2: 'H', 4: 'W', 8: 'DW' } as const)[field.size as 1 | 2 | 4 | 8];
  asm.load(size, 1, CTX, field.offset);
  if (field.signed && field.size < 8) {
    const shift = 64 - field.size * 8;
    asm.aluImm('lsh', 1, shift);
    asm.aluImm('arsh', 1, shift);
  }
  frame.setInt(a, 1);
}
