// AST + name resolution → function prototypes: register allocation, jumps, constants,
// cells for captured locals and upvalue descriptors for closures.

import type { AssignTarget, Block, Chunk, Expression, FunctionBody, Statement } from './ast';
import { CompileError } from './errors';
import type { Binding, Resolution, Variable } from './scope';
import { EVENT_VARIABLES, HANDLER_KINDS, INSTRUCTION_WIDTH, MAX_CALL_ARGS, MAX_REGISTERS, MAX_TUPLE_PARTS, OPCODES, Op } from '../vm/opcodes';
import type { Constant, LocalInfo, Proto, UpvalueDesc } from '../vm/proto';
import { addExact, divExact, modExact, mulExact, negExact, subExact } from '../vm/value';

/** Active locals per function (SPEC §6.1 † limits); registers are bounded by the verifier's MAX_REGISTERS. */
const MAX_LOCALS = 200;
const MAX_UPVALUES = 200;

type Location = { register: number } | { cell: number };

interface Loop {
  breaks: number[];
}

const ARITHMETIC_OPCODES = {
  '+': Op.ADD, '-': Op.SUB, '*': Op.MUL, '/': Op.DIV, '%': Op.MOD,
  '&': Op.BAND, '|': Op.BOR, '~': Op.BXOR, '<<': Op.SHL, '>>': Op.SHR, '>>>': Op.USHR,
} as const;
const UNARY_OPCODES = { '-': Op.UNM, '!': Op.NOT, '~': Op.BNOT } as const;
const FOLDERS = { '+': addExact, '-': subExact, '*': mulExact, '/': divExact, '%': modExact } as const;

/** Per-function code generation state. */
class FunctionState {
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

export function generate(chunk: Chunk, chunkName: string, resolution: Resolution): Proto {
  return new CodeGenerator(chunkName, resolution).main(chunk);
}

class CodeGenerator {
  private fs!: FunctionState;
  private line = 1;

  constructor(
    private readonly chunkName: string,
    private readonly resolution: Resolution,
  ) {}

  main(chunk: Chunk): Proto {
    this.fs = new FunctionState(null, null);
    this.block(chunk.body);
    this.emit(Op.RETNIL, 0, 0, 0);
    return this.finish('main', 0, chunk.lastLine, 0);
  }

  // ---- emission ---------------------------------------------------------------------

  private emit(op: number, a: number, b: number, c: number): number {
    const fs = this.fs;
    fs.code.push(op, a, b, c);
    fs.lines.push(this.line);
    return fs.pc - 1;
  }

  /** Emits a jump-carrying instruction whose J operand is patched later. */
  private emitJump(op: number, a = 0): number {
    return this.emit(op, a, 0, 0);
  }

  /** Points the J operand of the instruction at `pc` to `target`. */
  private patch(pc: number, target: number): void {
    const fs = this.fs;
    const op = fs.code[pc * INSTRUCTION_WIDTH]!;
    const operand = OPCODES[op]!.operands.indexOf('J');
    fs.code[pc * INSTRUCTION_WIDTH + 1 + operand] = target - (pc + 1);
  }

  private patchHere(pc: number): void {
    this.patch(pc, this.fs.pc);
  }

  private fail(line: number, detail: string): never {
    throw new CompileError(this.chunkName, line, detail);
  }

  private allocateRegister(): number {
    const fs = this.fs;
    const register = fs.freeRegister++;
    if (fs.freeRegister > fs.maxRegisters) {
      if (fs.freeRegister > MAX_REGISTERS) this.fail(this.line, `${fs.description} has more than ${MAX_LOCALS} local variables`);
      fs.maxRegisters = fs.freeRegister;
    }
    return register;
  }

  private finish(name: string, lineDefined: number, lastLine: number, numParams: number): Proto {
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
  private activate(variable: Variable, register: number): void {
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
  private upvalueIndex(fs: FunctionState, variable: Variable): number {
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
  private access(variable: Variable): Location | { upvalue: number } {
    const location = variable.sessionSlot < 0 ? this.fs.locations.get(variable) : undefined;
    return location ?? { upvalue: this.upvalueIndex(this.fs, variable) };
  }

  private binding(node: Expression | AssignTarget): Binding {
    return this.resolution.references.get(node)!;
  }

  private declared(node: Statement | FunctionBody): Variable[] {
    return this.resolution.declarations.get(node) ?? [];
  }

  // ---- blocks -----------------------------------------------------------------------

  /**
   * Compiles a block in its own scope. `tail` runs inside that scope after the statements
   * (a repeat's condition sees the body's locals); a block ending in `return` never reaches it.
   */
  private block(block: Block, tail?: () => void): void {
    const fs = this.fs;
    const savedRegister = fs.freeRegister;
    const savedLocals = fs.activeLocals;
    const firstLocal = fs.locals.length;
    for (const statement of block.statements) {
      this.statement(statement);
      fs.freeRegister = Math.max(fs.freeRegister, savedRegister);
    }
    if (block.returns !== undefined) this.returnStatement(block.returns);
    else tail?.();
    for (let index = firstLocal; index < fs.locals.length; index++) {
      const local = fs.locals[index]!;
      if (local.endPc < 0) fs.locals[index] = { ...local, endPc: fs.pc };
    }
    fs.freeRegister = savedRegister;
    fs.activeLocals = savedLocals;
  }

  private returnStatement(returns: NonNullable<Block['returns']>): void {
    this.line = returns.line;
    const value = returns.value;
    if (value === undefined) {
      this.emit(Op.RETNIL, 0, 0, 0);
    } else if (value.kind === 'call' || value.kind === 'method') {
      const base = this.fs.freeRegister;
      this.call(value, base, Op.TAILCALL);
    } else {
      const saved = this.fs.freeRegister;
      this.emit(Op.RETURN, this.operand(value), 0, 0);
      this.fs.freeRegister = saved;
    }
  }

  private statement(statement: Statement): void {
    this.line = statement.line;
    const fs = this.fs;
    switch (statement.kind) {
      case 'var':
        return this.varStatement(statement);
      case 'function': {
        const [variable] = this.declared(statement);
        const register = this.allocateRegister();
        if (variable!.sessionSlot >= 0) {
          this.closure(statement.func, register);
          this.emit(Op.SETUPVAL, this.upvalueIndex(fs, variable!), register, 0);
          fs.freeRegister--;
        } else if (variable!.captured) {
          // The cell exists before the closure so the function can call itself.
          this.activate(variable!, register);
          const location = fs.locations.get(variable!) as { cell: number };
          this.closure(statement.func, register);
          this.emit(Op.SETCELL, location.cell, register, 0);
        } else {
          this.closure(statement.func, register);
          this.activate(variable!, register);
        }
        return;
      }
      case 'assign':
        return this.assignStatement(statement.targets, statement.values);
      case 'increment':
        return this.incrementStatement(statement.target, statement.value);
      case 'call': {
        const saved = fs.freeRegister;
        this.call(statement.call as Extract<Expression, { kind: 'call' | 'method' }>, this.allocateRegister(), Op.CALL);
        fs.freeRegister = saved;
        return;
      }
      case 'if':
        return this.ifStatement(statement);
      case 'while': {
        const top = fs.pc;
        const exit = this.jumpIfFalse(statement.condition);
        this.loop(() => this.block(statement.body), (breaks) => {
          this.backJump(Op.JMP, 0, top);
          this.patchHere(exit);
          breaks.forEach((pc) => this.patchHere(pc));
        });
        return;
      }
      case 'repeat': {
        const top = fs.pc;
        this.loop(() => this.repeatBody(statement.body, statement.condition, top), (breaks) => {
          breaks.forEach((pc) => this.patchHere(pc));
        });
        return;
      }
      case 'fornum':
        return this.numericFor(statement);
      case 'forin':
        return this.genericFor(statement);
      case 'do':
        return this.block(statement.body);
      case 'break': {
        const loop = fs.loops[fs.loops.length - 1]!;
        loop.breaks.push(this.emitJump(Op.JMP));
        return;
      }
      case 'label':
        return;
      case 'handler': {
        const saved = fs.freeRegister;
        const register = this.allocateRegister();
        this.closure(statement.func, register);
        this.line = statement.line;
        this.emit(Op.REGISTER, register, fs.constant(statement.header), HANDLER_KINDS.indexOf(statement.handler));
        fs.freeRegister = saved;
        return;
      }
    }
  }

  /** Runs `body` as a loop (so `break` has a target), then `close` with the pending breaks. */
  private loop(body: () => void, close: (breaks: number[]) => void): void {
    const loop: Loop = { breaks: [] };
    this.fs.loops.push(loop);
    body();
    this.fs.loops.pop();
    close(loop.breaks);
  }

  /** A jump to an earlier instruction (a loop's back-edge). */
  private backJump(op: number, a: number, target: number): void {
    const pc = this.emitJump(op, a);
    this.patch(pc, target);
  }

  private repeatBody(body: Block, condition: Expression, top: number): void {
    this.block(body, () => {
      this.line = condition.line;
      this.backJump(Op.JMPF, this.anyRegister(condition), top);
    });
  }

  private varStatement(statement: Extract<Statement, { kind: 'var' }>): void {
    const variables = this.declared(statement);
    const registers = variables.map(() => this.allocateRegister());
    statement.values.forEach((value, index) => {
      if (index < registers.length) {
        this.expressionTo(value, registers[index]!);
      } else {
        const saved = this.fs.freeRegister;
        this.expressionTo(value, this.allocateRegister());
        this.fs.freeRegister = saved;
      }
    });
    for (let index = statement.values.length; index < registers.length; index++) this.emit(Op.LOADNIL, registers[index]!, 0, 0);
    variables.forEach((variable, index) => {
      if (variable.sessionSlot >= 0) {
        this.emit(Op.SETUPVAL, this.upvalueIndex(this.fs, variable), registers[index]!, 0);
      } else {
        this.activate(variable, registers[index]!);
      }
    });
    // Session variables live in upvalues; their registers were only staging.
    if (variables.every((variable) => variable.sessionSlot >= 0)) this.fs.freeRegister -= registers.length;
  }

  private assignStatement(targets: AssignTarget[], values: Expression[]): void {
    const fs = this.fs;
    const saved = fs.freeRegister;
    if (targets.length === 1 && values.length === 1) {
      this.store(targets[0]!, values[0]!);
      fs.freeRegister = saved;
      return;
    }
    // Table and key expressions left to right, then the values left to right, then the
    // stores; tables and keys are copied so that an earlier store cannot change them.
    const places = targets.map((target) => this.place(target, true));
    const registers = values.map((value, index) => {
      const register = this.allocateRegister();
      this.expressionTo(value, register);
      return index < targets.length ? register : -1;
    });
    places.forEach((place, index) => {
      const register = index < values.length ? registers[index]! : this.nilRegister();
      this.storeInto(place, register);
    });
    fs.freeRegister = saved;
  }

  private nilRegister(): number {
    const register = this.allocateRegister();
    this.emit(Op.LOADNIL, register, 0, 0);
    return register;
  }

  /** Evaluates the table and key of an index target (or nothing for a name). */
  private place(target: AssignTarget, copy = false): { table: number; key: number } | Location | { upvalue: number } {
    if (target.kind === 'index') {
      if (copy) {
        const table = this.allocateRegister();
        this.expressionTo(target.object, table);
        const constant = constantValue(target.key);
        if (constant !== undefined) return { table, key: -1 - this.fs.constant(constant) };
        const key = this.allocateRegister();
        this.expressionTo(target.key, key);
        return { table, key };
      }
      const table = this.anyRegister(target.object);
      return { table, key: this.operand(target.key) };
    }
    return this.access(this.binding(target) as Variable);
  }

  private storeInto(place: ReturnType<CodeGenerator['place']>, value: number): void {
    if ('table' in place) this.emit(Op.SETTABLE, place.table, place.key, value);
    else if ('register' in place) {
      if (place.register !== value) this.emit(Op.MOVE, place.register, value, 0);
    } else if ('cell' in place) this.emit(Op.SETCELL, place.cell, value, 0);
    else this.emit(Op.SETUPVAL, place.upvalue, value, 0);
  }

  /** `target = value` for one target. */
  private store(target: AssignTarget, value: Expression): void {
    const place = this.place(target);
    if ('register' in place) {
      // Straight into the local's register when the value is computed by one instruction
      // that reads its operands first; otherwise via a temporary (`x = a && x`, `x = {x}`).
      if (writesOnce(value)) {
        this.expressionTo(value, place.register);
        return;
      }
      const temporary = this.allocateRegister();
      this.expressionTo(value, temporary);
      this.emit(Op.MOVE, place.register, temporary, 0);
      return;
    }
    this.storeInto(place, this.operand(value));
  }

  private incrementStatement(target: AssignTarget, value: Expression): void {
    const saved = this.fs.freeRegister;
    const place = this.place(target);
    const delta = this.operand(value);
    if ('table' in place) this.emit(Op.INCRTABLE, place.table, place.key, delta);
    else if ('register' in place) this.emit(Op.INCR, place.register, delta, 0);
    else if ('cell' in place) this.emit(Op.INCRCELL, place.cell, delta, 0);
    else this.emit(Op.INCRUPVAL, place.upvalue, delta, 0);
    this.fs.freeRegister = saved;
  }

  private ifStatement(statement: Extract<Statement, { kind: 'if' }>): void {
    const exits: number[] = [];
    statement.clauses.forEach((clause, index) => {
      this.line = clause.condition.line;
      const next = this.jumpIfFalse(clause.condition);
      this.block(clause.body);
      const last = index === statement.clauses.length - 1 && statement.otherwise === undefined;
      if (!last) exits.push(this.emitJump(Op.JMP));
      this.patchHere(next);
    });
    if (statement.otherwise !== undefined) this.block(statement.otherwise);
    exits.forEach((pc) => this.patchHere(pc));
  }

  /** Evaluates a condition and emits a jump taken when it is false; returns the jump to patch. */
  private jumpIfFalse(condition: Expression): number {
    const saved = this.fs.freeRegister;
    const register = this.anyRegister(condition);
    this.fs.freeRegister = saved;
    return this.emitJump(Op.JMPF, register);
  }

  private numericFor(statement: Extract<Statement, { kind: 'fornum' }>): void {
    const fs = this.fs;
    const saved = fs.freeRegister;
    const savedLocals = fs.activeLocals;
    const base = this.allocateRegister();
    this.allocateRegister();
    this.allocateRegister();
    const variableRegister = this.allocateRegister();
    this.expressionTo(statement.start, base);
    this.expressionTo(statement.limit, base + 1);
    if (statement.step === undefined) this.emit(Op.LOADK, base + 2, fs.constant(1), 0);
    else this.expressionTo(statement.step, base + 2);
    this.line = statement.line;
    const prepare = this.emitJump(Op.FORPREP, base);
    const body = fs.pc;
    this.loop(() => {
      this.activate(this.declared(statement)[0]!, variableRegister);
      this.block(statement.body);
    }, (breaks) => {
      this.line = statement.line;
      this.backJump(Op.FORLOOP, base, body);
      this.patchHere(prepare);
      breaks.forEach((pc) => this.patchHere(pc));
    });
    this.closeLocals(savedLocals);
    fs.freeRegister = saved;
  }

  private genericFor(statement: Extract<Statement, { kind: 'forin' }>): void {
    const fs = this.fs;
    const saved = fs.freeRegister;
    const savedLocals = fs.activeLocals;
    const iterator = fs.numIterators++;
    const call = statement.iterator as Extract<Expression, { kind: 'call' }>;
    const table = call.args[0] === undefined ? this.nilRegister() : this.operand(call.args[0]);
    this.line = statement.line;
    this.emit(Op.ITERPREP, iterator, table, 0);
    fs.freeRegister = saved;
    const keyRegister = this.allocateRegister();
    this.allocateRegister();
    // Shaped like a while loop (test at the top, one back-edge) so the translator can
    // turn it into a plain JS loop.
    const top = fs.pc;
    const exit = this.emit(Op.ITERNEXT, iterator, keyRegister, 0);
    this.loop(() => {
      const variables = this.declared(statement);
      variables.forEach((variable, index) => this.activate(variable, keyRegister + index));
      this.block(statement.body);
    }, (breaks) => {
      this.line = statement.line;
      this.backJump(Op.JMP, 0, top);
      this.patchHere(exit);
      breaks.forEach((pc) => this.patchHere(pc));
    });
    this.closeLocals(savedLocals);
    fs.freeRegister = saved;
  }

  /** Ends the loop variables' lifetimes (they are declared outside the body's block). */
  private closeLocals(savedLocals: number): void {
    const fs = this.fs;
    for (let index = fs.locals.length - 1; index >= 0 && fs.activeLocals > savedLocals; index--) {
      const local = fs.locals[index]!;
      if (local.endPc < 0) {
        fs.locals[index] = { ...local, endPc: fs.pc };
        fs.activeLocals--;
      }
    }
    fs.activeLocals = savedLocals;
  }

  // ---- functions --------------------------------------------------------------------

  /** Compiles a nested function and emits CLOSURE into `register`. */
  private closure(func: FunctionBody, register: number): void {
    const parent = this.fs;
    const savedLine = this.line;
    const child = new FunctionState(parent, func);
    this.fs = child;
    this.line = func.line;
    const params = this.declared(func);
    params.forEach(() => this.allocateRegister());
    params.forEach((param, index) => this.activate(param, index));
    this.block(func.body);
    this.line = func.lastLine;
    this.emit(Op.RETNIL, 0, 0, 0);
    this.closeLocals(0);
    const proto = this.finish(func.name, func.line, func.lastLine, params.length);
    this.fs = parent;
    this.line = savedLine;
    parent.protos.push(proto);
    this.emit(Op.CLOSURE, register, parent.protos.length - 1, 0);
  }

  // ---- expressions ------------------------------------------------------------------

  /**
   * A register holding the expression's value: a local's own register when it is one,
   * otherwise a fresh temporary.
   */
  private anyRegister(expression: Expression): number {
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
  private operand(expression: Expression): number {
    const constant = constantValue(expression);
    if (constant !== undefined) return -1 - this.fs.constant(constant);
    return this.anyRegister(expression);
  }

  /** Evaluates `expression` into `target`; temporaries above `target` are freed afterwards. */
  private expressionTo(expression: Expression, target: number): void {
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
  private call(expression: Extract<Expression, { kind: 'call' | 'method' }>, base: number, op: number): void {
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

/** Whether evaluating into a live local's register directly is safe (one write after all reads). */
function writesOnce(expression: Expression): boolean {
  switch (expression.kind) {
    case 'table': case 'call': case 'method': return false;
    case 'binary': return expression.operator !== '&&' && expression.operator !== '||';
    case 'paren': return writesOnce(expression.inner);
    default: return true;
  }
}

/**
 * The compile-time value of a literal or a foldable arithmetic expression, computed exactly
 * as run time would; division and remainder by zero are never folded (they fail when run).
 */
function constantValue(expression: Expression): Constant | undefined {
  switch (expression.kind) {
    case 'number':
    case 'string':
      return expression.value;
    case 'paren':
      return constantValue(expression.inner);
    case 'unary': {
      if (expression.operator !== '-') return undefined;
      const operand = constantValue(expression.operand);
      return typeof operand === 'number' || typeof operand === 'bigint' ? negExact(operand) : undefined;
    }
    case 'binary': {
      const operator = expression.operator;
      if (operator !== '+' && operator !== '-' && operator !== '*' && operator !== '/' && operator !== '%') return undefined;
      const left = constantValue(expression.left);
      const right = constantValue(expression.right);
      if (typeof left === 'string' || typeof right === 'string' || left === undefined || right === undefined) return undefined;
      if ((operator === '/' || operator === '%') && (right === 0 || right === 0n)) return undefined;
      return FOLDERS[operator](left, right);
    }
    default:
      return undefined;
  }
}
