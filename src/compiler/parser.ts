// Recursive descent with precedence climbing: tokens → AST. Reports the first syntax error
// the way SPEC §6.1 describes (Lua's conventions for the line and the `near` token).

import type { AssignTarget, BinaryOperator, Block, Chunk, Expression, FunctionBody, Statement, TableField } from './ast';
import { CompileError } from './errors';
import { Lexer } from './lexer';
import { RESERVED_WORDS, type Token, type TokenKind } from './token';
import { EVENT_VARIABLES, type EventVariable, type HandlerKind } from '../vm/opcodes';

/**
 * Binding power of binary operators: [left, right]; right < left makes an operator
 * right-associative. The bit operators sit between comparison and `..` as in Lua 5.4.
 */
const BINARY_PRIORITY: Partial<Record<TokenKind, readonly [number, number]>> = {
  '||': [1, 1], '&&': [2, 2],
  '==': [3, 3], '!=': [3, 3], '<': [3, 3], '<=': [3, 3], '>': [3, 3], '>=': [3, 3],
  '|': [4, 4], '~': [5, 5], '&': [6, 6], '<<': [7, 7], '>>': [7, 7], '>>>': [7, 7],
  '..': [9, 8],
  '+': [10, 10], '-': [10, 10],
  '*': [11, 11], '/': [11, 11], '%': [11, 11],
};
const UNARY_PRIORITY = 12;

/** Nesting beyond this is the † error `chunk has too many syntax levels` (SPEC §6.1). */
const MAX_SYNTAX_LEVELS = 200;
/** Nesting beyond this stops parsing at once, before the JS stack could run out. */
const HARD_SYNTAX_LEVELS = 1000;
/**
 * Deepest syntax tree (in nested AST objects) the recursive passes after the parser may
 * walk. Chains like `1+1+…` or `f(1)(1)…` add depth without nesting syntax levels; the
 * most a tree within MAX_SYNTAX_LEVELS reaches is about 5 objects per level.
 */
const MAX_TREE_DEPTH = 1100;

const EVENT_VARIABLE_SET: ReadonlySet<string> = new Set(EVENT_VARIABLES);
const RESERVED_WORD_SET: ReadonlySet<string> = new Set(RESERVED_WORDS);

function blockFollows(kind: TokenKind): boolean {
  return kind === '}' || kind === 'eof' || kind === 'end' || kind === 'until' || kind === 'else' || kind === 'elseif';
}

export function parse(source: string, chunk: string): Chunk {
  return new Parser(source, chunk).chunk();
}

/**
 * The line of the first node found deeper than MAX_TREE_DEPTH, if any: a loop with its own
 * stack, so that the check itself cannot run out of JS stack on the trees it rejects.
 */
function tooDeepTreeLine(root: Block): number | undefined {
  // Entries of three: a node, its depth, and the line of its nearest ancestor with one.
  const stack: unknown[] = [root, 0, 1];
  while (stack.length > 0) {
    const inherited = stack.pop() as number;
    const depth = stack.pop() as number;
    const node = stack.pop() as Record<string, unknown>;
    const line = typeof node.line === 'number' ? node.line : inherited;
    if (depth > MAX_TREE_DEPTH) return line;
    for (const key in node) {
      const child = node[key];
      if (typeof child === 'object' && child !== null) stack.push(child, depth + 1, line);
    }
  }
  return undefined;
}

class Parser {
  private readonly lexer: Lexer;
  private token: Token;
  private ahead: Token | null = null;
  /** Line where the lexer was after the previous token: Lua's `lastline`, for the ambiguity check. */
  private previousEndLine = 1;
  private level = 0;
  /** First nesting overflow (a † error, reported only if the parse succeeds otherwise). */
  private tooDeepLine = 0;

  constructor(source: string, private readonly chunkName: string) {
    this.lexer = new Lexer(source, chunkName);
    this.token = this.lexer.next();
  }

  chunk(): Chunk {
    const body = this.block();
    if (this.token.kind !== 'eof') this.errorExpected('<eof>');
    if (this.tooDeepLine > 0) throw new CompileError(this.chunkName, this.tooDeepLine, 'chunk has too many syntax levels');
    const deepLine = tooDeepTreeLine(body);
    if (deepLine !== undefined) throw new CompileError(this.chunkName, deepLine, 'chunk has too many syntax levels');
    return { body, lastLine: this.lexer.line };
  }

  // ---- token helpers ----------------------------------------------------------------

  private next(): void {
    this.previousEndLine = this.token.endLine;
    if (this.ahead !== null) {
      this.token = this.ahead;
      this.ahead = null;
    } else {
      this.token = this.lexer.next();
    }
  }

  /** The current token's kind, read afresh (TypeScript narrows `this.token.kind` across next()). */
  private peekCurrent(): TokenKind {
    return this.token.kind;
  }

  private peekKind(): TokenKind {
    if (this.ahead === null) this.ahead = this.lexer.next();
    return this.ahead.kind;
  }

  private error(detail: string): never {
    throw new CompileError(this.chunkName, this.lexer.line, detail, this.token.text);
  }

  private errorExpected(what: string): never {
    this.error(`'${what}' expected`);
  }

  private testNext(kind: TokenKind): boolean {
    if (this.token.kind !== kind) return false;
    this.next();
    return true;
  }

  private checkNext(kind: TokenKind): void {
    if (this.token.kind !== kind) this.errorExpected(kind);
    this.next();
  }

  /** Expects the token closing `opener` (seen at `openLine`); names the opener when lines differ. */
  private checkMatch(closer: TokenKind, opener: string, openLine: number): void {
    if (this.token.kind === closer) {
      this.next();
      return;
    }
    if (openLine === this.lexer.line) this.errorExpected(closer);
    this.error(`'${closer}' expected (to close '${opener}' at line ${openLine})`);
  }

  private checkName(): string {
    if (this.token.kind !== 'name') this.error('<name> expected');
    const name = this.token.value as string;
    this.next();
    return name;
  }

  /**
   * A field or method name after `.` or `:`. Reserved words are accepted there because
   * the libraries have members named like them (`timer.tick`, `kdebug.trace_end`).
   */
  private checkFieldName(): string {
    if (RESERVED_WORD_SET.has(this.token.kind)) {
      const name = this.token.text;
      this.next();
      return name;
    }
    return this.checkName();
  }

  private enterLevel(): void {
    this.level++;
    if (this.level > MAX_SYNTAX_LEVELS && this.tooDeepLine === 0) this.tooDeepLine = this.lexer.line;
    if (this.level > HARD_SYNTAX_LEVELS) throw new CompileError(this.chunkName, this.tooDeepLine, 'chunk has too many syntax levels');
  }

  // ---- blocks and statements --------------------------------------------------------

  private block(): Block {
    this.enterLevel();
    const statements: Statement[] = [];
    let returns: Block['returns'];
    while (!blockFollows(this.token.kind)) {
      if (this.token.kind === 'return') {
        returns = this.returnStatement();
        break;
      }
      const statement = this.statement();
      if (statement !== null) statements.push(statement);
      this.testNext(';');
    }
    this.level--;
    return returns === undefined ? { statements } : { statements, returns };
  }

  /** `{ block }` */
  private bracedBlock(): Block {
    const openLine = this.token.line;
    this.checkNext('{');
    const body = this.block();
    this.checkMatch('}', '{', openLine);
    return body;
  }

  private returnStatement(): NonNullable<Block['returns']> {
    const line = this.token.line;
    this.next();
    if (blockFollows(this.token.kind) || this.token.kind === ';') {
      this.testNext(';');
      return { line };
    }
    const value = this.expression();
    if (this.token.kind === ',') this.error("don't support return multiple values");
    this.testNext(';');
    return { value, line };
  }

  private statement(): Statement | null {
    const line = this.token.line;
    switch (this.token.kind) {
      case ';':
        this.next();
        return null;
      case 'if':
        return this.ifStatement(line);
      case 'while': {
        this.next();
        const condition = this.condition();
        return { kind: 'while', condition, body: this.bracedBlock(), line };
      }
      case 'repeat': {
        this.next();
        const body = this.peekCurrent() === '{' ? this.bracedBlock() : this.block();
        this.checkMatch('until', 'repeat', line);
        return { kind: 'repeat', body, condition: this.condition(), line };
      }
      case 'for':
        return this.forStatement(line);
      case 'do': {
        this.next();
        const body = this.block();
        this.checkMatch('end', 'do', line);
        return { kind: 'do', body, line };
      }
      case 'function': {
        this.next();
        const name = this.checkName();
        return { kind: 'function', name, func: this.functionBody(name, line), line };
      }
      case 'var':
        return this.varStatement(line);
      case 'break':
        this.next();
        return { kind: 'break', line };
      case '::': {
        this.next();
        const name = this.checkName();
        this.checkNext('::');
        return { kind: 'label', name, line };
      }
      case 'trace':
        return this.handlerStatement('trace', line);
      case 'tick':
      case 'profile': {
        const kind = this.token.kind;
        this.next();
        if (this.peekCurrent() !== '-') this.errorExpected('-');
        return this.handlerStatement(kind, line, `${kind}-`);
      }
      case 'trace_end': {
        this.next();
        return { kind: 'handler', handler: 'trace_end', header: 'trace_end', func: this.handlerBody('trace_end', line), line };
      }
      default:
        return this.expressionStatement(line);
    }
  }

  private ifStatement(line: number): Statement {
    this.next();
    const clauses = [{ condition: this.condition(), body: this.bracedBlock() }];
    let otherwise: Block | undefined;
    for (;;) {
      if (this.token.kind === 'elseif') {
        this.next();
        clauses.push({ condition: this.condition(), body: this.bracedBlock() });
      } else if (this.token.kind === 'else') {
        this.next();
        if (this.testNext('if')) {
          clauses.push({ condition: this.condition(), body: this.bracedBlock() });
        } else {
          otherwise = this.bracedBlock();
          break;
        }
      } else {
        break;
      }
    }
    return otherwise === undefined ? { kind: 'if', clauses, line } : { kind: 'if', clauses, otherwise, line };
  }

  /** `( expr )` */
  private condition(): Expression {
    const openLine = this.token.line;
    this.checkNext('(');
    const condition = this.expression();
    this.checkMatch(')', '(', openLine);
    return condition;
  }

  private forStatement(line: number): Statement {
    this.next();
    const openLine = this.token.line;
    this.checkNext('(');
    const first = this.checkName();
    if (this.token.kind === '=') {
      this.next();
      const start = this.expression();
      this.checkNext(',');
      const limit = this.expression();
      const step = this.testNext(',') ? this.expression() : undefined;
      this.checkMatch(')', '(', openLine);
      const body = this.bracedBlock();
      return step === undefined
        ? { kind: 'fornum', variable: first, start, limit, body, line }
        : { kind: 'fornum', variable: first, start, limit, step, body, line };
    }
    if (this.token.kind !== ',' && this.token.kind !== 'in') this.error("'=' or 'in' expected");
    const value = this.testNext(',') ? this.checkName() : undefined;
    this.checkNext('in');
    const iterator = this.expression();
    this.checkMatch(')', '(', openLine);
    const body = this.bracedBlock();
    return value === undefined
      ? { kind: 'forin', key: first, iterator, body, line }
      : { kind: 'forin', key: first, value, iterator, body, line };
  }

  private varStatement(line: number): Statement {
    this.next();
    if (this.testNext('function')) {
      const name = this.checkName();
      return { kind: 'function', name, func: this.functionBody(name, line), line };
    }
    const names = [this.checkName()];
    while (this.testNext(',')) names.push(this.checkName());
    const values = this.testNext('=') ? this.expressionList() : [];
    return { kind: 'var', names, values, line };
  }

  /**
   * `trace EVENTSPEC {…}` or `tick-INTERVAL {…}`: the header is raw text up to `{`, read
   * while the current token is the one before it (`trace` or `-`).
   */
  private handlerStatement(handler: HandlerKind, line: number, prefix = ''): Statement {
    if (this.ahead !== null) throw new Error('internal: lookahead before a raw header');
    const raw = this.lexer.readRawHeader();
    this.next();
    if (!raw.found) this.errorExpected('{');
    const header = prefix + raw.text;
    return { kind: 'handler', handler, header, func: this.handlerBody(header, line), line };
  }

  private handlerBody(name: string, line: number): FunctionBody {
    const body = this.bracedBlock();
    return { name, params: [], body, line, lastLine: this.previousEndLine };
  }

  private expressionStatement(line: number): Statement {
    const first = this.suffixedExpression();
    if (this.token.kind === '=' || this.token.kind === ',') {
      const targets = [this.assignTarget(first)];
      while (this.testNext(',')) targets.push(this.assignTarget(this.suffixedExpression()));
      this.checkNext('=');
      return { kind: 'assign', targets, values: this.expressionList(), line };
    }
    if (this.token.kind === '+=') {
      const target = this.assignTarget(first);
      this.next();
      return { kind: 'increment', target, value: this.expression(), line };
    }
    if (first.kind !== 'call' && first.kind !== 'method') this.errorExpected('=');
    return { kind: 'call', call: first, line };
  }

  private assignTarget(expression: Expression): AssignTarget {
    if (expression.kind === 'name' || expression.kind === 'index') return expression;
    this.error('unexpected symbol');
  }

  // ---- functions --------------------------------------------------------------------

  private functionBody(name: string, line: number): FunctionBody {
    const openLine = this.token.line;
    this.checkNext('(');
    const params: string[] = [];
    if (this.token.kind !== ')') {
      do params.push(this.checkName());
      while (this.testNext(','));
    }
    this.checkMatch(')', '(', openLine);
    const body = this.bracedBlock();
    return { name, params, body, line, lastLine: this.previousEndLine };
  }

  // ---- expressions ------------------------------------------------------------------

  private expressionList(): Expression[] {
    const list = [this.expression()];
    while (this.testNext(',')) list.push(this.expression());
    return list;
  }

  expression(): Expression {
    return this.subExpression(0);
  }

  private subExpression(limit: number): Expression {
    this.enterLevel();
    let left: Expression;
    const kind = this.token.kind;
    if (kind === '!' || kind === '-' || kind === '~') {
      const line = this.token.line;
      this.next();
      const operand = this.subExpression(UNARY_PRIORITY);
      left = { kind: 'unary', operator: kind, operand, line };
    } else {
      left = this.simpleExpression();
    }
    for (;;) {
      if (this.token.kind === '^') this.error("ktap don't support pow arith");
      const priority = BINARY_PRIORITY[this.token.kind];
      if (priority === undefined || priority[0] <= limit) break;
      const operator = this.token.kind as BinaryOperator;
      const line = this.token.line;
      this.next();
      const right = this.subExpression(priority[1]);
      left = { kind: 'binary', operator, left, right, line };
    }
    this.level--;
    return left;
  }

  private simpleExpression(): Expression {
    const token = this.token;
    const line = token.line;
    switch (token.kind) {
      case 'number':
        this.next();
        return { kind: 'number', value: token.value as number | bigint, line };
      case 'string':
        this.next();
        return { kind: 'string', value: token.value as string, line };
      case 'nil':
        this.next();
        return { kind: 'nil', line };
      case 'true':
      case 'false':
        this.next();
        return { kind: 'boolean', value: token.kind === 'true', line };
      case '...':
        return this.error("cannot use '...' outside a vararg function");
      case 'function':
        this.next();
        return { kind: 'function', func: this.functionBody('function', line), line };
      case '{':
        return this.tableConstructor();
      default:
        if (EVENT_VARIABLE_SET.has(token.kind)) {
          this.next();
          return { kind: 'eventvar', name: token.kind as EventVariable, line };
        }
        return this.suffixedExpression();
    }
  }

  private primaryExpression(): Expression {
    const token = this.token;
    if (token.kind === 'name') {
      this.next();
      return { kind: 'name', name: token.value as string, line: token.line };
    }
    if (token.kind === '(') {
      this.next();
      const inner = this.expression();
      this.checkMatch(')', '(', token.line);
      return { kind: 'paren', inner, line: token.line };
    }
    if (token.kind === 'ffi') this.error('ffi is not supported');
    this.error('unexpected symbol');
  }

  private suffixedExpression(): Expression {
    let expression = this.primaryExpression();
    for (;;) {
      const line = this.token.line;
      switch (this.token.kind) {
        case '.': {
          this.next();
          const name = this.checkFieldName();
          expression = { kind: 'index', object: expression, key: { kind: 'string', value: name, line }, line };
          break;
        }
        case '[': {
          this.next();
          const parts = this.expressionList();
          this.checkNext(']');
          const key: Expression = parts.length === 1 ? parts[0]! : { kind: 'tuple', parts, line };
          expression = { kind: 'index', object: expression, key, line };
          break;
        }
        case ':': {
          this.next();
          const method = this.checkFieldName();
          expression = { kind: 'method', object: expression, method, args: this.callArguments(), line };
          break;
        }
        case '(':
        case 'string':
        case '{':
          expression = { kind: 'call', callee: expression, args: this.callArguments(), line };
          break;
        default:
          return expression;
      }
    }
  }

  private callArguments(): Expression[] {
    const token = this.token;
    switch (token.kind) {
      case 'string':
        this.next();
        return [{ kind: 'string', value: token.value as string, line: token.line }];
      case '{':
        return [this.tableConstructor()];
      case '(': {
        if (token.line !== this.previousEndLine) this.error('ambiguous syntax (function call x new statement)');
        this.next();
        const args = this.token.kind === ')' ? [] : this.expressionList();
        this.checkMatch(')', '(', token.line);
        return args;
      }
      default:
        this.error('function arguments expected');
    }
  }

  private tableConstructor(): Expression {
    const line = this.token.line;
    this.checkNext('{');
    const fields: TableField[] = [];
    while (this.token.kind !== '}') {
      if (this.token.kind === 'name' && this.peekKind() === '=') {
        const key: Expression = { kind: 'string', value: this.token.value as string, line: this.token.line };
        this.next();
        this.next();
        fields.push({ kind: 'keyed', key, value: this.expression() });
      } else if (this.token.kind === '[') {
        this.next();
        const key = this.expression();
        this.checkNext(']');
        this.checkNext('=');
        fields.push({ kind: 'keyed', key, value: this.expression() });
      } else {
        fields.push({ kind: 'positional', value: this.expression() });
      }
      if (!this.testNext(',') && !this.testNext(';')) break;
    }
    this.checkMatch('}', '{', line);
    return { kind: 'table', fields, line };
  }
}
