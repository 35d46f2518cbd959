// The bytecode verifier: everything the translator assumes about a proto, checked once,
// driven by the opcode table, so that code from a hostile file can do no more than a script.

import { BadBytecodeError } from './errors';
import { INSTRUCTION_WIDTH, MAX_REGISTERS, Op, OPCODES, type OperandKind } from './opcodes';
import { instructionCount, type Constant, type Proto, type UpvalueDesc } from './proto';
import { MAX_SAFE } from './value';
import { quoteBytes } from './quote';

/** Most cells (captured locals) a function may have. */
export const MAX_CELLS = 1000;
/** Most iterator slots (nested for-in loops alive at once) a function may have. */
export const MAX_ITERATORS = 250;
/** Deepest nesting of functions: the main chunk is at depth 0. */
export const MAX_NESTING_DEPTH = 200;

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
/** Names in reasons come from the file: cut so a hostile name cannot flood the message. */
const NAME_LIMIT = 40;
const OPERAND_NAMES = ['A', 'B', 'C'] as const;

export interface VerifyOptions {
  /** Names GETGLOBAL may read: the builtins of the session the code will run in. */
  readonly globals: ReadonlySet<string>;
  /** Whether the main proto may take upvalues from session variables (REPL inputs; never files). */
  readonly allowSessionUpvalues: boolean;
}

/** Throws BadBytecodeError with the first rule `main` or a nested proto breaks. */
export function verifyProto(main: Proto, options: VerifyOptions): void {
  verifyFunction(main, undefined, 0, options);
}

function verifyFunction(proto: Proto, parent: Proto | undefined, depth: number, options: VerifyOptions): void {
  const where = `function ${quoteBytes(proto.name, "'", NAME_LIMIT)}`;
  const fail = (reason: string): never => {
    throw new BadBytecodeError(`${where}: ${reason}`);
  };
  if (depth > MAX_NESTING_DEPTH) fail(`nested too deeply (more than ${MAX_NESTING_DEPTH} levels)`);
  checkSizes(proto, fail);
  proto.constants.forEach((constant, index) => {
    const problem = constantProblem(constant);
    if (problem !== undefined) fail(`constant ${index}: ${problem}`);
  });
  proto.upvalues.forEach((upvalue, index) => {
    const problem = upvalueProblem(upvalue.from, upvalue.index, parent, options);
    if (problem !== undefined) fail(`upvalue ${index} (${quoteBytes(upvalue.name, "'", NAME_LIMIT)}): ${problem}`);
  });
  proto.locals.forEach((local, index) => {
    const problem = localProblem(proto, local.slot, local.startPc, local.endPc);
    if (problem !== undefined) fail(`local ${index} (${quoteBytes(local.name, "'", NAME_LIMIT)}): ${problem}`);
  });
  const count = instructionCount(proto);
  for (let pc = 0; pc < count; pc++) {
    const problem = instructionProblem(proto, pc, options);
    if (problem !== undefined) throw new BadBytecodeError(`${where} instruction ${pc}: ${problem}`);
  }
  const last = OPCODES[proto.code[(count - 1) * INSTRUCTION_WIDTH]!]!;
  if (last.terminal !== true) fail(`last instruction (${last.name}) does not end the function`);
  for (const child of proto.protos) verifyFunction(child, proto, depth + 1, options);
}

function isCount(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

function checkSizes(proto: Proto, fail: (reason: string) => never): void {
  for (const field of ['lineDefined', 'lastLine', 'numParams', 'numRegisters', 'numCells', 'numIterators'] as const) {
    if (!isCount(proto[field])) fail(`bad ${field} ${proto[field]}`);
  }
  if (proto.numRegisters > MAX_REGISTERS) fail(`too many registers (${proto.numRegisters}, at most ${MAX_REGISTERS})`);
  if (proto.numParams > proto.numRegisters) fail(`${proto.numParams} parameters but only ${proto.numRegisters} registers`);
  if (proto.numCells > MAX_CELLS) fail(`too many cells (${proto.numCells}, at most ${MAX_CELLS})`);
  if (proto.numIterators > MAX_ITERATORS) fail(`too many iterators (${proto.numIterators}, at most ${MAX_ITERATORS})`);
  const count = instructionCount(proto);
  if (count === 0) fail('no instructions');
  if (proto.code.length !== count * INSTRUCTION_WIDTH) {
    fail(`${proto.code.length} code slots for ${count} instructions`);
  }
}

/** Constants must be in the canonical value form the runtime compares with `===`. */
function constantProblem(constant: Constant): string | undefined {
  switch (typeof constant) {
    case 'number':
      if (!Number.isSafeInteger(constant)) return `${constant} is not a safe integer`;
      return Object.is(constant, -0) ? 'negative zero' : undefined;
    case 'bigint':
      if (constant < INT64_MIN || constant > INT64_MAX) return `${constant} is outside the int64 range`;
      return constant >= -MAX_SAFE && constant <= MAX_SAFE ? `bigint ${constant} is a safe integer` : undefined;
    case 'string':
      // Every character a byte: the runtime's strings are byte strings.
      return /[^\x00-\xff]/.test(constant) ? 'not a byte string' : undefined;
    default:
      return `bad type ${typeof constant}`;
  }
}

function upvalueProblem(from: UpvalueDesc['from'], index: number, parent: Proto | undefined, options: VerifyOptions): string | undefined {
  if (!isCount(index)) return `bad index ${index}`;
  if (parent === undefined) {
    if (from !== 'session') return `the main function can only take upvalues from the session, not from ${from}`;
    return options.allowSessionUpvalues ? undefined : 'session upvalues are not allowed here';
  }
  switch (from) {
    case 'cell': return index < parent.numCells ? undefined : `cell ${index} out of range in the enclosing function`;
    case 'upvalue': return index < parent.upvalues.length ? undefined : `upvalue ${index} out of range in the enclosing function`;
    case 'session': return 'session upvalue outside the main function';
  }
}

function localProblem(proto: Proto, slot: number, startPc: number, endPc: number): string | undefined {
  if (!Number.isSafeInteger(slot)) return `bad slot ${slot}`;
  if (slot >= 0 && slot >= proto.numRegisters) return `register ${slot} out of range`;
  if (slot < 0 && -1 - slot >= proto.numCells) return `cell ${-1 - slot} out of range`;
  if (!isCount(startPc) || !isCount(endPc) || startPc > endPc || endPc > instructionCount(proto)) {
    return `pc range ${startPc}..${endPc} out of range`;
  }
  return undefined;
}

/** What is wrong with operand `value` of kind `kind` at `pc`, if anything. */
function operandProblem(proto: Proto, pc: number, kind: OperandKind, value: number, max: number | undefined): string | undefined {
  switch (kind) {
    case 'R': return value >= 0 && value < proto.numRegisters ? undefined : `register ${value} out of range`;
    case 'RK': return value >= 0 ? operandProblem(proto, pc, 'R', value, max) : operandProblem(proto, pc, 'K', -1 - value, max);
    case 'K': return value >= 0 && value < proto.constants.length ? undefined : `constant ${value} out of range`;
    case 'KS': return operandProblem(proto, pc, 'K', value, max) ?? (typeof proto.constants[value] === 'string' ? undefined : `constant ${value} is not a string`);
    case 'U': return value >= 0 && value < proto.upvalues.length ? undefined : `upvalue ${value} out of range`;
    case 'C': return value >= 0 && value < proto.numCells ? undefined : `cell ${value} out of range`;
    case 'I': return value >= 0 && value < proto.numIterators ? undefined : `iterator ${value} out of range`;
    case 'P': return value >= 0 && value < proto.protos.length ? undefined : `function ${value} out of range`;
    case 'J': {
      const target = pc + 1 + value;
      return target >= 0 && target < instructionCount(proto) ? undefined : `jump target ${target} out of range`;
    }
    case 'N': return value >= 0 && value <= (max ?? 0) ? undefined : `immediate ${value} out of range 0..${max ?? 0}`;
    case '_': return value === 0 ? undefined : `unused operand is ${value}, not 0`;
  }
}

function instructionProblem(proto: Proto, pc: number, options: VerifyOptions): string | undefined {
  const at = pc * INSTRUCTION_WIDTH;
  const op = proto.code[at]!;
  const info = OPCODES[op];
  if (info === undefined) return `bad opcode ${op}`;
  if (proto.lines[pc]! < 0) return `negative line ${proto.lines[pc]}`;
  for (let position = 0; position < 3; position++) {
    const problem = operandProblem(proto, pc, info.operands[position]!, proto.code[at + 1 + position]!, info.max);
    if (problem !== undefined) return `${info.name} ${OPERAND_NAMES[position]}: ${problem}`;
  }
  if (info.span !== undefined) {
    // The span extends the instruction's first register operand (A of CALL and FORLOOP, B of ITERNEXT).
    const base = proto.code[at + 1 + info.operands.indexOf('R')]!;
    const last = base + (info.span === 'B' ? proto.code[at + 2]! : info.span);
    if (last >= proto.numRegisters) return `${info.name}: registers ${base}..${last} out of range`;
  }
  if (op === Op.GETGLOBAL) {
    const name = proto.constants[proto.code[at + 2]!] as string;
    if (!options.globals.has(name)) return `unknown global ${quoteBytes(name, "'", NAME_LIMIT)}`;
  }
  return undefined;
}
