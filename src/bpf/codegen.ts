// Analysed handler Proto → eBPF: the prologue (the filters deciding whether the handler runs),
// then each ktap instruction in order as a short eBPF sequence, every eBPF slot keeping the
// ktap line it came from. The frame and operands are codegen-frame.ts; tables and scalars
// codegen-tables.ts; comparisons and shifts codegen-operators.ts; builtins
// codegen-builtins.ts; reads of the event codegen-event.ts.

import { FP, Helper, type Label, type Reg } from './asm';
import type { Kind } from './analyze';
import { INSTRUCTION_WIDTH, OPCODES, EVENT_VARIABLES, type OpName } from '../vm/opcodes';
import { SYSCALL_NUMBERS_END } from './syscalls';
import { emitTracedCheck } from './traced-processes';
import type { CodegenInput } from './codegen-input';
import { CTX, DIV_ZERO, Frame, MOD_ZERO, NIL_BITWISE, NIL_COMPARE } from './codegen-frame';
import { getTable, getUpvalue, incrementTable, setTable, setUpvalue, tuple } from './codegen-tables';
import { condition, equality, shift } from './codegen-operators';
import { call } from './codegen-builtins';
import { eventVariable, namedField, syscallId } from './codegen-event';

/** The value of the system call bitmap map: bit N set when the program runs for system call N. */
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

export function generate(input: CodegenInput): Generated {
  return new Generator(input).run();
}

/** Walks the handler's instructions in order, each to its eBPF, between the prologue and the error stubs. */
class Generator {
  private readonly frame: Frame;
  private readonly labels = new Map<number, Label>();

  constructor(input: CodegenInput) {
    this.frame = new Frame(input);
  }

  private labelAt(pc: number): Label {
    const { asm } = this.frame;
    let label = this.labels.get(pc);
    if (label === undefined) this.labels.set(pc, (label = asm.label(`pc${pc}`)));
    return label;
  }

  run(): Generated {
    const { frame } = this;
    const { asm, input } = frame;
    const proto = input.analysis.proto;
    asm.line = proto.lineDefined;
    asm.mov(CTX, 1);
    this.prologue();
    // Every stack slot the program may read is written first (the verifier insists).
    for (let offset = frame.valueOffset; offset < 0; offset += 8) asm.storeImm('DW', FP, offset, 0);
    frame.count(input.hitsFd);
    for (let pc = 0; pc < proto.lines.length; pc++) {
      const label = this.labels.get(pc);
      if (label !== undefined) asm.place(label);
      const kinds = input.analysis.kinds[pc];
      if (kinds === null || kinds === undefined) continue;
      asm.line = proto.lines[pc]!;
      this.instruction(pc, kinds);
    }
    asm.place(frame.exitLabel);
    asm.movImm(0, 0);
    asm.exit();
    frame.errorReports();
    return asm.finish();
  }

  /** The filters that decide whether the handler runs at all: -C, -p / -- cmd, system call ids, /filter/. */
  private prologue(): void {
    const { frame } = this;
    const { asm, input } = frame;
    if (input.syscalls !== undefined) {
      const ID: Reg = 8;
      syscallId(frame, ID);
      if ('numbers' in input.syscalls) {
        const run = asm.label('syscall');
        for (const number of input.syscalls.numbers) asm.jumpImm('jeq', ID, number, run);
        asm.goto(frame.exitLabel);
        asm.place(run);
      } else {
        // Bit `id` of the bitmap: one lookup and a shift, whatever the number of system calls.
        asm.jumpImm('jge', ID, SYSCALL_NUMBERS_END, frame.exitLabel); // unsigned: -1 and x32 ids too
        asm.storeImm('W', FP, frame.keyOffset, 0);
        asm.mapLookup(input.syscalls.bitmapFd, frame.keyOffset);
        asm.jumpImm('jeq', 0, 0, frame.exitLabel);
        asm.mov(1, ID);
        asm.aluImm('rsh', 1, 3);
        asm.alu('add', 0, 1);
        asm.load('B', 1, 0, 0);
        asm.mov(2, ID);
        asm.aluImm('and', 2, 7);
        asm.alu('rsh', 1, 2);
        asm.aluImm('and', 1, 1);
        asm.jumpImm('jeq', 1, 0, frame.exitLabel);
      }
    }
    if (input.cpu !== undefined) {
      asm.call(Helper.getSmpProcessorId);
      asm.jumpImm('jne', 0, input.cpu, frame.exitLabel);
    }
    if (input.excludeTgid !== undefined) {
      asm.call(Helper.getCurrentPidTgid);
      asm.aluImm('rsh', 0, 32);
      asm.jumpImm('jeq', 0, input.excludeTgid, frame.exitLabel);
    }
    if (input.tracedFd !== undefined) emitTracedCheck(asm, input.tracedFd);
    input.filter?.(asm, CTX, frame.exitLabel);
  }

  private instruction(pc: number, kinds: readonly Kind[]): void {
    const { frame } = this;
    const { asm } = frame;
    const proto = frame.input.analysis.proto;
    const base = pc * INSTRUCTION_WIDTH;
    const name = OPCODES[proto.code[base]!]!.name as OpName;
    const a = proto.code[base + 1]!;
    const b = proto.code[base + 2]!;
    const c = proto.code[base + 3]!;
    switch (name) {
      case 'MOVE':
        asm.load('DW', 1, FP, frame.value(b));
        asm.store('DW', FP, frame.value(a), 1);
        asm.load('DW', 1, FP, frame.present(b));
        asm.store('DW', FP, frame.present(a), 1);
        return;
      case 'LOADK':
        frame.loadInt(1, kinds, -1 - b);
        frame.setInt(a, 1);
        return;
      case 'LOADNIL':
        frame.setNil(a);
        return;
      case 'GETGLOBAL':
        return; // a builtin: CALL emits its code
      case 'LOADBOOL':
        asm.storeImm('DW', FP, frame.value(a), b);
        asm.storeImm('DW', FP, frame.present(a), 1);
        return;
      case 'GETUPVAL':
        getUpvalue(frame, a, b);
        return;
      case 'SETUPVAL': case 'INCRUPVAL':
        setUpvalue(frame, kinds, a, b, name === 'INCRUPVAL');
        return;
      case 'GETTABLE':
        getTable(frame, kinds, a, b, c);
        return;
      case 'SETTABLE':
        setTable(frame, kinds, a, b, c);
        return;
      case 'INCRTABLE':
        incrementTable(frame, kinds, a, b, c);
        return;
      case 'ADD': case 'SUB': case 'MUL': case 'DIV': case 'MOD': {
        frame.loadInt(1, kinds, b);
        frame.loadInt(2, kinds, c);
        if (name === 'DIV' || name === 'MOD') asm.jumpImm('jeq', 2, 0, frame.fail(name === 'DIV' ? DIV_ZERO : MOD_ZERO));
        const op = ({ ADD: 'add', SUB: 'sub', MUL: 'mul', DIV: 'div', MOD: 'mod' } as const)[name];
        asm.alu(op, 1, 2, true);
        frame.setInt(a, 1);
        return;
      }
      case 'UNM':
        frame.loadInt(1, kinds, b);
        asm.aluImm('neg', 1, 0);
        frame.setInt(a, 1);
        return;
      case 'BAND': case 'BOR': case 'BXOR':
        frame.loadInt(1, kinds, b, NIL_BITWISE);
        frame.loadInt(2, kinds, c, NIL_BITWISE);
        asm.alu(({ BAND: 'and', BOR: 'or', BXOR: 'xor' } as const)[name], 1, 2);
        frame.setInt(a, 1);
        return;
      case 'BNOT':
        frame.loadInt(1, kinds, b, NIL_BITWISE);
        asm.aluImm('xor', 1, -1); // the immediate is sign-extended: all 64 bits flip
        frame.setInt(a, 1);
        return;
      case 'SHL': case 'SHR': case 'USHR':
        shift(frame, name, kinds, a, b, c);
        return;
      case 'TUPLE':
        tuple(frame, pc, kinds, a);
        return;
      case 'LT': case 'LE':
        frame.loadInt(1, kinds, b, NIL_COMPARE);
        frame.loadInt(2, kinds, c, NIL_COMPARE);
        condition(frame, a, name === 'LT' ? 'jslt' : 'jsle');
        return;
      case 'EQ': case 'NE':
        equality(frame, kinds, a, b, c, name === 'NE');
        return;
      case 'NOT':
        if (b < 0) asm.movImm(1, 0);
        else {
          frame.truth(1, kinds, b);
          asm.aluImm('xor', 1, 1);
        }
        asm.store('DW', FP, frame.value(a), 1);
        asm.storeImm('DW', FP, frame.present(a), 1);
        return;
      case 'INCR': {
        // `x += e` where x is nil counts from 0.
        asm.load('DW', 1, FP, frame.value(a));
        if (kinds[a] === 'maybe') {
          asm.load('DW', 2, FP, frame.present(a));
          const keep = asm.label();
          asm.jumpImm('jne', 2, 0, keep);
          asm.movImm(1, 0);
          asm.place(keep);
        }
        frame.loadInt(2, kinds, b);
        asm.alu('add', 1, 2);
        frame.setInt(a, 1);
        return;
      }
      case 'JMP':
        asm.goto(this.labelAt(pc + 1 + a));
        return;
      case 'JMPT': case 'JMPF':
        frame.truth(1, kinds, a);
        asm.jumpImm(name === 'JMPT' ? 'jne' : 'jeq', 1, 0, this.labelAt(pc + 1 + b));
        return;
      case 'CALL':
        call(frame, kinds, a);
        return;
      case 'RETURN': case 'RETNIL':
        asm.goto(frame.exitLabel);
        return;
      case 'EVENTVAR':
        eventVariable(frame, a, EVENT_VARIABLES[b]!);
        return;
      case 'FIELD':
        namedField(frame, a, proto.constants[b] as string);
        return;
      default:
        throw new Error(`kernel tier: ${name} passed the analysis but has no code`);
    }
  }
}
