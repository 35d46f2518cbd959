// The code generator's state for one function being compiled: its code and lines, constants,
// upvalues, nested prototypes, where each variable lives, open loops, and register counts.

import type { FunctionBody } from './ast';
import type { Variable } from './scope';
import type { Constant, LocalInfo, Proto, UpvalueDesc } from '../vm/proto';

/** Where a local variable lives: its register, or a cell when a closure captures it. */
export type Location = { register: number } | { cell: number };

/** An open loop: the jumps of its `break`s, patched once its end is known. */
export interface Loop {
  breaks: number[];
}

/** Per-function code generation state. */
export class FunctionState {
  readonly code: number[] = [];
  readonly lines: number[] = [];
  readonly constants: Constant[] = [];
  private readonly constantIndex = new Map<Constant, number>();
  readonly upvalues: UpvalueDesc[] = [];
  readonly upvalueOf = new Map<Variable, number>();
  readonly protos: Proto[] = [];
  readonly locations = new Map<Variable, Location>();
  readonly locals: LocalInfo[] = [];
  readonly loops: Loop[] = [];
  freeRegister = 0;
  maxRegisters = 0;
  numCells = 0;
  numIterators = 0;
  activeLocals = 0;

  constructor(
    readonly parent: FunctionState | null,
    readonly body: FunctionBody | null,
  ) {}

  get pc(): number {
    return this.lines.length;
  }

  /** What the † limit messages call this function. */
  get description(): string {
    return this.body === null ? 'main function' : `function at line ${this.body.line}`;
  }

  constant(value: Constant): number {
    let index = this.constantIndex.get(value);
    if (index === undefined) {
      index = this.constants.length;
      this.constants.push(value);
      this.constantIndex.set(value, index);
    }
    return index;
  }
}
