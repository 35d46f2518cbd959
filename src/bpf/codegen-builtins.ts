// eBPF for the builtins a kernel handler may call: gettimeofday_*, log2, linear, stack(),
// min and max. Each leaves its result in R(A) of the frame.

import { FP, Helper, type Reg } from './asm';
import type { Kind } from './analyze';
import { CTX, EEXIST, LINEAR_RANGE, LINEAR_STEP, WRONG_ARGUMENT, type Frame } from './codegen-frame';
import { NO_KERNEL_STACK } from './kernel-stacks';

const ENOMEM = 12;

export function call(frame: Frame, kinds: readonly Kind[], a: number): void {
  const { asm } = frame;
  const builtin = kinds[a]!.slice('fn:'.length);
  if (builtin.startsWith('gettimeofday_')) {
    asm.call(Helper.ktimeGetNs);
    asm.movImm(1, frame.input.wallOffsetNs);
    asm.alu('add', 0, 1);
    const unit = { s: 1_000_000_000, ms: 1_000_000, us: 1000, ns: 1 }[builtin.slice('gettimeofday_'.length) as 's' | 'ms' | 'us' | 'ns'];
    if (unit !== 1) asm.aluImm('div', 0, unit); // the wall clock is positive: unsigned division is exact
    frame.setInt(a, 0);
    return;
  }
  if (builtin === 'log2') {
    frame.loadInt(1, kinds, a + 1, WRONG_ARGUMENT);
    log2(frame, a);
    return;
  }
  if (builtin === 'linear') {
    linear(frame, kinds, a);
    return;
  }
  if (builtin === 'stack') {
    kernelStackId(frame, a);
    return;
  }
  // min / max: a nil argument is skipped; nil only when both are.
  const first = a + 1;
  const second = a + 2;
  const done = asm.label();
  const takeSecond = asm.label();
  const presentOf = (reg: Reg, register: number) => {
    if (kinds[register] === 'maybe') asm.load('DW', reg, FP, frame.present(register));
    else asm.movImm(reg, 1);
  };
  presentOf(3, first);
  presentOf(4, second);
  asm.load('DW', 1, FP, frame.value(first));
  asm.load('DW', 2, FP, frame.value(second));
  asm.jumpImm('jeq', 3, 0, takeSecond);
  asm.jumpImm('jeq', 4, 0, done); // R1 is the answer
  asm.jump(builtin === 'min' ? 'jsle' : 'jsge', 1, 2, done);
  asm.place(takeSecond);
  asm.mov(1, 2);
  asm.mov(3, 4);
  asm.place(done);
  asm.store('DW', FP, frame.value(a), 1);
  asm.store('DW', FP, frame.present(a), 3);
}

/**
 * R(A) = stack(): the id of the sampled kernel stack in the stack map (its first
 * DEFAULT_STACK_DEPTH frames, as stack() shows them), or NO_KERNEL_STACK when the sample
 * has no kernel stack (it interrupted user space), which reads back as "". A sample whose
 * stack the map cannot take (its bucket holds another stack, or the map is full) is counted
 * in KernelStacks.dropped and skipped, not an error: the session reports how many there were.
 */
function kernelStackId(frame: Frame, a: number): void {
  const { asm } = frame;
  asm.mov(1, CTX);
  asm.loadMap(2, frame.input.stackMapFd!);
  asm.movImm(3, 0);
  asm.call(Helper.getStackid);
  const drop = asm.label('stack_dropped');
  const kept = asm.label('stack_kept');
  asm.jumpImm('jeq', 0, -EEXIST, drop);
  asm.jumpImm('jne', 0, -ENOMEM, kept);
  asm.place(drop);
  frame.count(frame.input.stackDroppedFd!, frame.valueOffset);
  asm.goto(frame.exitLabel);
  asm.place(kept);
  const found = asm.label();
  asm.jumpImm('jsge', 0, 0, found);
  asm.movImm(0, NO_KERNEL_STACK);
  asm.place(found);
  frame.setInt(a, 0);
}

/** R(A) = linear(x, min, max, step): min + k×step ≤ x; min-1 below min, max from max on (as the VM's). */
function linear(frame: Frame, kinds: readonly Kind[], a: number): void {
  const { asm } = frame;
  const done = asm.label();
  frame.loadInt(1, kinds, a + 1, WRONG_ARGUMENT);
  frame.loadInt(2, kinds, a + 2);
  frame.loadInt(3, kinds, a + 3);
  frame.loadInt(4, kinds, a + 4);
  asm.jumpImm('jsle', 4, 0, frame.fail(LINEAR_STEP));
  asm.jump('jsle', 3, 2, frame.fail(LINEAR_RANGE));
  asm.mov(0, 2);
  asm.aluImm('sub', 0, 1);
  asm.jump('jslt', 1, 2, done);
  asm.mov(0, 3);
  asm.jump('jsge', 1, 3, done);
  // min ≤ x < max and step > 0: the difference and the step are positive, unsigned division is exact.
  asm.mov(0, 1);
  asm.alu('sub', 0, 2);
  asm.alu('div', 0, 4);
  asm.alu('mul', 0, 4);
  asm.alu('add', 0, 2);
  asm.place(done);
  frame.setInt(a, 0);
}

/** R(A) = log2 bucket of R1: -1 below 0, 0 for 0, else the largest power of two ≤ R1. */
function log2(frame: Frame, a: number): void {
  const { asm } = frame;
  const done = asm.label();
  const positive = asm.label();
  asm.movImm(2, -1);
  asm.jumpImm('jslt', 1, 0, done);
  asm.movImm(2, 0);
  asm.jumpImm('jeq', 1, 0, done);
  asm.place(positive);
  // Highest set bit by halving: shift while the upper part is not zero.
  asm.movImm(3, 0);
  for (const bits of [32, 16, 8, 4, 2, 1]) {
    const skip = asm.label();
    asm.mov(4, 1);
    asm.aluImm('rsh', 4, bits);
    asm.jumpImm('jeq', 4, 0, skip);
    asm.mov(1, 4);
    asm.aluImm('add', 3, bits);
    asm.place(skip);
  }
  asm.movImm(2, 1);
  asm.alu('lsh', 2, 3);
  asm.place(done);
  frame.setInt(a, 2);
}
