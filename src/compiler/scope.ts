// Name resolution (SPEC §2.3) and the other checks marked † in SPEC §6.1: binds every name
// to a local, an upvalue, a session variable of earlier REPL inputs, or a builtin global.

import type { AssignTarget, Block, Chunk, Expression, FunctionBody, Statement } from './ast';
import { CompileError } from './errors';
import { parseHeader } from '../syntax/headers';

/** One declared variable (each `var` name, parameter, loop variable or named function). */
export interface Variable {
  readonly name: string;
  /** The function that declares it. */
  readonly owner: FunctionBody | null;
  /** Referenced from a nested function: it lives in a cell so closures share it. */
  captured: boolean;
  /** Session slot when the variable persists across REPL inputs; -1 otherwise. */
  readonly sessionSlot: number;
}

export type Binding = Variable | { readonly global: string };

/** Existing session variables (REPL): name → slot, and how many slots there are. */
export interface SessionScope {
  readonly slots: ReadonlyMap<string, number>;
  readonly slotCount: number;
}

export interface Resolution {
  /** Binding of each name expression and name target. */
  readonly references: Map<Expression | AssignTarget, Binding>;
  /** Variables each declaring node introduces, in order (var names, params, loop variables, function name). */
  readonly declarations: Map<Statement | FunctionBody, Variable[]>;
  /** Session variables the chunk declares at top level, in slot order. */
  readonly newSessionVariables: Variable[];
  /** `args.NAME` expressions (where no variable `args` is in scope): the event field each reads. */
  readonly eventFields: Map<Expression, string>;
}

export interface ResolveOptions {
  readonly globals: ReadonlySet<string>;
  /** Present in the REPL: earlier inputs' variables are visible, and top-level `var`s persist. */
  readonly session?: SessionScope;
}

type Scope = Map<string, Variable>;

/** The name whose fields are the event's fields: `args.filename`. */
export const EVENT_FIELDS_NAME = 'args';

export function resolve(chunk: Chunk, chunkName: string, options: ResolveOptions): Resolution {
  return new Resolver(chunkName, options).run(chunk);
}

class Resolver {
  private readonly references = new Map<Expression | AssignTarget, Binding>();
  private readonly declarations = new Map<Statement | FunctionBody, Variable[]>();
  private readonly newSessionVariables: Variable[] = [];
  private readonly eventFields = new Map<Expression, string>();
  private readonly sessionVariables = new Map<string, Variable>();
  /** Innermost last; each function's scopes are delimited by `functionStarts`. */
  private readonly scopes: Scope[] = [];
  private readonly functionStarts: number[] = [];
  private readonly functions: Array<FunctionBody | null> = [];
  private loopDepth: number[] = [];

  constructor(
    private readonly chunkName: string,
    private readonly options: ResolveOptions,
  ) {
    for (const [name, slot] of options.session?.slots ?? []) {
      this.sessionVariables.set(name, { name, owner: null, captured: true, sessionSlot: slot });
    }
  }

  run(chunk: Chunk): Resolution {
    this.enterFunction(null);
    this.block(chunk.body, true);
    this.leaveFunction();
    return {
      references: this.references, declarations: this.declarations, newSessionVariables: this.newSessionVariables,
      eventFields: this.eventFields,
    };
  }

  private fail(line: number, detail: string): never {
    throw new CompileError(this.chunkName, line, detail);
  }

  // ---- scopes -----------------------------------------------------------------------

  private enterFunction(owner: FunctionBody | null): void {
    this.functions.push(owner);
    this.functionStarts.push(this.scopes.length);
    this.loopDepth.push(0);
    this.scopes.push(new Map());
  }

  private leaveFunction(): void {
    this.scopes.length = this.functionStarts.pop()!;
    this.functions.pop();
    this.loopDepth.pop();
  }

  private get currentFunction(): FunctionBody | null {
    return this.functions[this.functions.length - 1]!;
  }

  private declare(node: Statement | FunctionBody, name: string, persistent = false): Variable {
    let variable: Variable;
    if (persistent) {
      const slot = (this.options.session?.slotCount ?? 0) + this.newSessionVariables.length;
      variable = { name, owner: null, captured: true, sessionSlot: slot };
      this.newSessionVariables.push(variable);
    } else {
      variable = { name, owner: this.currentFunction, captured: false, sessionSlot: -1 };
    }
    this.scopes[this.scopes.length - 1]!.set(name, variable);
    let list = this.declarations.get(node);
    if (list === undefined) this.declarations.set(node, (list = []));
    list.push(variable);
    return variable;
  }

  private lookup(name: string): Binding | undefined {
    const currentStart = this.functionStarts[this.functionStarts.length - 1]!;
    for (let index = this.scopes.length - 1; index >= 0; index--) {
      const variable = this.scopes[index]!.get(name);
      if (variable !== undefined) {
        if (index < currentStart && variable.sessionSlot < 0) variable.captured = true;
        return variable;
      }
    }
    const session = this.sessionVariables.get(name);
    if (session !== undefined) return session;
    return this.options.globals.has(name) ? { global: name } : undefined;
  }

  // ---- statements -------------------------------------------------------------------

  /** `topLevel`: the chunk's own block, whose declarations persist in a REPL session. */
  private block(block: Block, topLevel = false, scope: Scope = new Map()): void {
    this.scopes.push(scope);
    const labels = new Set<string>();
    const persistent = topLevel && this.options.session !== undefined;
    for (const statement of block.statements) {
      if (statement.kind === 'label') {
        if (labels.has(statement.name)) this.fail(statement.line, `duplicate label '${statement.name}'`);
        labels.add(statement.name);
      }
      this.statement(statement, persistent);
    }
    if (block.returns?.value !== undefined) this.expression(block.returns.value);
    this.scopes.pop();
  }

  private loopBody(block: Block, scope?: Scope): void {
    this.loopDepth[this.loopDepth.length - 1]!++;
    this.block(block, false, scope);
    this.loopDepth[this.loopDepth.length - 1]!--;
  }

  private statement(statement: Statement, persistent: boolean): void {
    switch (statement.kind) {
      case 'var':
        statement.values.forEach((value) => this.expression(value));
        statement.names.forEach((name) => this.declare(statement, name, persistent));
        return;
      case 'function':
        this.declare(statement, statement.name, persistent);
        this.function(statement.func);
        return;
      case 'assign':
        statement.targets.forEach((target) => this.target(target));
        statement.values.forEach((value) => this.expression(value));
        return;
      case 'increment':
        this.target(statement.target);
        this.expression(statement.value);
        return;
      case 'call':
        this.expression(statement.call);
        return;
      case 'if':
        for (const clause of statement.clauses) {
          this.expression(clause.condition);
          this.block(clause.body);
        }
        if (statement.otherwise !== undefined) this.block(statement.otherwise);
        return;
      case 'while':
        this.expression(statement.condition);
        this.loopBody(statement.body);
        return;
      case 'repeat': {
        // The condition sees the body's locals.
        const scope: Scope = new Map();
        this.loopBody(statement.body, scope);
        this.scopes.push(scope);
        this.expression(statement.condition);
        this.scopes.pop();
        return;
      }
      case 'fornum':
        this.expression(statement.start);
        this.expression(statement.limit);
        if (statement.step !== undefined) this.expression(statement.step);
        this.scopes.push(new Map());
        this.declare(statement, statement.variable);
        this.loopBody(statement.body);
        this.scopes.pop();
        return;
      case 'forin': {
        const iterator = statement.iterator;
        const binding = iterator.kind === 'call' && iterator.callee.kind === 'name' ? this.lookup(iterator.callee.name) : undefined;
        if (binding === undefined || !('global' in binding) || binding.global !== 'pairs') {
          this.fail(statement.line, 'only pairs() can be used as a for-in iterator');
        }
        if (iterator.kind === 'call') iterator.args.forEach((arg) => this.expression(arg));
        this.scopes.push(new Map());
        this.declare(statement, statement.key);
        if (statement.value !== undefined) this.declare(statement, statement.value);
        this.loopBody(statement.body);
        this.scopes.pop();
        return;
      }
      case 'do':
        this.block(statement.body);
        return;
      case 'break':
        if (this.loopDepth[this.loopDepth.length - 1] === 0) this.fail(statement.line, 'no loop to break');
        return;
      case 'label':
        return;
      case 'handler':
        this.checkHandlerHeader(statement);
        this.function(statement.func);
        return;
    }
  }

  private checkHandlerHeader(statement: Extract<Statement, { kind: 'handler' }>): void {
    if (statement.handler === 'trace_end') return;
    const parsed = parseHeader(statement.handler, statement.header);
    if (typeof parsed === 'string') this.fail(statement.line, parsed);
  }

  private function(func: FunctionBody): void {
    this.enterFunction(func);
    for (const param of func.params) this.declare(func, param);
    this.block(func.body);
    this.leaveFunction();
  }

  private target(target: AssignTarget): void {
    if (target.kind === 'index') {
      this.expression(target.object);
      this.expression(target.key);
      return;
    }
    const binding = this.lookup(target.name);
    if (binding === undefined || 'global' in binding) this.fail(target.line, `cannot set global variable '${target.name}'`);
    this.references.set(target, binding);
  }

  // ---- expressions ------------------------------------------------------------------

  private expression(expression: Expression): void {
    switch (expression.kind) {
      case 'name': {
        const binding = this.lookup(expression.name);
        if (binding === undefined) this.fail(expression.line, `undefined global variable '${expression.name}'`);
        this.references.set(expression, binding);
        return;
      }
      case 'index': {
        // `args.NAME` is the event field NAME unless the script has its own `args`.
        const { object, key } = expression;
        if (object.kind === 'name' && object.name === EVENT_FIELDS_NAME && key.kind === 'string' && this.lookup(EVENT_FIELDS_NAME) === undefined) {
          this.eventFields.set(expression, key.value);
          return;
        }
        this.expression(object);
        this.expression(key);
        return;
      }
      case 'call':
        this.expression(expression.callee);
        expression.args.forEach((arg) => this.expression(arg));
        return;
      case 'method':
        this.expression(expression.object);
        expression.args.forEach((arg) => this.expression(arg));
        return;
      case 'function':
        this.function(expression.func);
        return;
      case 'table':
        for (const field of expression.fields) {
          if (field.kind === 'keyed') this.expression(field.key);
          this.expression(field.value);
        }
        return;
      case 'binary':
        this.expression(expression.left);
        this.expression(expression.right);
        return;
      case 'unary':
        this.expression(expression.operand);
        return;
      case 'paren':
        this.expression(expression.inner);
        return;
      case 'tuple':
        expression.parts.forEach((part) => this.expression(part));
        return;
      default:
        return;
    }
  }
}
