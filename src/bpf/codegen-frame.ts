// The generated program's stack frame and the operand moves every instruction shares: each
// ktap register lives in two slots (its value, and whether it holds a value rather than nil),
// below them a key slot, a value slot and the tuples' key areas; a runtime error jumps to a
// stub that counts it in the errors map and ends the run.

import { Assembler, FP, type Label, type Reg } from './asm';
import { keyBytes, type Kind } from './analyze';
import type { CodegenInput } from './codegen-input';

/** Runtime errors a program counts instead of raising (the texts are the user tier's). */
export const KERNEL_ERRORS = [
  '',
  'divide 0 arith operation',
  'mod 0 arith operation',
  'attempt to perform arithmetic on a nil value',
  'table overflow',
  'compare with non-number',
  'wrong type of argument 1',
  'linear step must be positive',
  'linear max must be above min',
  'attempt to perform bitwise operation on a nil value',
] as const;
export const DIV_ZERO = 1, MOD_ZERO = 2, NIL_ARITHMETIC = 3, TABLE_FULL = 4, NIL_COMPARE = 5, WRONG_ARGUMENT = 6, LINEAR_STEP = 7, LINEAR_RANGE = 8;
export const NIL_BITWISE = 9;

/** The register the program keeps its context (the record, or the raw tracepoint's args) in. */
export const CTX: Reg = 6;
export const EEXIST = 17;

export class Frame {
  readonly asm = new Assembler();
  private readonly registers: number;
  readonly keyOffset: number;
  readonly valueOffset: number;
  private readonly errorStubs: Array<{ label: Label; code: number; line: number }> = [];
  readonly exitLabel: Label;
  /** The stack area of the key each TUPLE builds, by its pc (below the value slot). */
  readonly tupleOffsets = new Map<number, number>();

  constructor(readonly input: CodegenInput) {
    this.registers = input.analysis.proto.numRegisters;
    this.keyOffset = -(16 * this.registers + 16);
    this.valueOffset = this.keyOffset - 16;
    this.exitLabel = this.asm.label('exit');
    let offset = this.valueOffset;
    for (const [pc, parts] of input.analysis.tuples) {
      offset -= keyBytes({ tuple: parts });
      this.tupleOffsets.set(pc, offset);
    }
  }

  value(register: number): number {
    return -8 * (register + 1);
  }
  present(register: number): number {
    return -8 * (this.registers + register + 1);
  }

  keyPointer(reg: Reg, offset = this.keyOffset): void {
    this.asm.mov(reg, FP);
    this.asm.aluImm('add', reg, offset);
  }
  valuePointer(reg: Reg): void {
    this.asm.mov(reg, FP);
    this.asm.aluImm('add', reg, this.valueOffset);
  }

  /** Adds 1 to a counter: the u64 of the one-entry per-CPU array map FD (its key 0 written at FP+OFFSET). */
  count(fd: number, offset = this.keyOffset): void {
    const { asm } = this;
    const skip = asm.label();
    asm.storeImm('W', FP, offset, 0);
    asm.mapLookup(fd, offset);
    asm.jumpImm('jeq', 0, 0, skip);
    asm.load('DW', 1, 0, 0);
    asm.aluImm('add', 1, 1);
    asm.store('DW', 0, 0, 1);
    asm.place(skip);
  }

  /** Jumps to a stub counting error CODE at the current line, which ends the run. */
  fail(code: number): Label {
    const label = this.asm.label(`error${code}`);
    this.errorStubs.push({ label, code, line: this.asm.line });
    return label;
  }

  /** The error stubs, placed after the program's end: count the error, keep the first. */
  errorReports(): void {
    const { asm } = this;
    if (this.errorStubs.length === 0) return;
    const report = asm.label('report');
    for (const stub of this.errorStubs) {
      asm.place(stub.label);
      asm.line = stub.line;
      asm.movImm(7, (BigInt(stub.code) << 56n) | (BigInt(this.input.handlerId & 0xffffff) << 32n) | BigInt(stub.line));
      asm.goto(report);
    }
    asm.place(report);
    asm.storeImm('W', FP, this.keyOffset, 0);
    asm.mapLookup(this.input.errorsFd, this.keyOffset);
    asm.jumpImm('jeq', 0, 0, this.exitLabel);
    asm.movImm(1, 1);
    asm.atomicAdd(0, 0, 1);
    asm.load('DW', 1, 0, 8);
    asm.jumpImm('jne', 1, 0, this.exitLabel);
    asm.store('DW', 0, 8, 7);
    asm.goto(this.exitLabel);
  }

  kindOf(kinds: readonly Kind[], operand: number): Kind {
    return operand >= 0 ? kinds[operand]! : 'int';
  }

  /** REG = the integer of an RK operand (a maybe operand that is nil fails with CODE). */
  loadInt(reg: Reg, kinds: readonly Kind[], operand: number, nilCode = NIL_ARITHMETIC): void {
    const { asm } = this;
    if (operand < 0) {
      const constant = this.input.analysis.proto.constants[-1 - operand]!;
      asm.movImm(reg, constant as number | bigint);
      return;
    }
    if (kinds[operand] === 'maybe') {
      asm.load('DW', reg, FP, this.present(operand));
      asm.jumpImm('jeq', reg, 0, this.fail(nilCode));
    } else if (kinds[operand] === 'nil' || kinds[operand] === 'unset') {
      asm.goto(this.fail(nilCode));
    }
    asm.load('DW', reg, FP, this.value(operand));
  }

  setInt(register: number, reg: Reg): void {
    this.asm.store('DW', FP, this.value(register), reg);
    this.asm.storeImm('DW', FP, this.present(register), 1);
  }

  setNil(register: number): void {
    this.asm.storeImm('DW', FP, this.value(register), 0);
    this.asm.storeImm('DW', FP, this.present(register), 0);
  }

  /** REG = 1 when the operand holds a value (true for numbers, booleans by value). */
  truth(reg: Reg, kinds: readonly Kind[], register: number): void {
    const kind = kinds[register]!;
    if (kind === 'bool') this.asm.load('DW', reg, FP, this.value(register));
    else if (kind === 'maybe') this.asm.load('DW', reg, FP, this.present(register));
    else this.asm.movImm(reg, kind === 'int' ? 1 : 0);
  }
}
