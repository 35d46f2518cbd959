// Semantically crafted bytecode: proto trees whose every operand is valid for its kind (so
// the verifier accepts them) but whose values are wrong for what the instructions do — a
// FORLOOP without its FORPREP, REGISTER of a number, a `tick-1x` header, calls of tables.

import { HANDLER_KINDS, INSTRUCTION_WIDTH, OPCODES, type OperandKind } from '../../src/vm/opcodes';
import type { Constant, Proto, UpvalueDesc } from '../../src/vm/proto';
import type { Random } from '../seeded-random';

/** Constants worth confusing: edge numbers, handler headers good and bad, format strings, builtin names. */
const CONSTANTS: readonly Constant[] = [
  0, 1, -1, 2, 255, 9007199254740991, -9007199254740991, 9007199254740992n, -(2n ** 63n), 2n ** 63n - 1n,
  '', 'x', '%d %s %x', '%', 'tick-1x', 'tick-1s', 'tick-', 'profile-10ms', 'profile-0s', 'trace_end',
  'syscalls:sys_enter_openat', 'nope:*', 'print', 'printf', 'pairs', 'print_hist', 'len', 'delete', 'stringof',
  'table', 'timer', 'kdebug', 'arg', 'exit', 'user_string', 'gettimeofday_us', 'ansi', 'net',
];

/** How deeply functions nest in a crafted tree (main is 0). */
const MAX_DEPTH = 2;

export interface CraftContext {
  /** Names GETGLOBAL may read (the loader's globals). */
  readonly globals: ReadonlySet<string>;
}

/** A random proto tree that passes the verifier, built from `random` alone. */
export function craftProto(random: Random, context: CraftContext): Proto {
  return craftFunction(random, context, 0, undefined);
}

function craftFunction(random: Random, context: CraftContext, depth: number, parent: { numCells: number; upvalues: number } | undefined): Proto {
  const numRegisters = 5 + random(8);
  const numCells = random(3);
  const numIterators = random(3);
  const constants: Constant[] = [];
  for (let count = 2 + random(6); count > 0; count--) {
    const constant = CONSTANTS[random(CONSTANTS.length)]!;
    if (!constants.includes(constant)) constants.push(constant);
  }
  const upvalues: UpvalueDesc[] = [];
  if (parent !== undefined) {
    for (let count = random(3); count > 0; count--) {
      if (parent.numCells > 0 && (parent.upvalues === 0 || random(2) === 0)) upvalues.push({ from: 'cell', index: random(parent.numCells), name: 'c' });
      else if (parent.upvalues > 0) upvalues.push({ from: 'upvalue', index: random(parent.upvalues), name: 'u' });
    }
  }
  const protos: Proto[] = [];
  if (depth < MAX_DEPTH) {
    for (let count = random(3); count > 0; count--) protos.push(craftFunction(random, context, depth + 1, { numCells, upvalues: upvalues.length }));
  }
  const numParams = parent === undefined ? 0 : random(3);
  const count = 2 + random(24);
  const code = new Int32Array(count * INSTRUCTION_WIDTH);
  const shape = { numRegisters, numCells, numIterators, constants, upvalues: upvalues.length, protos: protos.length, count, globals: context.globals };
  for (let pc = 0; pc < count; pc++) {
    const instruction = pc === count - 1 ? craftTerminal(random, shape, pc) : craftInstruction(random, shape, pc);
    code.set(instruction, pc * INSTRUCTION_WIDTH);
  }
  return {
    name: depth === 0 ? 'main' : `f${depth}`, source: 'crafted', lineDefined: depth, lastLine: depth + count,
    numParams, numRegisters, numCells, numIterators, code, lines: Int32Array.from({ length: count }, (_, pc) => pc + 1),
    constants, upvalues, protos, locals: [],
  };
}

interface Shape {
  numRegisters: number;
  numCells: number;
  numIterators: number;
  constants: readonly Constant[];
  upvalues: number;
  protos: number;
  count: number;
  globals: ReadonlySet<string>;
}

const TERMINALS = OPCODES.map((info, op) => (info.terminal === true ? op : -1)).filter((op) => op >= 0);

function craftTerminal(random: Random, shape: Shape, pc: number): number[] {
  for (;;) {
    const instruction = operandsFor(random, shape, pc, TERMINALS[random(TERMINALS.length)]!);
    if (instruction !== undefined) return instruction;
  }
}

function craftInstruction(random: Random, shape: Shape, pc: number): number[] {
  for (;;) {
    const instruction = operandsFor(random, shape, pc, random(OPCODES.length));
    if (instruction !== undefined) return instruction;
  }
}

/** Valid operands for `op` at `pc`, or undefined when this function has nothing of a needed kind. */
function operandsFor(random: Random, shape: Shape, pc: number, op: number): number[] | undefined {
  const info = OPCODES[op]!;
  const instruction = [op, 0, 0, 0];
  for (let position = 0; position < 3; position++) {
    const value = operand(random, shape, pc, info.operands[position]!, info.max ?? 0, info.name);
    if (value === undefined) return undefined;
    instruction[position + 1] = value;
  }
  // Spans: registers A+1 … A+B of a call, A … A+3 of a for loop, B and B+1 of ITERNEXT.
  const spanBase = info.operands.indexOf('R');
  if (info.span !== undefined) {
    const room = shape.numRegisters - 1 - (info.span === 3 ? 3 : info.span === 1 ? 1 : 0);
    if (room < 0) return undefined;
    instruction[spanBase + 1] = random(room + 1);
    if (info.span === 'B') instruction[2] = random(shape.numRegisters - instruction[1]!);
  }
  return instruction;
}

function operand(random: Random, shape: Shape, pc: number, kind: OperandKind, max: number, name: string): number | undefined {
  switch (kind) {
    case 'R': return random(shape.numRegisters);
    case 'RK': return random(2) === 0 ? random(shape.numRegisters) : -1 - random(shape.constants.length);
    case 'K': return random(shape.constants.length);
    case 'KS': {
      const wanted = (constant: Constant): boolean => typeof constant === 'string' && (name !== 'GETGLOBAL' || shape.globals.has(constant));
      const indexes = shape.constants.map((constant, index) => (wanted(constant) ? index : -1)).filter((index) => index >= 0);
      return indexes.length === 0 ? undefined : indexes[random(indexes.length)];
    }
    case 'U': return shape.upvalues === 0 ? undefined : random(shape.upvalues);
    case 'C': return shape.numCells === 0 ? undefined : random(shape.numCells);
    case 'I': return shape.numIterators === 0 ? undefined : random(shape.numIterators);
    case 'P': return shape.protos === 0 ? undefined : random(shape.protos);
    case 'J': return random(shape.count) - (pc + 1);
    case 'N': return name === 'REGISTER' ? random(HANDLER_KINDS.length) : random(max + 1);
    case '_': return 0;
  }
}
