// Hand-made protos for the verifier, bytecode-file, listing and fuzz tests: a builder taking
// instructions by opcode name, and a few valid proto trees exercising every part of the format.

import { INSTRUCTION_WIDTH, Op, type OpName } from '../../src/vm/opcodes';
import type { Proto } from '../../src/vm/proto';
import { BadBytecodeError } from '../../src/vm/errors';
import { MAX_SAFE } from '../../src/vm/value';

/** An instruction as opcode name and operands; missing operands are 0. */
export type Instruction = readonly [OpName, number?, number?, number?];

export type ProtoSpec = Partial<Omit<Proto, 'code' | 'lines'>> & {
  readonly code: readonly Instruction[];
  /** Line of each instruction; by default instruction i is on line i + 1. */
  readonly lines?: readonly number[];
};

export function buildProto(spec: ProtoSpec): Proto {
  const code = new Int32Array(spec.code.length * INSTRUCTION_WIDTH);
  spec.code.forEach(([name, a = 0, b = 0, c = 0], pc) => code.set([Op[name], a, b, c], pc * INSTRUCTION_WIDTH));
  return {
    name: 'main', source: 'test.kp', lineDefined: 0, lastLine: 0,
    numParams: 0, numRegisters: 4, numCells: 0, numIterators: 0,
    constants: [], upvalues: [], protos: [], locals: [],
    ...spec,
    code,
    lines: Int32Array.from(spec.lines ?? spec.code.map((_, pc) => pc + 1)),
  };
}

/** The globals the tests' GETGLOBAL instructions may read. */
export const TEST_GLOBALS: ReadonlySet<string> = new Set(['print', 'printf', 'pairs']);

/** The message of the BadBytecodeError `action` throws, or 'accepted' when it throws nothing. */
export function rejection(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    if (error instanceof BadBytecodeError) return error.message;
    throw error;
  }
  return 'accepted';
}

/** `depth` functions nested in each other below a main function, each closing over its parent's cell. */
export function nestedChain(depth: number): Proto {
  let proto = buildProto({ name: `level${depth}`, code: [['RETNIL']], upvalues: [{ from: 'cell', index: 0, name: 'outer' }] });
  for (let level = depth - 1; level >= 0; level--) {
    proto = buildProto({
      name: level === 0 ? 'main' : `level${level}`,
      numCells: 1,
      code: [['NEWCELL', 0], ['CLOSURE', 0, 0], ['RETURN', 0]],
      upvalues: level === 0 ? [] : [{ from: 'cell', index: 0, name: 'outer' }],
      protos: [proto],
    });
  }
  return proto;
}

/** A script-like main function using every operand kind, with two nested levels of closures. */
export function richProto(): Proto {
  const inner = buildProto({
    name: 'inner', lineDefined: 12, lastLine: 14, numRegisters: 1,
    constants: ['!'],
    upvalues: [{ from: 'upvalue', index: 1, name: 'label' }, { from: 'cell', index: 0, name: 'y' }],
    code: [['GETUPVAL', 0, 0], ['CONCAT', 0, 0, -1], ['RETURN', 0]],
    lines: [13, 13, 14],
  });
  const counter = buildProto({
    name: 'counter', lineDefined: 10, lastLine: 16, numParams: 1, numRegisters: 3, numCells: 1,
    constants: [5, 'x'],
    upvalues: [{ from: 'cell', index: 0, name: 'total' }, { from: 'cell', index: 1, name: 'label' }],
    locals: [{ name: 'y', slot: -1, startPc: 4, endPc: 8 }, { name: 'n', slot: 0, startPc: 0, endPc: 8 }],
    code: [
      ['GETUPVAL', 1, 0], ['ADD', 1, 1, 0], ['SETUPVAL', 0, 1], ['INCRUPVAL', 0, -1],
      ['NEWCELL', 0], ['SETCELL', 0, 0], ['CLOSURE', 2, 0], ['TAILCALL', 2, 0],
    ],
    lines: [11, 11, 11, 12, 12, 12, 15, 15],
    protos: [inner],
  });
  return buildProto({
    name: 'main', source: 'scripts/rich.kp', numRegisters: 10, numCells: 2, numIterators: 1,
    constants: [
      'print', 42, 1, 10, 2n ** 62n, -(2n ** 63n), 2n ** 63n - 1n, -MAX_SAFE,
      '\x00\xff\x80binary\n"\'', '', 'syscalls:sys_enter_open', -7,
    ],
    locals: [{ name: 'x', slot: 0, startPc: 1, endPc: 29 }, { name: 'total', slot: -1, startPc: 0, endPc: 30 }],
    code: [
      ['NEWCELL', 0], ['LOADK', 0, 1], ['SETCELL', 0, 0], ['NEWCELL', 1], ['SETCELL', 1, -9],
      ['CLOSURE', 1, 0], ['LOADK', 2, 2], ['LOADK', 3, 3], ['LOADK', 4, 2],
      ['FORPREP', 2, 2], ['INCRCELL', 0, 5], ['FORLOOP', 2, -2],
      ['NEWTABLE', 6, 0xffffff, 3], ['INCRTABLE', 6, -1, -12], ['ITERPREP', 0, 6],
      ['ITERNEXT', 0, 7, 1], ['JMP', 2], ['ADD', 9, 8, -3], ['JMP', -4],
      ['EVENTVAR', 9, 16], ['LOADBOOL', 9, 1], ['GETGLOBAL', 9, 0], ['JMPF', 9, 1], ['CALL', 9, 0],
      ['REGISTER', 1, 10, 0], ['LOADK', 9, 4], ['LOADK', 9, 5], ['LOADK', 9, 6], ['LOADK', 9, 7],
      ['RETURN', -10],
    ],
    lines: [1, 1, 1, 2, 2, 10, 17, 17, 17, 17, 18, 17, 20, 21, 22, 22, 22, 23, 22, 25, 26, 27, 27, 27, 30, 100000, 3, 3, 3, 40],
    protos: [counter],
  });
}

/** A long function: many instructions and constants, so counts take several varint bytes. */
export function longProto(): Proto {
  const constants = Array.from({ length: 130 }, (_, index) => (index % 3 === 0 ? `s${index}`.repeat(index % 7) : index * 1_000_003 - 50_000_000));
  const code: Instruction[] = [];
  for (let index = 0; index < 160; index++) {
    code.push(index % 2 === 0 ? ['LOADK', index % 250, index % 130] : ['MOVE', (index * 7) % 250, index % 250]);
  }
  code.push(['RETNIL']);
  return buildProto({ name: 'long', numRegisters: 250, constants, code, lines: code.map((_, pc) => 1 + pc * 3) });
}

/** Valid proto trees of varied shapes, each accepted by the verifier with TEST_GLOBALS. */
export function sampleProtos(): Proto[] {
  return [
    buildProto({ code: [['RETNIL']] }),
    buildProto({
      constants: ['print', 'hello\n'],
      code: [['GETGLOBAL', 0, 0], ['LOADK', 1, 1], ['CALL', 0, 1], ['RETNIL']],
    }),
    richProto(),
    nestedChain(6),
    longProto(),
  ];
}
