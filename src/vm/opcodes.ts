// THE opcode table: the only place an instruction is named and shaped. The encoder
// (codegen), the bytecode file, the verifier, the disassembler and the translator follow it.

/**
 * Operand kinds. Every operand of every instruction has one; the verifier checks each
 * operand against its kind, so later stages can trust them without re-checking.
 *
 *  R   a register of the current function (0 ≤ n < numRegisters)
 *  RK  a register (n ≥ 0) or a constant (n < 0 means constant index -1-n)
 *  K   a constant index (any constant)
 *  KS  a constant index whose constant is a string
 *  U   an upvalue index of the current function
 *  C   a cell slot (captured local) of the current function
 *  I   an iterator slot (for-in state) of the current function
 *  J   a signed jump offset; the target is the index of the next instruction + offset
 *  P   an index into the current function's nested prototypes
 *  N   a small unsigned immediate, at most the opcode's `max`
 *  _   unused, must be 0
 */
export type OperandKind = 'R' | 'RK' | 'K' | 'KS' | 'U' | 'C' | 'I' | 'J' | 'P' | 'N' | '_';

export interface OpcodeInfo {
  readonly name: string;
  readonly operands: readonly [OperandKind, OperandKind, OperandKind];
  /** Upper bound of an 'N' operand (inclusive). */
  readonly max?: number;
  /** Registers the instruction reads or writes beyond A itself: A+1 … A+span (CALL args, for-loop state). */
  readonly span?: 'B' | 3 | 1;
  /** True when execution never continues with the next instruction. */
  readonly terminal?: boolean;
  readonly doc: string;
}

/** Number of event variables; EVENTVAR's operand indexes EVENT_VARIABLES. */
export const EVENT_VARIABLES = [
  'arg0', 'arg1', 'arg2', 'arg3', 'arg4', 'arg5', 'arg6', 'arg7', 'arg8', 'arg9',
  'argstr', 'probename', 'cpu', 'pid', 'tid', 'uid', 'execname',
] as const;
export type EventVariable = (typeof EVENT_VARIABLES)[number];
/** The event variables that are the event's arguments, and their numbers. */
export type ArgVariable = Extract<EventVariable, `arg${number}`>;
export function argNumber(name: EventVariable): number | null {
  const match = /^arg(\d)$/.exec(name);
  return match === null ? null : Number(match[1]);
}

/** Handler kinds registered by REGISTER; its C operand indexes this list. */
export const HANDLER_KINDS = ['trace', 'tick', 'profile', 'trace_end'] as const;
export type HandlerKind = (typeof HANDLER_KINDS)[number];

/** Most parts of a tuple key `t[a, b, …]` (fixed-size keys, so the kernel tier can hold them). */
export const MAX_TUPLE_PARTS = 8;

/** Most arguments a call instruction may pass (and most parameters a function may have). */
export const MAX_CALL_ARGS = 250;

/**
 * Most registers a function may use: the bound of every R operand, which the verifier checks
 * (the compiler reports `function or expression too complex` beyond).
 */
export const MAX_REGISTERS = 250;

/**
 * An opcode's number is its position here, and bytecode files store numbers: the order IS
 * the file format (BYTECODE_VERSION in bytecode-file.ts). Append only, or bump the version;
 * test/vm/opcodes.test.ts pins the order of each version. The same holds for the order of
 * EVENT_VARIABLES and HANDLER_KINDS, which operands index.
 */
const table = {
  MOVE: { operands: ['R', 'R', '_'], doc: 'R(A) = R(B)' },
  LOADK: { operands: ['R', 'K', '_'], doc: 'R(A) = K(B)' },
  LOADNIL: { operands: ['R', '_', '_'], doc: 'R(A) = nil' },
  LOADBOOL: { operands: ['R', 'N', '_'], max: 1, doc: 'R(A) = (B == 1)' },
  GETUPVAL: { operands: ['R', 'U', '_'], doc: 'R(A) = Upvalue(B)' },
  SETUPVAL: { operands: ['U', 'RK', '_'], doc: 'Upvalue(A) = RK(B)' },
  NEWCELL: { operands: ['C', '_', '_'], doc: 'Cell(A) = a fresh variable holding nil' },
  GETCELL: { operands: ['R', 'C', '_'], doc: 'R(A) = Cell(B)' },
  SETCELL: { operands: ['C', 'RK', '_'], doc: 'Cell(A) = RK(B)' },
  GETGLOBAL: { operands: ['R', 'KS', '_'], doc: 'R(A) = the builtin global named K(B)' },
  GETTABLE: { operands: ['R', 'R', 'RK'], doc: 'R(A) = R(B)[RK(C)]' },
  SETTABLE: { operands: ['R', 'RK', 'RK'], doc: 'R(A)[RK(B)] = RK(C)' },
  NEWTABLE: { operands: ['R', 'N', 'N'], max: 0xffffff, doc: 'R(A) = {} (B array, C hash size hints)' },
  ADD: { operands: ['R', 'RK', 'RK'], doc: 'R(A) = RK(B) + RK(C)' },
  SUB: { operands: ['R', 'RK', 'RK'], doc: 'R(A) = RK(B) - RK(C)' },
  MUL: { operands: ['R', 'RK', 'RK'], doc: 'R(A) = RK(B) * RK(C)' },
  DIV: { operands: ['R', 'RK', 'RK'], doc: 'R(A) = RK(B) / RK(C), truncated toward zero' },
  MOD: { operands: ['R', 'RK', 'RK'], doc: 'R(A) = RK(B) % RK(C), sign of RK(B)' },
  CONCAT: { operands: ['R', 'RK', 'RK'], doc: 'R(A) = RK(B) .. RK(C)' },
  UNM: { operands: ['R', 'RK', '_'], doc: 'R(A) = -RK(B)' },
  NOT: { operands: ['R', 'RK', '_'], doc: 'R(A) = !RK(B)' },
  EQ: { operands: ['R', 'RK', 'RK'], doc: 'R(A) = RK(B) == RK(C)' },
  NE: { operands: ['R', 'RK', 'RK'], doc: 'R(A) = RK(B) != RK(C)' },
  LT: { operands: ['R', 'RK', 'RK'], doc: 'R(A) = RK(B) < RK(C) (numbers only)' },
  LE: { operands: ['R', 'RK', 'RK'], doc: 'R(A) = RK(B) <= RK(C) (numbers only)' },
  INCR: { operands: ['R', 'RK', '_'], doc: 'R(A) += RK(B) (nil counts as 0)' },
  INCRUPVAL: { operands: ['U', 'RK', '_'], doc: 'Upvalue(A) += RK(B)' },
  INCRCELL: { operands: ['C', 'RK', '_'], doc: 'Cell(A) += RK(B)' },
  INCRTABLE: { operands: ['R', 'RK', 'RK'], doc: 'R(A)[RK(B)] += RK(C)' },
  JMP: { operands: ['J', '_', '_'], terminal: true, doc: 'pc += A' },
  JMPT: { operands: ['R', 'J', '_'], doc: 'if R(A) is true then pc += B' },
  JMPF: { operands: ['R', 'J', '_'], doc: 'if R(A) is nil or false then pc += B' },
  CALL: { operands: ['R', 'N', '_'], max: MAX_CALL_ARGS, span: 'B', doc: 'R(A) = R(A)(R(A+1) … R(A+B))' },
  TAILCALL: { operands: ['R', 'N', '_'], max: MAX_CALL_ARGS, span: 'B', terminal: true, doc: 'return R(A)(R(A+1) … R(A+B)), reusing this frame' },
  RETURN: { operands: ['RK', '_', '_'], terminal: true, doc: 'return RK(A)' },
  RETNIL: { operands: ['_', '_', '_'], terminal: true, doc: 'return nil' },
  CLOSURE: { operands: ['R', 'P', '_'], doc: 'R(A) = closure of prototype P(B) over its upvalue descriptors' },
  FORPREP: { operands: ['R', 'J', '_'], span: 3, doc: 'check R(A) init, R(A+1) limit, R(A+2) step; R(A+3) = R(A) or pc += B when the loop runs zero times' },
  FORLOOP: { operands: ['R', 'J', '_'], span: 3, doc: 'R(A) += R(A+2); if within R(A+1) then R(A+3) = R(A), pc += B' },
  ITERPREP: { operands: ['I', 'RK', '_'], doc: 'Iterator(A) = pairs(RK(B))' },
  ITERNEXT: { operands: ['I', 'R', 'J'], span: 1, doc: 'if Iterator(A) has a next entry then R(B), R(B+1) = key, value else pc += C' },
  EVENTVAR: { operands: ['R', 'N', '_'], max: EVENT_VARIABLES.length - 1, doc: 'R(A) = the event variable named by B' },
  REGISTER: { operands: ['R', 'KS', 'N'], max: HANDLER_KINDS.length - 1, doc: 'register handler R(A) of kind C (trace, tick, profile, trace_end) with header K(B)' },
  // Appended after version 1's set (append only: the numbers are the file format).
  BAND: { operands: ['R', 'RK', 'RK'], doc: 'R(A) = RK(B) & RK(C) (64-bit)' },
  BOR: { operands: ['R', 'RK', 'RK'], doc: 'R(A) = RK(B) | RK(C) (64-bit)' },
  BXOR: { operands: ['R', 'RK', 'RK'], doc: 'R(A) = RK(B) ~ RK(C) (64-bit exclusive or)' },
  SHL: { operands: ['R', 'RK', 'RK'], doc: 'R(A) = RK(B) << RK(C) (0 from 64 on; a negative count shifts right)' },
  SHR: { operands: ['R', 'RK', 'RK'], doc: 'R(A) = RK(B) >> RK(C), arithmetic (sign-filling)' },
  USHR: { operands: ['R', 'RK', 'RK'], doc: 'R(A) = RK(B) >>> RK(C), logical (zero-filling)' },
  BNOT: { operands: ['R', 'RK', '_'], doc: 'R(A) = ~RK(B) (64-bit complement)' },
  FIELD: { operands: ['R', 'KS', '_'], doc: 'R(A) = the field named K(B) of the current event (args.NAME), nil where the event has none' },
  TUPLE: { operands: ['R', 'N', '_'], max: MAX_TUPLE_PARTS, span: 'B', doc: 'R(A) = the tuple (R(A+1), … R(A+B)), a key compared by value' },
} as const satisfies Record<string, Omit<OpcodeInfo, 'name'>>;

export type OpName = keyof typeof table;

/** Opcode numbers, in table order: Op.MOVE === 0, … */
export const Op = Object.fromEntries(Object.keys(table).map((name, index) => [name, index])) as {
  readonly [K in OpName]: number;
};

/** OPCODES[n] describes opcode number n. */
export const OPCODES: readonly OpcodeInfo[] = Object.entries(table).map(([name, info]) => ({
  name,
  ...(info as Omit<OpcodeInfo, 'name'>),
}));

/** Each instruction occupies INSTRUCTION_WIDTH slots of a proto's code array: op, A, B, C. */
export const INSTRUCTION_WIDTH = 4;
