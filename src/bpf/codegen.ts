// Analysed handler Proto → eBPF: every ktap register lives in two stack slots (value, and
// whether it holds a value rather than nil), each ktap instruction becomes a short eBPF
// sequence, and every eBPF slot keeps the ktap line it came from.

import { Assembler, FP, Helper, type JmpName, type Label, type Reg } from './asm';
import { PART_BYTES, keyBytes, type Analysis, type Kind, type KeyKind, type PartKind } from './analyze';
import { INSTRUCTION_WIDTH, OPCODES, EVENT_VARIABLES, type OpName } from '../vm/opcodes';
import type { FieldLayout } from '../probes/format';
import { SYSCALL_NUMBERS_END } from './syscalls';
import { emitTracedCheck } from './traced-processes';
import { NO_KERNEL_STACK } from './kernel-stacks';

/** How a kernel table or scalar is stored: its map, and whether it is a per-CPU map of sums. */
export interface MapBinding {
  readonly fd: number;
  readonly percpu: boolean;
}
export interface TableBinding extends MapBinding {
  readonly key: KeyKind;
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
  | { readonly kind: 'sample' };

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
const DIV_ZERO = 1, MOD_ZERO = 2, NIL_ARITHMETIC = 3, TABLE_FULL = 4, NIL_COMPARE = 5, WRONG_ARGUMENT = 6, LINEAR_STEP = 7, LINEAR_RANGE = 8;
const NIL_BITWISE = 9;

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
   * Raw system call tracepoints fire for every call: the program runs for the numbers set in
   * this array map (one entry, a bitmap of SYSCALL_NUMBERS_END bits; see syscallBitmap).
   */
  readonly syscallsFd?: number;
  /** Added to CLOCK_MONOTONIC (bpf_ktime_get_ns) to give wall-clock time, as the user tier does. */
  readonly wallOffsetNs: bigint;
  /** The stack map (BPF_MAP_TYPE_STACK_TRACE) of stack() keys, when the handler calls stack(). */
  readonly stackMapFd?: number;
  /** A /filter/ compiled to a condition on the record (jumps to `skip` when false). */
  readonly filter?: (asm: Assembler, context: Reg, skip: Label) => void;
}

/** The value of the syscallsFd map: bit N set when the program runs for system call N. */
export function syscallBitmap(numbers: Iterable<number>): Buffer {
  const bitmap = Buffer.alloc(SYSCALL_NUMBERS_END / 8);
  for (const number of numbers) if (number >= 0 && number < SYSCALL_NUMBERS_END) bitmap[number >> 3]! |= 1 << (number & 7);
  return bitmap;
}

export interface Generated {
  readonly code: Buffer;
  /** The ktap line of each eBPF slot. */
  readonly lines: Int32Array;
}

const CTX: Reg = 6;
const EEXIST = 17;
const ENOMEM = 12;
// x86-64 struct pt_regs offsets of the system call arguments, number and return value.
const PT_REGS_ORIG_AX = 120;

export function generate(input: CodegenInput): Generated {
  return new Generator(input).run();
}

class Generator {
  private readonly asm = new Assembler();
  private readonly registers: number;
  private readonly keyOffset: number;
  private readonly valueOffset: number;
  private readonly errorStubs: Array<{ label: Label; code: number; line: number }> = [];
  private readonly labels = new Map<number, Label>();
  private readonly exitLabel: Label;
  /** The stack area of the key each TUPLE builds, by its pc (below the value slot). */
  private readonly tupleOffsets = new Map<number, number>();

  constructor(private readonly input: CodegenInput) {
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

  private value(register: number): number {
    return -8 * (register + 1);
  }
  private present(register: number): number {
    return -8 * (this.registers + register + 1);
  }
  private labelAt(pc: number): Label {
    let label = this.labels.get(pc);
    if (label === undefined) this.labels.set(pc, (label = this.asm.label(`pc${pc}`)));
    return label;
  }

  run(): Generated {
    const { asm, input } = this;
    const proto = input.analysis.proto;
    asm.line = proto.lineDefined;
    asm.mov(CTX, 1);
    this.prologue();
    // Every stack slot the program may read is written first (the verifier insists).
    for (let offset = this.valueOffset; offset < 0; offset += 8) asm.storeImm('DW', FP, offset, 0);
    this.countHit();
    for (let pc = 0; pc < proto.lines.length; pc++) {
      const label = this.labels.get(pc);
      if (label !== undefined) asm.place(label);
      const kinds = input.analysis.kinds[pc];
      if (kinds === null || kinds === undefined) continue;
      asm.line = proto.lines[pc]!;
      this.instruction(pc, kinds);
    }
    asm.place(this.exitLabel);
    asm.movImm(0, 0);
    asm.exit();
    this.errorReports();
    return asm.finish();
  }

  /** The filters that decide whether the handler runs at all: -C, -p / -- cmd, system call ids, /filter/. */
  private prologue(): void {
    const { asm, input } = this;
    if (input.syscallsFd !== undefined) {
      // Bit `id` of the bitmap: one lookup and a shift, whatever the number of system calls.
      const ID: Reg = 8;
      this.syscallId(ID);
      asm.jumpImm('jge', ID, SYSCALL_NUMBERS_END, this.exitLabel); // unsigned: -1 and x32 ids too
      asm.storeImm('W', FP, this.keyOffset, 0);
      asm.mapLookup(input.syscallsFd, this.keyOffset);
      asm.jumpImm('jeq', 0, 0, this.exitLabel);
      asm.mov(1, ID);
      asm.aluImm('rsh', 1, 3);
      asm.alu('add', 0, 1);
      asm.load('B', 1, 0, 0);
      asm.mov(2, ID);
      asm.aluImm('and', 2, 7);
      asm.alu('rsh', 1, 2);
      asm.aluImm('and', 1, 1);
      asm.jumpImm('jeq', 1, 0, this.exitLabel);
    }
    if (input.cpu !== undefined) {
      asm.call(Helper.getSmpProcessorId);
      asm.jumpImm('jne', 0, input.cpu, this.exitLabel);
    }
    if (input.excludeTgid !== undefined) {
      asm.call(Helper.getCurrentPidTgid);
      asm.aluImm('rsh', 0, 32);
      asm.jumpImm('jeq', 0, input.excludeTgid, this.exitLabel);
    }
    if (input.tracedFd !== undefined) emitTracedCheck(asm, input.tracedFd);
    input.filter?.(asm, CTX, this.exitLabel);
  }

  /**
   * REG = the system call number on a raw system call tracepoint: sys_enter's second
   * argument; on sys_exit (whose second argument is the return value) regs->orig_ax.
   */
  private syscallId(reg: Reg): void {
    const { asm } = this;
    if (this.input.access.kind === 'rawSysEnter') {
      asm.load('DW', reg, CTX, 8);
      return;
    }
    asm.load('DW', 3, CTX, 0);
    asm.aluImm('add', 3, PT_REGS_ORIG_AX);
    this.valuePointer(1);
    asm.movImm(2, 8);
    asm.call(Helper.probeReadKernel);
    asm.load('DW', reg, FP, this.valueOffset);
  }

  private countHit(): void {
    const { asm } = this;
    asm.storeImm('W', FP, this.keyOffset, 0);
    asm.mapLookup(this.input.hitsFd, this.keyOffset);
    const skip = asm.label();
    asm.jumpImm('jeq', 0, 0, skip);
    asm.load('DW', 1, 0, 0);
    asm.aluImm('add', 1, 1);
    asm.store('DW', 0, 0, 1);
    asm.place(skip);
  }

  private keyPointer(reg: Reg, offset = this.keyOffset): void {
    this.asm.mov(reg, FP);
    this.asm.aluImm('add', reg, offset);
  }
  private valuePointer(reg: Reg): void {
    this.asm.mov(reg, FP);
    this.asm.aluImm('add', reg, this.valueOffset);
  }

  /** Jumps to a stub counting error CODE at the current line, which ends the run. */
  private fail(code: number): Label {
    const label = this.asm.label(`error${code}`);
    this.errorStubs.push({ label, code, line: this.asm.line });
    return label;
  }

  private errorReports(): void {
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

  // ---- operands --------------------------------------------------------------------

  private kindOf(kinds: readonly Kind[], operand: number): Kind {
    return operand >= 0 ? kinds[operand]! : 'int';
  }

  /** REG = the integer of an RK operand (a maybe operand that is nil fails with CODE). */
  private loadInt(reg: Reg, kinds: readonly Kind[], operand: number, nilCode = NIL_ARITHMETIC): void {
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

  private setInt(register: number, reg: Reg): void {
    this.asm.store('DW', FP, this.value(register), reg);
    this.asm.storeImm('DW', FP, this.present(register), 1);
  }

  private setNil(register: number): void {
    this.asm.storeImm('DW', FP, this.value(register), 0);
    this.asm.storeImm('DW', FP, this.present(register), 0);
  }

  /** REG = 1 when the operand holds a value (true for numbers, booleans by value). */
  private truth(reg: Reg, kinds: readonly Kind[], register: number): void {
    const kind = kinds[register]!;
    if (kind === 'bool') this.asm.load('DW', reg, FP, this.value(register));
    else if (kind === 'maybe') this.asm.load('DW', reg, FP, this.present(register));
    else this.asm.movImm(reg, kind === 'int' ? 1 : 0);
  }

  /**
   * The map key of a table laid out as KEY from an RK operand: a tuple's is in its stack
   * area already, another is written at the key slot. Returns the key's offset from FP.
   */
  private buildKey(key: KeyKind, kinds: readonly Kind[], operand: number): number {
    const kind = this.kindOf(kinds, operand);
    if (kind.startsWith('tuple:')) return this.tupleOffsets.get(Number(kind.slice('tuple:'.length)))!;
    this.storePart(key as PartKind, kinds, operand, this.keyOffset);
    return this.keyOffset;
  }

  /** Writes the key part PART that an RK operand holds at FP+OFFSET. */
  private storePart(part: PartKind, kinds: readonly Kind[], operand: number, offset: number): void {
    const { asm } = this;
    switch (part) {
      case 'comm':
        asm.storeImm('DW', FP, offset, 0);
        asm.storeImm('DW', FP, offset + 8, 0);
        this.keyPointer(1, offset);
        asm.movImm(2, 16);
        asm.call(Helper.getCurrentComm);
        return;
      case 'name':
        asm.mov(1, CTX);
        asm.call(Helper.getAttachCookie);
        asm.store('DW', FP, offset, 0);
        return;
      case 'int': case 'bool': case 'kstack': // a boolean's value slot holds 0 or 1, a stack's its id
        this.loadInt(1, kinds, operand);
        asm.store('DW', FP, offset, 1);
    }
  }

  /** TUPLE: the key of its parts, built now in its own area (the parts' registers may be reused before the key is). */
  private tuple(pc: number, kinds: readonly Kind[], a: number): void {
    let offset = this.tupleOffsets.get(pc)!;
    this.input.analysis.tuples.get(pc)!.forEach((part, index) => {
      this.storePart(part, kinds, a + 1 + index, offset);
      offset += PART_BYTES[part];
    });
  }

  private table(kinds: readonly Kind[], register: number): TableBinding {
    const id = Number(kinds[register]!.slice('table:'.length));
    return this.input.tables.get(id)!;
  }

  private scalar(upvalue: number): MapBinding {
    return this.input.scalars.get(upvalue)!;
  }

  /** R0 = the scalar's map value {value, set}, never null past this point. */
  private scalarValue(binding: MapBinding): void {
    const { asm } = this;
    asm.storeImm('W', FP, this.keyOffset, 0);
    asm.mapLookup(binding.fd, this.keyOffset);
    asm.jumpImm('jeq', 0, 0, this.exitLabel);
  }

  // ---- instructions ----------------------------------------------------------------

  private instruction(pc: number, kinds: readonly Kind[]): void {
    const { asm } = this;
    const proto = this.input.analysis.proto;
    const base = pc * INSTRUCTION_WIDTH;
    const name = OPCODES[proto.code[base]!]!.name as OpName;
    const a = proto.code[base + 1]!;
    const b = proto.code[base + 2]!;
    const c = proto.code[base + 3]!;
    switch (name) {
      case 'MOVE':
        asm.load('DW', 1, FP, this.value(b));
        asm.store('DW', FP, this.value(a), 1);
        asm.load('DW', 1, FP, this.present(b));
        asm.store('DW', FP, this.present(a), 1);
        return;
      case 'LOADK':
        this.loadInt(1, kinds, -1 - b);
        this.setInt(a, 1);
        return;
      case 'LOADNIL':
        this.setNil(a);
        return;
      case 'GETGLOBAL':
        return; // a builtin: CALL emits its code
      case 'LOADBOOL':
        asm.storeImm('DW', FP, this.value(a), b);
        asm.storeImm('DW', FP, this.present(a), 1);
        return;
      case 'GETUPVAL': {
        const scalar = this.input.scalars.get(this.upvalueId(b));
        if (scalar === undefined) return; // a table: its register is only a name for it
        this.scalarValue(scalar);
        asm.load('DW', 1, 0, 0);
        asm.store('DW', FP, this.value(a), 1);
        asm.load('DW', 1, 0, 8);
        asm.store('DW', FP, this.present(a), 1);
        return;
      }
      case 'SETUPVAL':
      case 'INCRUPVAL': {
        const binding = this.scalar(this.upvalueId(a));
        const kind = this.kindOf(kinds, b);
        if (kind !== 'nil') this.loadInt(7, kinds, b);
        this.scalarValue(binding);
        if (name === 'INCRUPVAL') {
          if (binding.percpu) {
            asm.load('DW', 1, 0, 0);
            asm.alu('add', 1, 7);
            asm.store('DW', 0, 0, 1);
          } else asm.atomicAdd(0, 0, 7);
          asm.storeImm('DW', 0, 8, 1);
        } else if (kind === 'nil') {
          asm.storeImm('DW', 0, 0, 0);
          asm.storeImm('DW', 0, 8, 0);
        } else {
          asm.store('DW', 0, 0, 7);
          asm.storeImm('DW', 0, 8, 1);
        }
        return;
      }
      case 'GETTABLE': {
        const table = this.table(kinds, b);
        asm.mapLookup(table.fd, this.buildKey(table.key, kinds, c));
        const missing = asm.label();
        const done = asm.label();
        asm.jumpImm('jeq', 0, 0, missing);
        asm.load('DW', 1, 0, 0);
        this.setInt(a, 1);
        asm.goto(done);
        asm.place(missing);
        this.setNil(a);
        asm.place(done);
        return;
      }
      case 'SETTABLE': {
        const table = this.table(kinds, a);
        const kind = this.kindOf(kinds, c);
        const remove = asm.label();
        const done = asm.label();
        if (kind === 'maybe') {
          asm.load('DW', 1, FP, this.present(c));
          asm.jumpImm('jeq', 1, 0, remove);
        }
        if (kind !== 'nil') {
          this.loadInt(7, kinds, c);
          const key = this.buildKey(table.key, kinds, b);
          asm.store('DW', FP, this.valueOffset, 7);
          asm.mapUpdate(table.fd, key, this.valueOffset, 0);
          asm.jumpImm('jne', 0, 0, this.fail(TABLE_FULL));
          if (kind !== 'maybe') return; // no nil to delete: the verifier refuses dead code
          asm.goto(done);
        }
        asm.place(remove);
        const key = this.buildKey(table.key, kinds, b);
        asm.loadMap(1, table.fd);
        this.keyPointer(2, key);
        asm.call(Helper.mapDeleteElem);
        asm.place(done);
        return;
      }
      case 'INCRTABLE':
        this.increment(this.table(kinds, a), kinds, b, c);
        return;
      case 'ADD': case 'SUB': case 'MUL': case 'DIV': case 'MOD': {
        this.loadInt(1, kinds, b);
        this.loadInt(2, kinds, c);
        if (name === 'DIV' || name === 'MOD') asm.jumpImm('jeq', 2, 0, this.fail(name === 'DIV' ? DIV_ZERO : MOD_ZERO));
        const op = ({ ADD: 'add', SUB: 'sub', MUL: 'mul', DIV: 'div', MOD: 'mod' } as const)[name];
        asm.alu(op, 1, 2, true);
        this.setInt(a, 1);
        return;
      }
      case 'UNM':
        this.loadInt(1, kinds, b);
        asm.aluImm('neg', 1, 0);
        this.setInt(a, 1);
        return;
      case 'BAND': case 'BOR': case 'BXOR':
        this.loadInt(1, kinds, b, NIL_BITWISE);
        this.loadInt(2, kinds, c, NIL_BITWISE);
        asm.alu(({ BAND: 'and', BOR: 'or', BXOR: 'xor' } as const)[name], 1, 2);
        this.setInt(a, 1);
        return;
      case 'BNOT':
        this.loadInt(1, kinds, b, NIL_BITWISE);
        asm.aluImm('xor', 1, -1); // the immediate is sign-extended: all 64 bits flip
        this.setInt(a, 1);
        return;
      case 'SHL': case 'SHR': case 'USHR':
        this.shift(name, kinds, a, b, c);
        return;
      case 'TUPLE':
        this.tuple(pc, kinds, a);
        return;
      case 'LT': case 'LE':
        this.loadInt(1, kinds, b, NIL_COMPARE);
        this.loadInt(2, kinds, c, NIL_COMPARE);
        this.condition(a, name === 'LT' ? 'jslt' : 'jsle');
        return;
      case 'EQ': case 'NE':
        this.equality(kinds, a, b, c, name === 'NE');
        return;
      case 'NOT':
        if (b < 0) asm.movImm(1, 0);
        else {
          this.truth(1, kinds, b);
          asm.aluImm('xor', 1, 1);
        }
        asm.store('DW', FP, this.value(a), 1);
        asm.storeImm('DW', FP, this.present(a), 1);
        return;
      case 'INCR': {
        // `x += e` where x is nil counts from 0.
        asm.load('DW', 1, FP, this.value(a));
        if (kinds[a] === 'maybe') {
          asm.load('DW', 2, FP, this.present(a));
          const keep = asm.label();
          asm.jumpImm('jne', 2, 0, keep);
          asm.movImm(1, 0);
          asm.place(keep);
        }
        this.loadInt(2, kinds, b);
        asm.alu('add', 1, 2);
        this.setInt(a, 1);
        return;
      }
      case 'JMP':
        asm.goto(this.labelAt(pc + 1 + a));
        return;
      case 'JMPT': case 'JMPF':
        this.truth(1, kinds, a);
        asm.jumpImm(name === 'JMPT' ? 'jne' : 'jeq', 1, 0, this.labelAt(pc + 1 + b));
        return;
      case 'CALL':
        this.call(kinds, a, b);
        return;
      case 'RETURN': case 'RETNIL':
        asm.goto(this.exitLabel);
        return;
      case 'EVENTVAR':
        this.eventVariable(a, EVENT_VARIABLES[b]!);
        return;
      case 'FIELD':
        this.namedField(a, proto.constants[b] as string);
        return;
      default:
        throw new Error(`kernel tier: ${name} passed the analysis but has no code`);
    }
  }

  /** The global id of upvalue U (the analysis bound globals by upvalue index). */
  private upvalueId(upvalue: number): number {
    return this.input.analysis.globals[upvalue]?.id ?? -1;
  }

  /** R(A) = (R1 OP R2) as a boolean. */
  private condition(a: number, op: JmpName): void {
    const { asm } = this;
    const yes = asm.label();
    asm.movImm(3, 1);
    asm.jump(op, 1, 2, yes);
    asm.movImm(3, 0);
    asm.place(yes);
    asm.store('DW', FP, this.value(a), 3);
    asm.storeImm('DW', FP, this.present(a), 1);
  }

  private equality(kinds: readonly Kind[], a: number, b: number, c: number, negate: boolean): void {
    const { asm } = this;
    const left = this.kindOf(kinds, b);
    const right = this.kindOf(kinds, c);
    const nilable = (kind: Kind) => kind === 'nil' || kind === 'maybe' || kind === 'unset';
    // Presence first: both nil are equal, one nil is not; then the values (a boolean and a
    // number never are equal: their kinds differ).
    const result: Reg = 3;
    const done = asm.label();
    const present = (reg: Reg, operand: number, kind: Kind): void => {
      if (operand < 0 || kind === 'int' || kind === 'bool') asm.movImm(reg, 1);
      else if (kind === 'maybe') asm.load('DW', reg, FP, this.present(operand));
      else asm.movImm(reg, 0);
    };
    const sameFamily = (left === 'bool') === (right === 'bool');
    asm.movImm(result, 0);
    present(1, b, left);
    present(2, c, right);
    const bothPresent = asm.label();
    if (nilable(left) || nilable(right)) {
      asm.jump('jne', 1, 2, done); // one nil, one not: unequal
      asm.jumpImm('jne', 1, 0, bothPresent);
      asm.movImm(result, 1); // both nil
      asm.goto(done);
    }
    asm.place(bothPresent);
    if (sameFamily) {
      if (b < 0) asm.movImm(1, this.input.analysis.proto.constants[-1 - b] as number | bigint);
      else asm.load('DW', 1, FP, this.value(b));
      if (c < 0) asm.movImm(2, this.input.analysis.proto.constants[-1 - c] as number | bigint);
      else asm.load('DW', 2, FP, this.value(c));
      asm.jump('jne', 1, 2, done);
      asm.movImm(result, 1);
    }
    asm.place(done);
    if (negate) asm.aluImm('xor', result, 1);
    asm.store('DW', FP, this.value(a), result);
    asm.storeImm('DW', FP, this.present(a), 1);
  }

  /**
   * R(A) = RK(B) shifted by RK(C) bits as the VM shifts (docs/language.md): SHL left, SHR
   * right copying the sign, USHR right with zeros; a negative count shifts the other way
   * (SHL's the way of USHR), and 64 bits or more shift everything out.
   */
  private shift(name: 'SHL' | 'SHR' | 'USHR', kinds: readonly Kind[], a: number, b: number, c: number): void {
    const { asm } = this;
    const left = name === 'SHL';
    const sign = name === 'SHR';
    this.loadInt(1, kinds, b, NIL_BITWISE);
    if (c < 0) {
      // A constant count: its direction and range are known now.
      let count = BigInt(this.input.analysis.proto.constants[-1 - c] as number | bigint);
      const toLeft = count < 0n ? !left : left;
      if (count < 0n) count = -count;
      if (!toLeft && sign) asm.aluImm('arsh', 1, Number(count >= 63n ? 63n : count));
      else if (count >= 64n) asm.movImm(1, 0);
      else asm.aluImm(toLeft ? 'lsh' : 'rsh', 1, Number(count));
    } else {
      this.loadInt(2, kinds, c, NIL_BITWISE);
      const negative = asm.label();
      const done = asm.label();
      asm.jumpImm('jslt', 2, 0, negative);
      this.shiftBy(left, sign, done);
      asm.place(negative);
      asm.aluImm('neg', 2, 0); // -(-2^63) stays 2^63 unsigned: out of range, as in the VM
      this.shiftBy(!left, sign, done);
      asm.place(done);
    }
    this.setInt(a, 1);
  }

  /** R1 shifted by the count in R2 (unsigned), then to DONE: left, or right copying the sign (SIGN) or with zeros. */
  private shiftBy(left: boolean, sign: boolean, done: Label): void {
    const { asm } = this;
    const inRange = asm.label();
    if (!left && sign) {
      // 63 bits or more leave only copies of the sign bit.
      asm.jumpImm('jlt', 2, 64, inRange);
      asm.movImm(2, 63);
      asm.place(inRange);
      asm.alu('arsh', 1, 2);
      asm.goto(done);
      return;
    }
    asm.jumpImm('jlt', 2, 64, inRange);
    asm.movImm(1, 0);
    asm.goto(done);
    asm.place(inRange);
    asm.alu(left ? 'lsh' : 'rsh', 1, 2);
    asm.goto(done);
  }

  /** t[k] += e: an existing entry is added to in place; a new one is inserted (or found again after a race). */
  private increment(table: TableBinding, kinds: readonly Kind[], key: number, delta: number): void {
    const { asm } = this;
    this.loadInt(7, kinds, delta);
    const keyOffset = this.buildKey(table.key, kinds, key);
    const insert = asm.label();
    const added = asm.label();
    const lookup = (): void => {
      asm.mapLookup(table.fd, keyOffset);
    };
    const add = (): void => {
      if (table.percpu) {
        asm.load('DW', 1, 0, 0);
        asm.alu('add', 1, 7);
        asm.store('DW', 0, 0, 1);
      } else asm.atomicAdd(0, 0, 7);
    };
    lookup();
    asm.jumpImm('jeq', 0, 0, insert);
    add();
    asm.goto(added);
    asm.place(insert);
    asm.store('DW', FP, this.valueOffset, 7);
    asm.mapUpdate(table.fd, keyOffset, this.valueOffset, 1); // BPF_NOEXIST: another CPU may have inserted it meanwhile
    asm.jumpImm('jeq', 0, 0, added);
    asm.jumpImm('jne', 0, -EEXIST, this.fail(TABLE_FULL));
    lookup();
    asm.jumpImm('jeq', 0, 0, added);
    add();
    asm.place(added);
  }

  private call(kinds: readonly Kind[], a: number, count: number): void {
    const { asm } = this;
    const builtin = kinds[a]!.slice('fn:'.length);
    if (builtin.startsWith('gettimeofday_')) {
      asm.call(Helper.ktimeGetNs);
      asm.movImm(1, this.input.wallOffsetNs);
      asm.alu('add', 0, 1);
      const unit = { s: 1_000_000_000, ms: 1_000_000, us: 1000, ns: 1 }[builtin.slice('gettimeofday_'.length) as 's' | 'ms' | 'us' | 'ns'];
      if (unit !== 1) asm.aluImm('div', 0, unit); // the wall clock is positive: unsigned division is exact
      this.setInt(a, 0);
      return;
    }
    if (builtin === 'log2') {
      this.loadInt(1, kinds, a + 1, WRONG_ARGUMENT);
      this.log2(a);
      return;
    }
    if (builtin === 'linear') {
      this.linear(kinds, a);
      return;
    }
    if (builtin === 'stack') {
      this.kernelStackId(a);
      return;
    }
    // min / max: a nil argument is skipped; nil only when both are.
    void count;
    const first = a + 1;
    const second = a + 2;
    const done = asm.label();
    const takeSecond = asm.label();
    const presentOf = (reg: Reg, register: number) => {
      if (kinds[register] === 'maybe') asm.load('DW', reg, FP, this.present(register));
      else asm.movImm(reg, 1);
    };
    presentOf(3, first);
    presentOf(4, second);
    asm.load('DW', 1, FP, this.value(first));
    asm.load('DW', 2, FP, this.value(second));
    asm.jumpImm('jeq', 3, 0, takeSecond);
    asm.jumpImm('jeq', 4, 0, done); // R1 is the answer
    asm.jump(builtin === 'min' ? 'jsle' : 'jsge', 1, 2, done);
    asm.place(takeSecond);
    asm.mov(1, 2);
    asm.mov(3, 4);
    asm.place(done);
    asm.store('DW', FP, this.value(a), 1);
    asm.store('DW', FP, this.present(a), 3);
  }

  /**
   * R(A) = stack(): the id of the sampled kernel stack in the stack map (its first
   * DEFAULT_STACK_DEPTH frames, as stack() shows them), or NO_KERNEL_STACK when the sample
   * has no kernel stack (it interrupted user space), which reads back as "". A stack the map
   * cannot take (its bucket holds another stack, or the map is full) is `table overflow`.
   */
  private kernelStackId(a: number): void {
    const { asm } = this;
    asm.mov(1, CTX);
    asm.loadMap(2, this.input.stackMapFd!);
    asm.movImm(3, 0);
    asm.call(Helper.getStackid);
    asm.jumpImm('jeq', 0, -EEXIST, this.fail(TABLE_FULL));
    asm.jumpImm('jeq', 0, -ENOMEM, this.fail(TABLE_FULL));
    const found = asm.label();
    asm.jumpImm('jsge', 0, 0, found);
    asm.movImm(0, NO_KERNEL_STACK);
    asm.place(found);
    this.setInt(a, 0);
  }

  /** R(A) = linear(x, min, max, step): min + k×step ≤ x; min-1 below min, max from max on (as the VM's). */
  private linear(kinds: readonly Kind[], a: number): void {
    const { asm } = this;
    const done = asm.label();
    this.loadInt(1, kinds, a + 1, WRONG_ARGUMENT);
    this.loadInt(2, kinds, a + 2);
    this.loadInt(3, kinds, a + 3);
    this.loadInt(4, kinds, a + 4);
    asm.jumpImm('jsle', 4, 0, this.fail(LINEAR_STEP));
    asm.jump('jsle', 3, 2, this.fail(LINEAR_RANGE));
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
    this.setInt(a, 0);
  }

  /** R(A) = log2 bucket of R1: -1 below 0, 0 for 0, else the largest power of two ≤ R1. */
  private log2(a: number): void {
    const { asm } = this;
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
    this.setInt(a, 2);
  }

  /** Keeps the low 32 bits of `register` (a helper's packed pair: tid of pid_tgid, uid of uid_gid). */
  private lowHalf(register: Reg): void {
    this.asm.aluImm('lsh', register, 32);
    this.asm.aluImm('rsh', register, 32);
  }

  private eventVariable(a: number, variable: (typeof EVENT_VARIABLES)[number]): void {
    const { asm } = this;
    switch (variable) {
      case 'pid': case 'tid':
        asm.call(Helper.getCurrentPidTgid);
        // The helper gives tgid << 32 | tid: pid is the high half, tid the low one.
        if (variable === 'pid') asm.aluImm('rsh', 0, 32);
        else this.lowHalf(0);
        this.setInt(a, 0);
        return;
      case 'uid':
        asm.call(Helper.getCurrentUidGid);
        this.lowHalf(0);
        this.setInt(a, 0);
        return;
      case 'cpu':
        asm.call(Helper.getSmpProcessorId);
        this.setInt(a, 0);
        return;
      case 'execname': case 'probename':
        return; // read where used (a key): the comm by helper, the name by attach cookie
      default:
        this.argument(a, Number(variable.slice(3)));
    }
  }

  /** R(A) = args.NAME: the record's integer field NAME; on a raw system call tracepoint its number or return value. */
  private namedField(a: number, name: string): void {
    const access = this.input.access;
    if (access.kind === 'record') {
      const index = access.fields.findIndex((field) => field.name === name);
      if (index < 0) this.setNil(a);
      else this.argument(a, index);
      return;
    }
    if (name === '__syscall_nr' && access.kind !== 'sample') this.argument(a, 0);
    else if (name === 'ret' && access.kind === 'rawSysExit') this.argument(a, 1);
    else this.setNil(a);
  }

  private argument(a: number, index: number): void {
    const { asm } = this;
    const access = this.input.access;
    if (access.kind === 'rawSysEnter' || access.kind === 'rawSysExit') {
      if (index === 0 && access.kind === 'rawSysEnter') asm.load('DW', 1, CTX, 8);
      else if (index === 1 && access.kind === 'rawSysExit') asm.load('DW', 1, CTX, 8);
      else if (index === 0) this.syscallId(1);
      else {
        this.setNil(a);
        return;
      }
      this.setInt(a, 1);
      return;
    }
    const field = access.kind === 'sample' ? undefined : access.fields[index];
    if (field === undefined || field.kind !== 'int' || ![1, 2, 4, 8].includes(field.size)) {
      this.setNil(a);
      return;
    }
    const size = ({ 1: 'B', 2: 'H', 4: 'W', 8: 'DW' } as const)[field.size as 1 | 2 | 4 | 8];
    asm.load(size, 1, CTX, field.offset);
    if (field.signed && field.size < 8) {
      const shift = 64 - field.size * 8;
      asm.aluImm('lsh', 1, shift);
      asm.aluImm('arsh', 1, shift);
    }
    this.setInt(a, 1);
  }
}
