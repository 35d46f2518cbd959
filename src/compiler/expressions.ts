// The code generator's ground floor: emitting instructions and patching jumps, registers,
// where variables live (registers, cells, upvalues), and expressions. Statements and
// function bodies build on it in codegen.ts, which compiles a function expression's body.

import type { AssignTarget, Expression, FunctionBody, Statement } from './ast';
import { CompileError } from './errors';
import { constantValue } from './fold';
import { FunctionState, type Location } from './function-state';
import type { Binding, Resolution, Variable } from './scope';
import { EVENT_VARIABLES, INSTRUCTION_WIDTH, MAX_CALL_ARGS, MAX_REGISTERS, MAX_TUPLE_PARTS, OPCODES, Op } from '../vm/opcodes';
import type { Proto, UpvalueDesc } from '../vm/proto';

/** Active locals per function (SPEC §6.1 † limits); registers are bounded by the verifier's MAX_REGISTERS. */
const MAX_LOCALS = 200;
const MAX_UPVALUES = 200;

const ARITHMETIC_OPCODES = {
  '+': Op.ADD, '-': Op.SUB, '*': Op.MUL, '/': Op.DIV, '%': Op.MOD,
  '&': Op.BAND, '|': Op.BOR, '~': Op.BXOR, '<<': Op.SHL, '>>': Op.SHR, '>>>': Op.USHR,
} as const;
const UNARY_OPCODES = { '-': Op.UNM, '!': Op.NOT, '~': Op.BNOT } as const;

export abstract class ExpressionGenerator {
  protected fs!: FunctionState;
  protected line = 1;

  constructor(
    private readonly chunkName: string,
    private readonly resolution: Resolution,
  ) {}

  /** Compiles a nested function and emits CLOSURE into `register` (codegen.ts). */
  protected abstract closure(func: FunctionBody, register: number): void;

  // ---- emission ---------------------------------------------------------------------

  protected emit(op: number, a: number, b: number, c: number): number {
    const fs = this.fs;
    fs.code.push(op, a, b, c);
    fs.lines.push(this.line);
    return fs.pc - 1;
  }

  /** Emits a jump-carrying instruction whose J operand is patched later. */
  protected emitJump(op: number, a = 0): number {
    return this.emit(op, a, 0, 0);
  }

  /** Points the J operand of the instruction at `pc` to `target`. */
  protected patch(pc: number, target: number): void {
    const fs = this.fs;
    const op = fs.code[pc * INSTRUCTION_WIDTH]!;
    const operand = OPCODES[op]!.operands.indexOf('J');
    fs.code[pc * INSTRUCTION_WIDTH + 1 + operand] = target - (pc + 1);
  }

  protected patchHere(pc: number): void {
    this.patch(pc, this.fs.pc);
  }

  private fail(line: number, detail: string): never {
    throw new CompileError(this.chunkName, line, detail);
  }

  protected allocateRegister(): number {
    const fs = this.fs;
    const register = fs.freeRegister++;
    if (fs.freeRegister > fs.maxRegisters) {
      if (fs.freeRegister > MAX_REGISTERS) this.fail(this.line, `${fs.description} has more than ${MAX_LOCALS} local variables`);
      fs.maxRegisters = fs.freeRegister;
    }
    return register;
  }

  protected finish(name: string, lineDefined: number, lastLine: number, numParams: number): Proto {
    const fs = this.fs;
    return {
      name,
      source: this.chunkName,
      lineDefined,
      lastLine,
      numParams,
      numRegisters: Math.max(fs.maxRegisters, 1),
      numCells: fs.numCells,
      numIterators: fs.numIterators,
      code: Int32Array.from(fs.code),
      lines: Int32Array.from(fs.lines),
      constants: fs.constants,
      upvalues: fs.upvalues,
      protos: fs.protos,
      locals: fs.locals,
    };
  }

  // ---- variables --------------------------------------------------------------------

  /** Makes `variable` live from here on: in `register`, or in a fresh cell when captured. */
  protected activate(variable: Variable, register: number): void {
    const fs = this.fs;
    if (++fs.activeLocals > MAX_LOCALS) this.fail(this.line, `${fs.description} has more than ${MAX_LOCALS} local variables`);
    if (variable.captured) {
      const cell = fs.numCells++;
      fs.locations.set(variable, { cell });
      this.emit(Op.NEWCELL, cell, 0, 0);
      this.emit(Op.SETCELL, cell, register, 0);
      fs.locals.push({ name: variable.name, slot: -1 - cell, startPc: fs.pc, endPc: -1 });
    } else {
      fs.locations.set(variable, { register });
      fs.locals.push({ name: variable.name, slot: register, startPc: fs.pc, endPc: -1 });
    }
  }

  /** Index of the upvalue through which function `fs` reaches `variable`. */
  protected upvalueIndex(fs: FunctionState, variable: Variable): number {
    const known = fs.upvalueOf.get(variable);
    if (known !== undefined) return known;
    let descriptor: UpvalueDesc;
    if (fs.parent === null) {
      descriptor = { from: 'session', index: variable.sessionSlot, name: variable.name };
    } else {
      const location = variable.sessionSlot < 0 && variable.owner === fs.parent.body ? fs.parent.locations.get(variable) : undefined;
      descriptor = location !== undefined && 'cell' in location
        ? { from: 'cell', index: location.cell, name: variable.name }
        : { from: 'upvalue', index: this.upvalueIndex(fs.parent, variable), name: variable.name };
    }
    const index = fs.upvalues.length;
    if (index >= MAX_UPVALUES) this.fail(this.line, `${fs.description} has more than ${MAX_UPVALUES} upvalues`);
    fs.upvalues.push(descriptor);
    fs.upvalueOf.set(variable, index);
    return index;
  }

  /** Where a resolved variable is, seen from the current function. */
  protected access(variable: Variable): Location | { upvalue: number } {
    const location = variable.sessionSlot < 0 ? this.fs.locations.get(variable) : undefined;
    return location ?? { upvalue: this.upvalueIndex(this.fs, variable) };
  }

  protected binding(node: Expression | AssignTarget): Binding {
    return this.resolution.references.get(node)!;
  }

  protected declared(node: Statement | FunctionBody): Variable[] {
    return this.resolution.declarations.get(node) ?? [];
  }

  // ---- expressions ------------------------------------------------------------------

  /**
   * A register holding the expression's value: a local's own register when it is one,
   * otherwise a fresh temporary.
   */
  protected anyRegister(expression: Expression): number {
    if (expression.kind === 'name') {
      const binding = this.binding(expression);
      if (!('global' in binding)) {
        const location = this.access(binding);
        if ('register' in location) return location.register;
      }
    }
    const register = this.allocateRegister();
    this.expressionTo(expression, register);
    return register;
  }

  /** An RK operand: a constant for literals (after folding), else a register. */
  protected operand(expression: Expression): number {
    const constant = constantValue(expression);
    if (constant !== undefined) return -1 - this.fs.constant(constant);
    return this.anyRegister(expression);
  }

  /** Evaluates `expression` into `target`; temporaries above `target` are freed afterwards. */
  protected expressionTo(expression: Expression, target: number): void {
    const fs = this.fs;
    const saved = fs.freeRegister;
    const savedLine = this.line;
    this.line = expression.line;
    this.emitExpression(expression, target);
    this.line = savedLine;
    fs.freeRegister = saved;
  }

  private emitExpression(expression: Expression, target: number): void {
    const fs = this.fs;
    const constant = constantValue(expression);
    if (constant !== undefined) {
      this.emit(Op.LOADK, target, fs.constant(constant), 0);
      return;
    }
    switch (expression.kind) {
      case 'nil':
        this.emit(Op.LOADNIL, target, 0, 0);
        return;
      case 'boolean':
        this.emit(Op.LOADBOOL, target, expression.value ? 1 : 0, 0);
        return;
      case 'name': {
        const binding = this.binding(expression);
        if ('global' in binding) {
          this.emit(Op.GETGLOBAL, target, fs.constant(binding.global), 0);
          return;
        }
        const location = this.access(binding);
        if ('register' in location) {
          if (location.register !== target) this.emit(Op.MOVE, target, location.register, 0);
        } else if ('cell' in location) {
          this.emit(Op.GETCELL, target, location.cell, 0);
        } else {
          this.emit(Op.GETUPVAL, target, location.upvalue, 0);
        }
        return;
      }
      case 'eventvar':
        this.emit(Op.EVENTVAR, target, EVENT_VARIABLES.indexOf(expression.name), 0);
        return;
      case 'index': {
        const field = this.resolution.eventFields.get(expression);
        if (field !== undefined) {
          this.emit(Op.FIELD, target, fs.constant(field), 0);
          return;
        }
        const table = this.anyRegister(expression.object);
        this.emit(Op.GETTABLE, target, table, this.operand(expression.key));
        return;
      }
      case 'call':
      case 'method':
        this.callInto(expression, target);
        return;
      case 'function':
        this.closure(expression.func, target);
        return;
      case 'table':
        this.tableConstructor(expression, target);
        return;
      case 'paren':
        this.emitExpression(expression.inner, target);
        return;
      case 'unary': {
        const operand = this.operand(expression.operand);
        this.emit(UNARY_OPCODES[expression.operator], target, operand, 0);
        return;
      }
      case 'binary':
        this.binary(expression, target);
        return;
      case 'tuple':
        this.tuple(expression, target);
        return;
      default:
        throw new Error(`internal: unexpected expression ${expression.kind}`);
    }
  }

  private binary(expression: Extract<Expression, { kind: 'binary' }>, target: number): void {
    const operator = expression.operator;
    if (operator === '&&' || operator === '||') {
      this.emitExpression(expression.left, target);
      this.fs.freeRegister = Math.max(this.fs.freeRegister, target + 1);
      const skip = this.emitJump(operator === '&&' ? Op.JMPF : Op.JMPT, target);
      this.expressionTo(expression.right, target);
      this.patchHere(skip);
      return;
    }
    const left = this.operand(expression.left);
    const right = this.operand(expression.right);
    this.line = expression.line;
    switch (operator) {
      case '+': case '-': case '*': case '/': case '%':
      case '&': case '|': case '~': case '<<': case '>>': case '>>>':
        this.emit(ARITHMETIC_OPCODES[operator], target, left, right);
        return;
      case '..':
        this.emit(Op.CONCAT, target, left, right);
        return;
      case '==':
        this.emit(Op.EQ, target, left, right);
        return;
      case '!=':
        this.emit(Op.NE, target, left, right);
        return;
      case '<':
        this.emit(Op.LT, target, left, right);
        return;
      case '<=':
        this.emit(Op.LE, target, left, right);
        return;
      case '>':
        this.emit(Op.LT, target, right, left);
        return;
      case '>=':
        this.emit(Op.LE, target, right, left);
        return;
    }
  }

  private tableConstructor(expression: Extract<Expression, { kind: 'table' }>, target: number): void {
    const fs = this.fs;
    const positional = expression.fields.filter((field) => field.kind === 'positional').length;
    const keyed = expression.fields.length - positional;
    this.emit(Op.NEWTABLE, target, Math.min(positional, 0xffffff), Math.min(keyed, 0xffffff));
    fs.freeRegister = Math.max(fs.freeRegister, target + 1);
    let index = 0;
    for (const field of expression.fields) {
      const saved = fs.freeRegister;
      const key = field.kind === 'positional' ? -1 - fs.constant(++index) : this.operand(field.key);
      const value = this.operand(field.value);
      this.emit(Op.SETTABLE, target, key, value);
      fs.freeRegister = saved;
    }
  }

  /** `a, b, …` of `t[a, b, …]`: the parts in consecutive registers above the result's, then TUPLE. */
  private tuple(expression: Extract<Expression, { kind: 'tuple' }>, target: number): void {
    const fs = this.fs;
    if (expression.parts.length > MAX_TUPLE_PARTS) this.fail(expression.line, `a tuple key has at most ${MAX_TUPLE_PARTS} parts`);
    const base = target === fs.freeRegister - 1 ? target : this.allocateRegister();
    fs.freeRegister = base + 1;
    for (const part of expression.parts) this.expressionTo(part, this.allocateRegister());
    this.line = expression.line;
    this.emit(Op.TUPLE, base, expression.parts.length, 0);
    fs.freeRegister = base + 1;
    if (base !== target) this.emit(Op.MOVE, target, base, 0);
  }

  /** A call whose single result lands in `target`. */
  private callInto(expression: Extract<Expression, { kind: 'call' | 'method' }>, target: number): void {
    const fs = this.fs;
    // The call needs its callee and arguments in consecutive registers at the top.
    if (target === fs.freeRegister - 1) {
      this.call(expression, target, Op.CALL);
      return;
    }
    const base = this.allocateRegister();
    this.call(expression, base, Op.CALL);
    this.emit(Op.MOVE, target, base, 0);
  }

  /** Callee into `base` (the top register), arguments above it, then CALL or TAILCALL. */
  protected call(expression: Extract<Expression, { kind: 'call' | 'method' }>, base: number, op: number): void {
    const fs = this.fs;
    fs.freeRegister = base + 1;
    fs.maxRegisters = Math.max(fs.maxRegisters, fs.freeRegister);
    const args = expression.args;
    let count = args.length;
    if (expression.kind === 'method') {
      const self = this.allocateRegister();
      this.expressionTo(expression.object, self);
      this.emit(Op.GETTABLE, base, self, -1 - fs.constant(expression.method));
      count++;
    } else {
      this.expressionTo(expression.callee, base);
    }
    for (const arg of args) {
      const register = this.allocateRegister();
      this.expressionTo(arg, register);
    }
    if (count > MAX_CALL_ARGS) this.fail(expression.line, `function at line ${expression.line} has more than ${MAX_LOCALS} local variables`);
    this.line = expression.line;
    this.emit(op, base, count, 0);
    fs.freeRegister = base + 1;
  }
}
