// AST + name resolution → function prototypes: statements, blocks, loops and function
// bodies, on the emission, variables and expressions of expressions.ts.

import type { AssignTarget, Block, Chunk, Expression, FunctionBody, Statement } from './ast';
import { ExpressionGenerator } from './expressions';
import { constantValue } from './fold';
import { FunctionState, type Location, type Loop } from './function-state';
import type { Resolution, Variable } from './scope';
import { HANDLER_KINDS, Op } from '../vm/opcodes';
import type { Proto } from '../vm/proto';

export function generate(chunk: Chunk, chunkName: string, resolution: Resolution): Proto {
  return new CodeGenerator(chunkName, resolution).main(chunk);
}

class CodeGenerator extends ExpressionGenerator {
  main(chunk: Chunk): Proto {
    this.fs = new FunctionState(null, null);
    this.block(chunk.body);
    this.emit(Op.RETNIL, 0, 0, 0);
    return this.finish('main', 0, chunk.lastLine, 0);
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
  protected closure(func: FunctionBody, register: number): void {
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
