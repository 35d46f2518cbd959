// Function prototypes: the compiled form of one function (or the main chunk). Plain data,
// produced by the compiler or the bytecode loader, consumed by the verifier and translator.

/** A constant: a number (safe integer or int64 outside ±2^53 as bigint) or a byte string. */
export type Constant = number | bigint | string;

/**
 * Where a closure's upvalue comes from when CLOSURE creates it:
 *  - 'cell': the enclosing function's cell slot `index` (a captured local)
 *  - 'upvalue': the enclosing function's own upvalue `index`
 *  - 'session': (main chunks only) the session variable slot `index`, i.e. a top-level
 *    `var` of an earlier REPL input
 */
export interface UpvalueDesc {
  readonly from: 'cell' | 'upvalue' | 'session';
  readonly index: number;
  readonly name: string;
}

export interface Proto {
  /** Function name for listings and errors: the declared name, `main`, or `function`. */
  readonly name: string;
  /** Chunk name: the script path as given, or `(command line)`. */
  readonly source: string;
  readonly lineDefined: number;
  readonly lastLine: number;
  readonly numParams: number;
  readonly numRegisters: number;
  readonly numCells: number;
  readonly numIterators: number;
  /** Instructions, INSTRUCTION_WIDTH slots each: op, A, B, C. */
  readonly code: Int32Array;
  /** Source line of each instruction. */
  readonly lines: Int32Array;
  readonly constants: readonly Constant[];
  readonly upvalues: readonly UpvalueDesc[];
  readonly protos: readonly Proto[];
  /** Names of local variables by register, for listings: [register, name, firstPc, lastPc]. */
  readonly locals: readonly LocalInfo[];
}

export interface LocalInfo {
  readonly name: string;
  /** Register index, or -1 - cellSlot for a captured local living in a cell. */
  readonly slot: number;
  readonly startPc: number;
  readonly endPc: number;
}

/** Number of instructions in a proto. */
export function instructionCount(proto: Proto): number {
  return proto.lines.length;
}
