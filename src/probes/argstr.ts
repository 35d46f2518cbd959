// argstr (SPEC §4.11): an event rendered as the kernel's trace file shows it. Each event type's
// renderer is compiled once from its format; rendering a record then only reads fields.

import type { EventLayout, FieldLayout } from './format';
import { readField, type PageBytes } from './fields';
import type { KernelSymbol } from './kallsyms';

/** Renders one record `[offset, offset + length)` of `bytes`, without line header or newline. */
export type ArgstrRenderer = (bytes: PageBytes, offset: number, length: number) => string;

export interface ArgstrOptions {
  /**
   * The kernel symbol holding an address, for `%pS` (`vfs_read+0x10/0x1b0`) and `%ps`
   * (`vfs_read`); KernelSymbols.lookup fits. An address without one (or without this option)
   * prints as `0x` + hex, as the kernel prints one it cannot name.
   */
  readonly kernelSymbol?: (address: bigint) => KernelSymbol | undefined;
  /**
   * The value of an enum constant a print fmt names (the kernel substitutes only those its
   * tracepoints declare with TRACE_DEFINE_ENUM), e.g. from `btfEnumValues`; a print fmt
   * naming one it does not know falls back to the field list.
   */
  readonly enumValue?: (name: string) => bigint | undefined;
}

/** A print fmt this renderer cannot evaluate: unknown names, functions or conversions. */
export class PrintFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PrintFormatError';
  }
}

/**
 * The renderer of an event type: syscalls as `sys_NAME(ARG: V, …)` and `sys_NAME -> 0xV`,
 * other events as `EVENT: ` + their print fmt, or `EVENT: NAME=VALUE …` when the print fmt
 * cannot be rendered. That choice is made here, once; the renderer never throws.
 */
export function compileArgstr(layout: EventLayout, options: ArgstrOptions = {}): ArgstrRenderer {
  const fallback = fieldListRenderer(layout);
  let render = syscallRenderer(layout);
  if (!render) {
    try {
      render = compilePrintFormat(layout, options);
    } catch {
      // PrintFormatError, or a print fmt odd enough to break the compiler: either way the
      // event still renders (the survey test holds the compiler to PrintFormatError).
      return fallback;
    }
  }
  const renderer = render;
  // Fixed fields are read without bounds checks; a record too short for them (never written
  // by the kernel, but pages can be corrupt) gets the checked field list instead.
  const fixedEnd = layout.fields.reduce((end, field) => Math.max(end, field.offset + field.size), 0);
  return (bytes, offset, length) => {
    if (length < fixedEnd) return fallback(bytes, offset, length);
    try {
      return renderer(bytes, offset, length);
    } catch {
      // Dynamic locations are checked, so only a page lying about its records gets here.
      return fallback(bytes, offset, length);
    }
  };
}

/**
 * `EVENT: ` + the event's print fmt evaluated on the record. Throws PrintFormatError when
 * the print fmt uses something this evaluator does not support.
 */
export function compilePrintFormat(layout: EventLayout, options: ArgstrOptions = {}): ArgstrRenderer {
  const items = new Parser(tokenize(layout.printFmt)).list();
  const format = items[0];
  if (format?.kind !== 'string') throw new PrintFormatError('print fmt does not start with a string');
  const { literals, pieces } = compileConversions(format.value, items.slice(1), new ExpressionCompiler(layout, options));
  const prefix = `${layout.name}: ${literals[0]}`;
  const count = pieces.length;
  if (count === 0) return () => prefix;
  return (bytes, offset, length) => {
    let text = prefix;
    for (let index = 0; index < count; index++) text += pieces[index]!(bytes, offset, length) + literals[index + 1]!;
    return text;
  };
}

// ---------------------------------------------------------------------------------------------
// Syscalls and the field list. The kernel prints syscall events with its own functions
// (print_syscall_enter/exit), not with their print fmt.

const SYSCALL_ENTER = 'sys_enter_';
const SYSCALL_EXIT = 'sys_exit_';

function syscallRenderer(layout: EventLayout): ArgstrRenderer | undefined {
  if (layout.system !== 'syscalls') return undefined;
  const parameters = layout.fields.slice(layout.fields.findIndex((field) => field.name === '__syscall_nr') + 1);
  if (!parameters.every((field) => field.kind === 'int' && field.size === 8)) return undefined;
  if (layout.name.startsWith(SYSCALL_ENTER)) {
    const opening = `sys_${layout.name.slice(SYSCALL_ENTER.length)}(`;
    const labels = parameters.map((field, index) => `${index === 0 ? '' : ', '}${field.name}: `);
    const positions = parameters.map((field) => field.offset);
    return (bytes, offset) => {
      let text = opening;
      for (let index = 0; index < positions.length; index++) {
        text += labels[index]! + hex64(bytes.view, offset + positions[index]!);
      }
      return text + ')';
    };
  }
  if (layout.name.startsWith(SYSCALL_EXIT) && parameters.length > 0) {
    const prefix = `sys_${layout.name.slice(SYSCALL_EXIT.length)} -> 0x`;
    const position = (parameters.find((field) => field.name === 'ret') ?? parameters[0]!).offset;
    return (bytes, offset) => prefix + hex64(bytes.view, offset + position);
  }
  return undefined;
}

/** The 8 bytes at `position` as unsigned lowercase hex, from two 32-bit halves (no bigint). */
function hex64(view: DataView, position: number): string {
  const low = view.getUint32(position, true);
  const high = view.getUint32(position + 4, true);
  return high === 0 ? low.toString(16) : high.toString(16) + low.toString(16).padStart(8, '0');
}

/** `EVENT: NAME=VALUE …` with the values scripts see as argN (nil for unreadable fields). */
function fieldListRenderer(layout: EventLayout): ArgstrRenderer {
  const prefix = `${layout.name}: `;
  const fields = layout.fields;
  const labels = fields.map((field, index) => `${index === 0 ? '' : ' '}${field.name}=`);
  return (bytes, offset, length) => {
    let text = prefix;
    for (let index = 0; index < fields.length; index++) {
      const value = readField(bytes, offset, length, fields[index]!);
      text += labels[index]! + (value === undefined ? 'nil' : String(value));
    }
    return text;
  };
}

// ---------------------------------------------------------------------------------------------
// Tokens of the C expressions in a print fmt.

interface IntegerType {
  readonly bits: 8 | 16 | 32 | 64;
  readonly signed: boolean;
}

const INT: IntegerType = { bits: 32, signed: true };
const UINT: IntegerType = { bits: 32, signed: false };
const LONG: IntegerType = { bits: 64, signed: true };
const ULONG: IntegerType = { bits: 64, signed: false };
const UCHAR: IntegerType = { bits: 8, signed: false };

interface Token {
  readonly kind: 'number' | 'string' | 'name' | 'punctuator' | 'end';
  /** A name, a punctuator, or a string literal's decoded bytes. */
  readonly text: string;
  /** Number and character literals. */
  readonly value: bigint;
  readonly type: IntegerType;
}

// Longer first, so that `<<` is not read as two `<`.
const PUNCTUATORS = [
  '->', '<<', '>>', '<=', '>=', '==', '!=', '&&', '||',
  '(', ')', '[', ']', '{', '}', ',', '?', ':', '!', '~', '*', '/', '%', '+', '-', '<', '>', '&', '^', '|',
];
const NUMBER = /(0[xX][0-9a-fA-F]+|[0-9]+)([uUlL]*)(?![\w.])/y;
const NAME = /[A-Za-z_]\w*/y;
const SPACE = /\s+/y;
const SIMPLE_ESCAPES: Record<string, string> = {
  n: '\n', t: '\t', r: '\r', a: '\x07', b: '\b', f: '\f', v: '\v', e: '\x1b', '\\': '\\', '"': '"', "'": "'", '?': '?',
};

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  const token = (kind: Token['kind'], text: string, value = 0n, type = INT): void => {
    tokens.push({ kind, text, value, type });
  };
  let index = 0;
  const matchAt = (pattern: RegExp): RegExpExecArray | null => {
    pattern.lastIndex = index;
    return pattern.exec(source);
  };
  while (index < source.length) {
    const space = matchAt(SPACE);
    if (space) {
      index += space[0].length;
      continue;
    }
    const character = source[index]!;
    if (character === '"' || character === "'") {
      const [text, end] = quoted(source, index);
      index = end;
      if (character === '"') token('string', text);
      else if (text.length === 1) token('number', text, BigInt(text.charCodeAt(0)));
      else throw new PrintFormatError(`bad character literal at ${index}`);
      continue;
    }
    const number = matchAt(NUMBER);
    if (number) {
      index += number[0].length;
      const [value, type] = integerLiteral(number[1]!, number[2]!);
      token('number', number[0], value, type);
      continue;
    }
    const name = matchAt(NAME);
    if (name) {
      index += name[0].length;
      token('name', name[0]);
      continue;
    }
    const punctuator = PUNCTUATORS.find((candidate) => source.startsWith(candidate, index));
    if (!punctuator) throw new PrintFormatError(`unexpected '${character}' in print fmt`);
    index += punctuator.length;
    token('punctuator', punctuator);
  }
  token('end', '<end>');
  return tokens;
}

/** The decoded text of the literal quoted at `start`, and the index after it. */
function quoted(source: string, start: number): [string, number] {
  const quote = source[start];
  let text = '';
  let index = start + 1;
  while (index < source.length && source[index] !== quote) {
    const character = source[index++]!;
    if (character !== '\\') {
      text += character;
      continue;
    }
    const escaped = source[index] ?? '';
    const octal = /^[0-7]{1,3}/.exec(source.slice(index, index + 3));
    const hex = /^x([0-9a-fA-F]{1,2})/.exec(source.slice(index, index + 3));
    if (octal) {
      text += String.fromCharCode(parseInt(octal[0], 8) & 0xff);
      index += octal[0].length;
    } else if (hex) {
      text += String.fromCharCode(parseInt(hex[1]!, 16));
      index += hex[0].length;
    } else if (escaped in SIMPLE_ESCAPES) {
      text += SIMPLE_ESCAPES[escaped];
      index++;
    } else {
      throw new PrintFormatError(`unknown escape '\\${escaped}'`);
    }
  }
  if (index >= source.length) throw new PrintFormatError('unterminated literal in print fmt');
  return [text, index + 1];
}

/** A C integer constant's value and type: the first of int, unsigned, long, unsigned long that its base and suffix allow and that holds it. */
function integerLiteral(digits: string, suffix: string): [bigint, IntegerType] {
  const lower = suffix.toLowerCase();
  const unsigned = lower.includes('u');
  const longs = lower.replace('u', '');
  if (lower.length - longs.length > 1 || !['', 'l', 'll'].includes(longs) || /lL|Ll/.test(suffix)) {
    throw new PrintFormatError(`bad integer suffix '${suffix}'`);
  }
  const octal = digits.length > 1 && digits[0] === '0' && !/^0[xX]/.test(digits);
  if (octal && !/^[0-7]+$/.test(digits)) throw new PrintFormatError(`bad octal constant '${digits}'`);
  const value = octal ? BigInt('0o' + digits.slice(1)) : BigInt(digits);
  const decimal = !octal && !/^0[xX]/.test(digits);
  for (const type of [INT, UINT, LONG, ULONG]) {
    if (longs !== '' && type.bits !== 64) continue;
    if (type.signed ? unsigned : decimal && !unsigned) continue;
    if (fits(value, type)) return [value, type];
  }
  throw new PrintFormatError(`integer constant '${digits}${suffix}' is too large`);
}

function fits(value: bigint, type: IntegerType): boolean {
  const bits = BigInt(type.bits);
  return type.signed
    ? value >= -(1n << (bits - 1n)) && value < 1n << (bits - 1n)
    : value >= 0n && value < 1n << bits;
}

// ---------------------------------------------------------------------------------------------
// The syntax tree and its parser: C expressions, plus the `{ value, "name" }` lists of
// __print_flags and __print_symbolic.

/** A type in a cast or sizeof; pointers to anything but bytes scale arithmetic, which is refused. */
type TypeName =
  | { readonly kind: 'integer'; readonly type: IntegerType }
  | { readonly kind: 'pointer'; readonly scaled: boolean };

type Node =
  | { readonly kind: 'number'; readonly value: bigint; readonly type: IntegerType }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'name'; readonly name: string }
  | { readonly kind: 'member'; readonly object: Node; readonly name: string }
  | { readonly kind: 'index'; readonly object: Node; readonly index: Node }
  | { readonly kind: 'call'; readonly name: string; readonly args: readonly Node[] }
  | { readonly kind: 'list'; readonly items: readonly Node[] }
  | { readonly kind: 'unary'; readonly operator: string; readonly operand: Node }
  | { readonly kind: 'binary'; readonly operator: string; readonly left: Node; readonly right: Node }
  | { readonly kind: 'conditional'; readonly test: Node; readonly consequent: Node; readonly alternate: Node }
  | { readonly kind: 'cast'; readonly type: TypeName; readonly operand: Node }
  | { readonly kind: 'sizeof'; readonly operand: Node };

const BINARY_PRECEDENCE: Record<string, number> = {
  '||': 1, '&&': 2, '|': 3, '^': 4, '&': 5, '==': 6, '!=': 6,
  '<': 7, '<=': 7, '>': 7, '>=': 7, '<<': 8, '>>': 8, '+': 9, '-': 9, '*': 10, '/': 10, '%': 10,
};
const UNARY_OPERATORS = new Set(['-', '+', '!', '~', '*', '&']);

const TYPE_KEYWORDS = new Set([
  'const', 'volatile', 'signed', 'unsigned', 'short', 'long', 'int', 'char', 'void', '_Bool', 'struct', 'union', 'enum',
]);
/** Kernel typedefs that casts in print fmts use, with their x86-64/aarch64 widths. */
const TYPEDEFS = new Map<string, IntegerType>([
  ...(['u8', '__u8', 'uint8_t', 'bool'] as const).map((name) => [name, UCHAR] as const),
  ...(['s8', '__s8', 'int8_t'] as const).map((name) => [name, { bits: 8, signed: true }] as const),
  ...(['u16', '__u16', 'uint16_t', '__le16', '__be16', 'umode_t'] as const).map((name) => [name, { bits: 16, signed: false }] as const),
  ...(['s16', '__s16', 'int16_t'] as const).map((name) => [name, { bits: 16, signed: true }] as const),
  ...(['u32', '__u32', 'uint32_t', '__le32', '__be32', 'uint', 'uid_t', 'gid_t', 'dev_t', 'gfp_t'] as const)
    .map((name) => [name, UINT] as const),
  ...(['s32', '__s32', 'int32_t', 'pid_t', '__kernel_rwf_t'] as const).map((name) => [name, INT] as const),
  ...(['u64', '__u64', 'uint64_t', '__le64', '__be64', 'size_t', 'ulong', 'sector_t', 'phys_addr_t', 'dma_addr_t'] as const)
    .map((name) => [name, ULONG] as const),
  ...(['s64', '__s64', 'int64_t', 'ssize_t', 'loff_t'] as const).map((name) => [name, LONG] as const),
]);

class Parser {
  private position = 0;

  constructor(private readonly tokens: readonly Token[]) {}

  /** The whole input: comma-separated expressions. */
  list(): Node[] {
    const items = [this.expression()];
    while (this.accept(',')) items.push(this.expression());
    this.expectEnd();
    return items;
  }

  /** A type name filling the whole input (the declaration of an array field). */
  typeOnly(): TypeName {
    const type = this.typeName();
    this.expectEnd();
    return type;
  }

  private expression(): Node {
    const test = this.binary(1);
    if (!this.accept('?')) return test;
    const consequent = this.expression();
    this.expect(':');
    return { kind: 'conditional', test, consequent, alternate: this.expression() };
  }

  /** Precedence climbing over the left-associative binary operators. */
  private binary(minimum: number): Node {
    let left = this.unary();
    for (;;) {
      const token = this.peek();
      const precedence = token.kind === 'punctuator' ? BINARY_PRECEDENCE[token.text] : undefined;
      if (precedence === undefined || precedence < minimum) return left;
      this.position++;
      left = { kind: 'binary', operator: token.text, left, right: this.binary(precedence + 1) };
    }
  }

  private unary(): Node {
    const token = this.peek();
    if (token.kind === 'punctuator' && UNARY_OPERATORS.has(token.text)) {
      this.position++;
      return { kind: 'unary', operator: token.text, operand: this.unary() };
    }
    if (token.kind === 'name' && token.text === 'sizeof') {
      this.position++;
      if (this.isPunctuator(this.peek(), '(') && this.startsType(this.peek(1))) {
        this.position++;
        const type = this.typeName();
        this.expect(')');
        return { kind: 'number', value: BigInt(typeSize(type)), type: ULONG };
      }
      return { kind: 'sizeof', operand: this.unary() };
    }
    if (this.isPunctuator(token, '(') && this.startsType(this.peek(1))) {
      this.position++;
      const type = this.typeName();
      this.expect(')');
      return { kind: 'cast', type, operand: this.unary() };
    }
    return this.postfix();
  }

  private postfix(): Node {
    let node = this.primary();
    for (;;) {
      if (this.accept('->')) {
        node = { kind: 'member', object: node, name: this.name() };
      } else if (this.accept('[')) {
        const index = this.expression();
        this.expect(']');
        node = { kind: 'index', object: node, index };
      } else if (node.kind === 'name' && this.accept('(')) {
        const args: Node[] = [];
        if (!this.accept(')')) {
          do args.push(this.expression()); while (this.accept(','));
          this.expect(')');
        }
        node = { kind: 'call', name: node.name, args };
      } else {
        return node;
      }
    }
  }

  private primary(): Node {
    const token = this.next();
    switch (token.kind) {
      case 'number':
        return { kind: 'number', value: token.value, type: token.type };
      case 'string': {
        // Adjacent literals are one string, as in C.
        let value = token.text;
        while (this.peek().kind === 'string') value += this.next().text;
        return { kind: 'string', value };
      }
      case 'name':
        return { kind: 'name', name: token.text };
      case 'punctuator':
        if (token.text === '(') {
          const node = this.expression();
          this.expect(')');
          return node;
        }
        if (token.text === '{') {
          const items: Node[] = [];
          if (!this.accept('}')) {
            do items.push(this.expression()); while (this.accept(','));
            this.expect('}');
          }
          return { kind: 'list', items };
        }
    }
    throw new PrintFormatError(`unexpected '${token.text}' in print fmt`);
  }

  /** Type words (`unsigned long`, `struct page`, `u64`) and stars. */
  private typeName(): TypeName {
    const words: string[] = [];
    let tag = false;
    for (;;) {
      const token = this.peek();
      if (token.kind !== 'name') break;
      if (tag || TYPE_KEYWORDS.has(token.text) || (TYPEDEFS.has(token.text) && !words.some(isBaseWord))) {
        tag = token.text === 'struct' || token.text === 'union' || token.text === 'enum';
        words.push(this.next().text);
      } else {
        break;
      }
    }
    let pointers = 0;
    while (this.accept('*')) pointers++;
    return resolveType(words, pointers);
  }

  private startsType(token: Token): boolean {
    return token.kind === 'name' && (TYPE_KEYWORDS.has(token.text) || TYPEDEFS.has(token.text));
  }

  private name(): string {
    const token = this.next();
    if (token.kind !== 'name') throw new PrintFormatError(`name expected near '${token.text}'`);
    return token.text;
  }

  private peek(ahead = 0): Token {
    return this.tokens[Math.min(this.position + ahead, this.tokens.length - 1)]!;
  }

  private next(): Token {
    const token = this.peek();
    if (token.kind !== 'end') this.position++;
    return token;
  }

  private isPunctuator(token: Token, text: string): boolean {
    return token.kind === 'punctuator' && token.text === text;
  }

  private accept(text: string): boolean {
    if (!this.isPunctuator(this.peek(), text)) return false;
    this.position++;
    return true;
  }

  private expect(text: string): void {
    if (!this.accept(text)) throw new PrintFormatError(`'${text}' expected near '${this.peek().text}'`);
  }

  private expectEnd(): void {
    if (this.peek().kind !== 'end') throw new PrintFormatError(`unexpected '${this.peek().text}' in print fmt`);
  }
}

function isBaseWord(word: string): boolean {
  return word !== 'const' && word !== 'volatile';
}

function resolveType(words: readonly string[], pointers: number): TypeName {
  const base = words.filter(isBaseWord);
  if (base.length === 0) throw new PrintFormatError('type expected');
  const has = (word: string): boolean => base.includes(word);
  if (pointers > 0) {
    const target = has('void') || has('struct') || has('union') ? undefined : integerType(base);
    return { kind: 'pointer', scaled: !(has('void') || target?.bits === 8) || pointers > 1 };
  }
  if (has('struct') || has('union') || has('void')) throw new PrintFormatError(`cannot use a '${base.join(' ')}' value`);
  return { kind: 'integer', type: integerType(base) };
}

function integerType(base: readonly string[]): IntegerType {
  if (base[0] === 'enum') return INT;
  const typedef = TYPEDEFS.get(base[0]!);
  if (typedef && base.length === 1) return typedef;
  const longs = base.filter((word) => word === 'long').length;
  const unsigned = base.includes('unsigned');
  if (base.some((word) => !['signed', 'unsigned', 'short', 'long', 'int', 'char', '_Bool'].includes(word))) {
    throw new PrintFormatError(`unknown type '${base.join(' ')}'`);
  }
  // The kernel builds with -funsigned-char on every architecture (6.2+).
  if (base.includes('char') || base.includes('_Bool')) return { bits: 8, signed: base.includes('signed') };
  if (base.includes('short')) return { bits: 16, signed: !unsigned };
  return { bits: longs > 0 ? 64 : 32, signed: !unsigned };
}

function typeSize(type: TypeName): number {
  return type.kind === 'pointer' ? 8 : type.type.bits / 8;
}

// ---------------------------------------------------------------------------------------------
// Typed evaluation. Integers up to 32 bits are JS numbers, 64-bit ones bigints, each kept in
// its C type's range; strings are byte strings. Expressions without fields are folded.

type Scalar = number | bigint;
type Evaluate<T> = (bytes: PageBytes, offset: number, length: number) => T;

interface IntegerExpression {
  readonly kind: 'integer';
  readonly type: IntegerType;
  readonly evaluate: Evaluate<Scalar>;
  readonly constant?: Scalar;
  /** A cast to a pointer whose arithmetic would scale by the pointee's size. */
  readonly scaledPointer?: boolean;
}

interface StringExpression {
  readonly kind: 'string';
  readonly evaluate: Evaluate<string>;
  readonly constant?: string;
}

type Expression = IntegerExpression | StringExpression;

const NO_RECORD: PageBytes = { page: Buffer.alloc(0), view: new DataView(new ArrayBuffer(0)) };
const NO_BYTES = new Uint8Array(0);

function isConstant(expressions: readonly Expression[]): boolean {
  return expressions.every((expression) => expression.constant !== undefined);
}

function integerExpression(type: IntegerType, evaluate: Evaluate<Scalar>, operands: readonly Expression[]): IntegerExpression {
  if (!isConstant(operands)) return { kind: 'integer', type, evaluate };
  const constant = evaluate(NO_RECORD, 0, 0);
  return { kind: 'integer', type, evaluate: () => constant, constant };
}

function stringExpression(evaluate: Evaluate<string>, operands: readonly Expression[]): StringExpression {
  if (!isConstant(operands)) return { kind: 'string', evaluate };
  const constant = evaluate(NO_RECORD, 0, 0);
  return { kind: 'string', evaluate: () => constant, constant };
}

/** `value` (exact) reduced into a number-represented type's range, as C conversion does. */
function numberNormalizer(type: IntegerType): (value: number) => number {
  switch (type.bits) {
    case 8: return type.signed ? (value) => (value << 24) >> 24 : (value) => value & 0xff;
    case 16: return type.signed ? (value) => (value << 16) >> 16 : (value) => value & 0xffff;
    default: return type.signed ? (value) => value | 0 : (value) => value >>> 0;
  }
}

function bigintNormalizer(type: IntegerType): (value: bigint) => bigint {
  return type.signed ? (value) => BigInt.asIntN(64, value) : (value) => BigInt.asUintN(64, value);
}

/** C's conversion between integer types; undefined when the representation does not change. */
function converter(from: IntegerType, to: IntegerType): ((value: Scalar) => Scalar) | undefined {
  if (to.bits === 64) {
    if (from.bits === 64) {
      if (from.signed === to.signed) return undefined;
      const normalize = bigintNormalizer(to);
      return (value) => normalize(value as bigint);
    }
    return from.signed && !to.signed
      ? (value) => BigInt.asUintN(64, BigInt(value))
      : (value) => BigInt(value);
  }
  const normalize = numberNormalizer(to);
  if (from.bits === 64) return (value) => normalize(Number(BigInt.asIntN(32, value as bigint)));
  const widening = to.bits > from.bits && (to.signed || !from.signed);
  if (widening || (to.bits === from.bits && to.signed === from.signed)) return undefined;
  return (value) => normalize(value as number);
}

function convert(expression: IntegerExpression, to: IntegerType): IntegerExpression {
  const change = converter(expression.type, to);
  if (!change) return { kind: 'integer', type: to, evaluate: expression.evaluate, constant: expression.constant };
  const evaluate = expression.evaluate;
  return integerExpression(to, (bytes, offset, length) => change(evaluate(bytes, offset, length)), [expression]);
}

/** The integer promotions: everything narrower than int computes as int. */
function promote(type: IntegerType): IntegerType {
  return type.bits < 32 ? INT : type;
}

/** The usual arithmetic conversions (long and long long are both 64 bits here). */
function commonType(left: IntegerType, right: IntegerType): IntegerType {
  const a = promote(left);
  const b = promote(right);
  if (a.bits !== b.bits) return a.bits > b.bits ? a : b;
  return a.signed && b.signed ? a : { bits: a.bits, signed: false };
}

function truth(expression: Expression): Evaluate<boolean> {
  if (expression.kind === 'string') return () => true; // a string is a non-NULL pointer
  const evaluate = expression.evaluate;
  return (bytes, offset, length) => {
    const value = evaluate(bytes, offset, length);
    return value !== 0 && value !== 0n;
  };
}

type Operation = (left: Scalar, right: Scalar) => Scalar;

const COMPARISONS: Record<string, Operation> = {
  '==': (left, right) => (left === right ? 1 : 0),
  '!=': (left, right) => (left !== right ? 1 : 0),
  '<': (left, right) => (left < right ? 1 : 0),
  '<=': (left, right) => (left <= right ? 1 : 0),
  '>': (left, right) => (left > right ? 1 : 0),
  '>=': (left, right) => (left >= right ? 1 : 0),
};

/** Arithmetic in a 32-bit type (numbers); division by zero, undefined in C, gives 0. */
function numberOperation(operator: string, type: IntegerType): Operation {
  const normalize = numberNormalizer(type);
  type Numeric = (left: number, right: number) => number;
  const operations: Record<string, Numeric> = {
    '+': (left, right) => normalize(left + right),
    '-': (left, right) => normalize(left - right),
    '*': (left, right) => normalize(Math.imul(left, right)),
    '/': (left, right) => (right === 0 ? 0 : normalize(Math.trunc(left / right))),
    '%': (left, right) => (right === 0 ? 0 : normalize(left % right)),
    '&': (left, right) => normalize(left & right),
    '|': (left, right) => normalize(left | right),
    '^': (left, right) => normalize(left ^ right),
    // JS masks shift counts to 5 bits, as x86 does for 32-bit shifts.
    '<<': (left, right) => normalize(left << right),
    '>>': type.signed ? (left, right) => left >> right : (left, right) => left >>> right,
  };
  return operations[operator] as Operation;
}

/** Arithmetic in a 64-bit type (bigints); shift counts are numbers, masked to 6 bits. */
function bigintOperation(operator: string, type: IntegerType): Operation {
  const normalize = bigintNormalizer(type);
  type Numeric = (left: bigint, right: bigint) => bigint;
  const operations: Record<string, Numeric> = {
    '+': (left, right) => normalize(left + right),
    '-': (left, right) => normalize(left - right),
    '*': (left, right) => normalize(left * right),
    '/': (left, right) => (right === 0n ? 0n : normalize(left / right)),
    '%': (left, right) => (right === 0n ? 0n : left % right),
    '&': (left, right) => left & right,
    '|': (left, right) => left | right,
    '^': (left, right) => left ^ right,
  };
  if (operator === '<<') return (left, right) => normalize((left as bigint) << BigInt((right as number) & 63));
  if (operator === '>>') return (left, right) => (left as bigint) >> BigInt((right as number) & 63);
  return operations[operator] as Operation;
}

// Element count and type of an array field (`unsigned long[8]`).
const ARRAY_TYPE = /^(.*)\[(\d+)\]$/;
const DYNAMIC_TYPE = /^__(data|rel)_loc\b/;

class ExpressionCompiler {
  constructor(private readonly layout: EventLayout, private readonly options: ArgstrOptions) {}

  value(node: Node): Expression {
    switch (node.kind) {
      case 'number': {
        const value = node.type.bits === 64 ? node.value : Number(node.value);
        return { kind: 'integer', type: node.type, evaluate: () => value, constant: value };
      }
      case 'string': {
        const value = node.value;
        return { kind: 'string', evaluate: () => value, constant: value };
      }
      case 'member':
        return this.fieldValue(this.member(node));
      case 'index':
        return this.index(node.object, node.index);
      case 'call':
        return this.call(node.name, node.args);
      case 'unary':
        return this.unary(node.operator, node.operand);
      case 'binary':
        return this.binary(node.operator, node.left, node.right);
      case 'conditional':
        return this.conditional(node.test, node.consequent, node.alternate);
      case 'cast':
        return this.cast(node.type, node.operand);
      case 'sizeof': {
        const size = node.operand.kind === 'member' ? this.member(node.operand).size : this.integer(node.operand).type.bits / 8;
        return { kind: 'integer', type: ULONG, evaluate: () => BigInt(size), constant: BigInt(size) };
      }
      case 'name': {
        const value = this.options.enumValue?.(node.name);
        if (value === undefined) throw new PrintFormatError(`unknown name '${node.name}'`);
        const type = [INT, UINT, LONG, ULONG].find((candidate) => fits(value, candidate));
        if (!type) throw new PrintFormatError(`enum constant '${node.name}' does not fit 64 bits`);
        const constant = type.bits === 64 ? value : Number(value);
        return { kind: 'integer', type, evaluate: () => constant, constant };
      }
      case 'list':
        throw new PrintFormatError('unexpected { … } in print fmt');
    }
  }

  integer(node: Node): IntegerExpression {
    const expression = this.value(node);
    if (expression.kind !== 'integer') throw new PrintFormatError('integer expected, got a string');
    return expression;
  }

  text(node: Node): StringExpression {
    const expression = this.value(node);
    if (expression.kind !== 'string') throw new PrintFormatError('string expected, got an integer');
    return expression;
  }

  /** The bytes a pointer argument points to: a field, a dynamic array, `&REC->field`. */
  bytes(node: Node): Evaluate<Uint8Array> {
    if (node.kind === 'member' || (node.kind === 'unary' && node.operator === '&' && node.operand.kind === 'member')) {
      const field = this.member(node.kind === 'member' ? node : (node.operand as Node & { kind: 'member' }));
      if (DYNAMIC_TYPE.test(field.type)) return dynamicBytes(field);
      const start = field.offset;
      const end = start + field.size;
      return (bytes, offset) => bytes.page.subarray(offset + start, offset + end);
    }
    if (node.kind === 'cast' && node.type.kind === 'pointer') return this.bytes(node.operand);
    if (node.kind === 'call' && DYNAMIC_ARRAY_FUNCTIONS.has(node.name)) return dynamicBytes(this.dynamicField(node.args));
    throw new PrintFormatError('cannot find the bytes a pointer argument points to');
  }

  /** `REC->name` (the common fields included). */
  member(node: Node & { kind: 'member' }): FieldLayout {
    if (node.object.kind !== 'name' || node.object.name !== 'REC') throw new PrintFormatError(`'->${node.name}' not on REC`);
    return this.field(node.name);
  }

  private field(name: string): FieldLayout {
    const field = this.layout.fields.find((candidate) => candidate.name === name)
      ?? this.layout.commonFields.find((candidate) => candidate.name === name);
    if (!field) throw new PrintFormatError(`no field '${name}'`);
    return field;
  }

  private fieldValue(field: FieldLayout): Expression {
    switch (field.kind) {
      case 'int': {
        const type: IntegerType = { bits: (field.size * 8) as IntegerType['bits'], signed: field.signed };
        return { kind: 'integer', type, evaluate: integerReader(field.offset, type) };
      }
      case 'chars':
      case 'dataloc':
      case 'relloc':
        return { kind: 'string', evaluate: stringReader(field) };
      default:
        throw new PrintFormatError(`field '${field.name}' (${field.type}) used as a value`);
    }
  }

  /** The field named by the single argument of __get_str and friends. */
  private dynamicField(args: readonly Node[]): FieldLayout {
    const [argument] = args;
    if (args.length !== 1 || argument?.kind !== 'name') throw new PrintFormatError('field name expected');
    const field = this.field(argument.name);
    if (!DYNAMIC_TYPE.test(field.type) || field.size !== 4) throw new PrintFormatError(`field '${field.name}' is not dynamic`);
    return field;
  }

  private index(objectNode: Node, indexNode: Node): Expression {
    const index = this.integer(indexNode);
    if (objectNode.kind === 'member') {
      const field = this.member(objectNode);
      const array = ARRAY_TYPE.exec(field.type);
      const count = Number(array?.[2]);
      if (!array || count === 0 || field.size % count !== 0) throw new PrintFormatError(`'${field.name}' is not an array`);
      const element = new Parser(tokenize(array[1]!)).typeOnly();
      if (element.kind !== 'integer' || element.type.bits / 8 !== field.size / count) {
        throw new PrintFormatError(`cannot read elements of '${field.name}'`);
      }
      if (index.constant === undefined || index.constant < 0 || index.constant >= count) {
        throw new PrintFormatError(`index into '${field.name}' is not a constant within it`);
      }
      return { kind: 'integer', type: element.type, evaluate: integerReader(field.offset + Number(index.constant) * (field.size / count), element.type) };
    }
    const text = this.text(objectNode);
    const characters = text.evaluate;
    const position = convert(index, INT).evaluate;
    // Past the end C would read the NUL (or beyond); 0 is what a short string gives.
    return integerExpression(UCHAR, (bytes, offset, length) =>
      characters(bytes, offset, length).charCodeAt(position(bytes, offset, length) as number) || 0, [text, index]);
  }

  private unary(operator: string, operandNode: Node): Expression {
    if (operator === '!') {
      const operand = this.value(operandNode);
      const test = truth(operand);
      return integerExpression(INT, (bytes, offset, length) => (test(bytes, offset, length) ? 0 : 1), [operand]);
    }
    if (operator === '*' || operator === '&') throw new PrintFormatError(`unary '${operator}' needs kernel memory`);
    const operand = this.integer(operandNode);
    const type = promote(operand.type);
    const value = convert(operand, type).evaluate;
    if (operator === '+') return convert(operand, type);
    let operation: (value: Scalar) => Scalar;
    if (type.bits === 64) {
      const normalize = bigintNormalizer(type);
      operation = operator === '-' ? (value) => normalize(-(value as bigint)) : (value) => normalize(~(value as bigint));
    } else {
      const normalize = numberNormalizer(type);
      operation = operator === '-' ? (value) => normalize(-(value as number)) : (value) => normalize(~(value as number));
    }
    return integerExpression(type, (bytes, offset, length) => operation(value(bytes, offset, length)), [operand]);
  }

  private binary(operator: string, leftNode: Node, rightNode: Node): Expression {
    if (operator === '&&' || operator === '||') {
      const left = this.value(leftNode);
      const right = this.value(rightNode);
      const leftTest = truth(left);
      const rightTest = truth(right);
      const evaluate: Evaluate<Scalar> = operator === '&&'
        ? (bytes, offset, length) => (leftTest(bytes, offset, length) && rightTest(bytes, offset, length) ? 1 : 0)
        : (bytes, offset, length) => (leftTest(bytes, offset, length) || rightTest(bytes, offset, length) ? 1 : 0);
      return integerExpression(INT, evaluate, [left, right]);
    }
    const left = this.integer(leftNode);
    const right = this.integer(rightNode);
    if ((left.scaledPointer || right.scaledPointer) && (operator === '+' || operator === '-')) {
      throw new PrintFormatError('arithmetic on a pointer to a sized type');
    }
    let type: IntegerType;
    let leftValue: Evaluate<Scalar>;
    let rightValue: Evaluate<Scalar>;
    if (operator === '<<' || operator === '>>') {
      type = promote(left.type);
      leftValue = convert(left, type).evaluate;
      rightValue = convert(right, INT).evaluate;
    } else {
      type = commonType(left.type, right.type);
      leftValue = convert(left, type).evaluate;
      rightValue = convert(right, type).evaluate;
    }
    const comparison = COMPARISONS[operator] as Operation | undefined;
    const operation = comparison ?? (type.bits === 64 ? bigintOperation(operator, type) : numberOperation(operator, type));
    return integerExpression(comparison ? INT : type, (bytes, offset, length) =>
      operation(leftValue(bytes, offset, length), rightValue(bytes, offset, length)), [left, right]);
  }

  private conditional(testNode: Node, consequentNode: Node, alternateNode: Node): Expression {
    const test = this.value(testNode);
    let consequent = this.value(consequentNode);
    let alternate = this.value(alternateNode);
    if (consequent.kind === 'integer' && alternate.kind === 'integer') {
      const type = commonType(consequent.type, alternate.type);
      consequent = convert(consequent, type);
      alternate = convert(alternate, type);
    } else {
      // `x ? "name" : NULL`: %s prints a NULL pointer as (null).
      if (consequent.kind === 'integer' && consequent.constant == 0) consequent = nullString();
      if (alternate.kind === 'integer' && alternate.constant == 0) alternate = nullString();
      if (consequent.kind !== alternate.kind) throw new PrintFormatError('?: mixes a string and an integer');
    }
    const decide = truth(test);
    if (test.constant !== undefined) return decide(NO_RECORD, 0, 0) ? consequent : alternate;
    const yes = consequent.evaluate;
    const no = alternate.evaluate;
    const evaluate = (bytes: PageBytes, offset: number, length: number): Scalar | string =>
      (decide(bytes, offset, length) ? yes : no)(bytes, offset, length);
    return consequent.kind === 'integer'
      ? { kind: 'integer', type: consequent.type, evaluate: evaluate as Evaluate<Scalar> }
      : { kind: 'string', evaluate: evaluate as Evaluate<string> };
  }

  private cast(type: TypeName, operandNode: Node): Expression {
    const operand = this.value(operandNode);
    if (type.kind === 'integer') {
      if (operand.kind !== 'integer') throw new PrintFormatError('cast of a string to an integer');
      return convert(operand, type.type);
    }
    if (operand.kind === 'string') return operand; // (char *)__get_str(x) and the like
    return { ...convert(operand, ULONG), scaledPointer: type.scaled };
  }

  private call(name: string, args: readonly Node[]): Expression {
    switch (name) {
      case '__get_str':
      case '__get_rel_str':
        return { kind: 'string', evaluate: stringReader(this.dynamicField(args)) };
      case '__get_dynamic_array':
      case '__get_rel_dynamic_array': {
        const field = this.dynamicField(args);
        if (field.kind === 'other') throw new PrintFormatError(`array '${field.name}' used as a value`);
        return { kind: 'string', evaluate: stringReader(field) };
      }
      case '__get_dynamic_array_len':
      case '__get_rel_dynamic_array_len': {
        const field = this.dynamicField(args);
        const position = field.offset;
        return { kind: 'integer', type: UINT, evaluate: (bytes, offset) => bytes.view.getUint32(offset + position, true) >>> 16 };
      }
      case '__get_bitmask':
      case '__get_rel_bitmask':
      case '__get_cpumask':
      case '__get_rel_cpumask': {
        const bitmap = dynamicBytes(this.dynamicField(args));
        return { kind: 'string', evaluate: (bytes, offset, length) => {
          const mask = bitmap(bytes, offset, length);
          return bitmapHex(mask, mask.length * 8);
        } };
      }
      case '__print_flags':
      case '__print_flags_u64':
        return this.printFlags(args);
      case '__print_symbolic':
      case '__print_symbolic_u64':
        return this.printSymbolic(args);
      case '__print_hex':
      case '__print_hex_str':
        return this.printHex(args, name === '__print_hex' ? ' ' : '');
      case '__print_array':
        return this.printArray(args);
      case '__builtin_expect':
        if (args.length !== 2) throw new PrintFormatError('__builtin_expect takes 2 arguments');
        return this.value(args[0]!);
      default:
        throw new PrintFormatError(`unsupported function '${name}'`);
    }
  }

  /** trace_print_flags_seq: names of the masks set, first match first, the rest as 0x…. */
  private printFlags(args: readonly Node[]): StringExpression {
    const [valueNode, delimiterNode, ...entryNodes] = args;
    if (!valueNode || !delimiterNode) throw new PrintFormatError('__print_flags needs a value and a delimiter');
    const value = convert(this.integer(valueNode), ULONG);
    const delimiter = this.constantText(delimiterNode);
    const entries = this.flagEntries(entryNodes);
    const masks = entries.map(([mask]) => mask);
    const clears = masks.map((mask) => ~mask);
    const names = entries.map(([, text]) => text);
    const evaluate = value.evaluate;
    return stringExpression((bytes, offset, length) => {
      let flags = evaluate(bytes, offset, length) as bigint;
      let text = '';
      let first = true;
      for (let index = 0; index < masks.length && flags !== 0n; index++) {
        const mask = masks[index]!;
        if ((flags & mask) !== mask) continue;
        flags &= clears[index]!;
        text += first ? names[index]! : delimiter + names[index]!;
        first = false;
      }
      if (flags !== 0n) text += `${first ? '' : delimiter}0x${flags.toString(16)}`;
      return text;
    }, [value]);
  }

  /** trace_print_symbols_seq: the name of the first equal value, else 0x…. */
  private printSymbolic(args: readonly Node[]): StringExpression {
    const [valueNode, ...entryNodes] = args;
    if (!valueNode) throw new PrintFormatError('__print_symbolic needs a value');
    const value = convert(this.integer(valueNode), ULONG);
    const names = new Map<bigint, string>();
    for (const [mask, text] of this.flagEntries(entryNodes)) {
      if (!names.has(mask)) names.set(mask, text);
    }
    const evaluate = value.evaluate;
    return stringExpression((bytes, offset, length) => {
      const key = evaluate(bytes, offset, length) as bigint;
      // An empty name prints nothing, which the kernel takes for no match.
      return names.get(key) || `0x${key.toString(16)}`;
    }, [value]);
  }

  /** `{ MASK, "NAME" }` entries as unsigned long masks; a NULL name ends the table, as in the kernel. */
  private flagEntries(nodes: readonly Node[]): Array<[bigint, string]> {
    const entries: Array<[bigint, string]> = [];
    for (const node of nodes) {
      if (node.kind === 'list' && node.items.length === 0) break; // `{ }`: mask 0, name NULL
      if (node.kind !== 'list' || node.items.length !== 2) throw new PrintFormatError('{ value, "name" } expected');
      const mask = convert(this.integer(node.items[0]!), ULONG).constant;
      if (mask === undefined) throw new PrintFormatError('flag value is not a constant');
      const name = this.value(node.items[1]!);
      if (name.kind === 'integer' && name.constant == 0) break;
      if (name.kind !== 'string' || name.constant === undefined) throw new PrintFormatError('flag name is not a string constant');
      entries.push([mask as bigint, name.constant]);
    }
    return entries;
  }

  private constantText(node: Node): string {
    const text = this.text(node).constant;
    if (text === undefined) throw new PrintFormatError('string constant expected');
    return text;
  }

  /** trace_print_hex_seq: bytes as 2-digit hex, space-separated or (hex_str) run together. */
  private printHex(args: readonly Node[], separator: string): StringExpression {
    if (args.length !== 2) throw new PrintFormatError('__print_hex takes 2 arguments');
    const buffer = this.bytes(args[0]!);
    const count = convert(this.integer(args[1]!), INT).evaluate;
    return {
      kind: 'string',
      evaluate: (bytes, offset, length) => hexBytes(buffer(bytes, offset, length), count(bytes, offset, length) as number, separator),
    };
  }

  /** trace_print_array_seq: `{0x1,0x2}` over elements of 1, 2, 4 or 8 bytes. */
  private printArray(args: readonly Node[]): StringExpression {
    if (args.length !== 3) throw new PrintFormatError('__print_array takes 3 arguments');
    const buffer = this.bytes(args[0]!);
    const count = convert(this.integer(args[1]!), INT).evaluate;
    const size = Number(this.integer(args[2]!).constant);
    if (size !== 1 && size !== 2 && size !== 4 && size !== 8) throw new PrintFormatError('__print_array element size is not 1, 2, 4 or 8');
    return {
      kind: 'string',
      evaluate: (bytes, offset, length) => {
        const array = buffer(bytes, offset, length);
        const view = new DataView(array.buffer, array.byteOffset, array.byteLength);
        const elements = Math.min(count(bytes, offset, length) as number, Math.floor(array.length / size));
        let text = '{';
        for (let index = 0; index < elements; index++) {
          const position = index * size;
          const element = size === 8 ? hex64(view, position)
            : (size === 4 ? view.getUint32(position, true) : size === 2 ? view.getUint16(position, true) : array[position]!).toString(16);
          text += `${index === 0 ? '' : ','}0x${element}`;
        }
        return text + '}';
      },
    };
  }

  /** The symbol text of `%pS`/`%ps`, or `0x` + hex. */
  symbol(withOffset: boolean): (address: bigint) => string {
    const kernelSymbol = this.options.kernelSymbol;
    return (address) => {
      const symbol = kernelSymbol?.(address);
      return symbol ? formatKernelSymbol(symbol, withOffset) : `0x${address.toString(16)}`;
    };
  }
}

/** The kernel's sprint_symbol text: `NAME+0xOFFSET/0xSIZE [MODULE]`, or without the offset part. */
export function formatKernelSymbol(symbol: KernelSymbol, withOffset: boolean): string {
  const module = symbol.module === undefined ? '' : ` [${symbol.module}]`;
  if (!withOffset) return symbol.name + module;
  return `${symbol.name}+0x${symbol.offset.toString(16)}/0x${symbol.size.toString(16)}${module}`;
}

const DYNAMIC_ARRAY_FUNCTIONS = new Set([
  '__get_dynamic_array', '__get_rel_dynamic_array', '__get_str', '__get_rel_str', '__get_sockaddr', '__get_rel_sockaddr',
  '__get_bitmask', '__get_rel_bitmask', '__get_cpumask', '__get_rel_cpumask',
]);

function nullString(): StringExpression {
  return { kind: 'string', evaluate: () => '(null)', constant: '(null)' };
}

function integerReader(position: number, type: IntegerType): Evaluate<Scalar> {
  const signed = type.signed;
  switch (type.bits) {
    case 8: return signed ? (bytes, offset) => bytes.view.getInt8(offset + position) : (bytes, offset) => bytes.view.getUint8(offset + position);
    case 16: return signed
      ? (bytes, offset) => bytes.view.getInt16(offset + position, true)
      : (bytes, offset) => bytes.view.getUint16(offset + position, true);
    case 32: return signed
      ? (bytes, offset) => bytes.view.getInt32(offset + position, true)
      : (bytes, offset) => bytes.view.getUint32(offset + position, true);
    default: return signed
      ? (bytes, offset) => bytes.view.getBigInt64(offset + position, true)
      : (bytes, offset) => bytes.view.getBigUint64(offset + position, true);
  }
}

function stringReader(field: FieldLayout): Evaluate<string> {
  return (bytes, offset, length) => (readField(bytes, offset, length, field) as string | undefined) ?? '';
}

/** The bytes a `__data_loc`/`__rel_loc` field locates; none when they lie outside the record. */
function dynamicBytes(field: FieldLayout): Evaluate<Uint8Array> {
  const position = field.offset;
  const base = field.type.startsWith('__rel_loc') ? field.offset + field.size : 0;
  return (bytes, offset, length) => {
    const location = bytes.view.getUint32(offset + position, true);
    const start = base + (location & 0xffff);
    const end = start + (location >>> 16);
    return end > length ? NO_BYTES : bytes.page.subarray(offset + start, offset + end);
  };
}

// ---------------------------------------------------------------------------------------------
// The format string, with the kernel's vsnprintf rules (lib/vsprintf.c): length qualifiers
// truncate, `#x` of 0 is `0x0`, `0` pads even with a precision, %p prints 16 hex digits.

interface NumberSpec {
  readonly base: 8 | 10 | 16;
  readonly signed: boolean;
  readonly upper: boolean;
  readonly left: boolean;
  readonly plus: boolean;
  readonly space: boolean;
  readonly special: boolean;
  readonly zero: boolean;
}

/** One `%…` of the format, decoded at compile time. */
interface Directive {
  left: boolean;
  plus: boolean;
  space: boolean;
  special: boolean;
  zero: boolean;
  /** -1 when not given; a `*` takes its value from an argument. */
  width: number;
  precision: number;
  widthArgument?: IntegerExpression;
  precisionArgument?: IntegerExpression;
  qualifier: string;
}

const QUALIFIER_BITS: Record<string, IntegerType['bits']> = { hh: 8, h: 16, '': 32, l: 64, ll: 64, L: 64, z: 64, Z: 64, t: 64 };

/**
 * The format's literal text between conversions and a renderer per conversion, rendered text
 * of constant arguments folded into the literals.
 */
function compileConversions(format: string, args: readonly Node[], compiler: ExpressionCompiler): {
  literals: string[];
  pieces: Array<Evaluate<string>>;
} {
  const literals: string[] = [];
  const pieces: Array<Evaluate<string>> = [];
  let literal = '';
  let used = 0;
  const nextArgument = (): Node => {
    const argument = args[used++];
    if (!argument) throw new PrintFormatError('fewer arguments than conversions');
    return argument;
  };
  const starArgument = (): IntegerExpression => convert(compiler.integer(nextArgument()), INT);
  let index = 0;
  while (index < format.length) {
    const percent = format.indexOf('%', index);
    if (percent < 0) {
      literal += format.slice(index);
      break;
    }
    literal += format.slice(index, percent);
    index = percent + 1;
    const directive: Directive = {
      left: false, plus: false, space: false, special: false, zero: false, width: -1, precision: -1, qualifier: '',
    };
    for (let flag = format[index]; ; flag = format[++index]) {
      if (flag === '-') directive.left = true;
      else if (flag === '+') directive.plus = true;
      else if (flag === ' ') directive.space = true;
      else if (flag === '#') directive.special = true;
      else if (flag === '0') directive.zero = true;
      else break;
    }
    if (format[index] === '*') {
      index++;
      directive.widthArgument = starArgument();
    } else {
      const digits = /^\d*/.exec(format.slice(index))![0];
      if (digits) directive.width = Number(digits);
      index += digits.length;
    }
    if (format[index] === '.') {
      index++;
      if (format[index] === '*') {
        index++;
        directive.precisionArgument = starArgument();
      } else {
        const digits = /^\d*/.exec(format.slice(index))![0];
        directive.precision = Number(digits); // `%.d` is precision 0
        index += digits.length;
      }
    }
    directive.qualifier = /^(hh|h|ll|l|L|z|Z|t)?/.exec(format.slice(index))![0];
    index += directive.qualifier.length;
    const character = format[index++] ?? '';
    let piece: StringExpression;
    switch (character) {
      case '%':
        literal += '%';
        continue;
      case 'd': case 'i': case 'u': case 'x': case 'X': case 'o':
        piece = integerPiece(compiler.integer(nextArgument()), character, directive);
        break;
      case 'c':
        piece = padded(charPiece(compiler.integer(nextArgument())), directive);
        break;
      case 's':
        piece = padded(compiler.text(nextArgument()), directive);
        break;
      case 'p': {
        const extension = /^[A-Za-z0-9]*/.exec(format.slice(index))![0];
        index += extension.length;
        piece = pointerPiece(extension, nextArgument(), directive, compiler);
        break;
      }
      default:
        throw new PrintFormatError(`unsupported conversion '%${character}'`);
    }
    if (piece.constant !== undefined) {
      literal += piece.constant;
      continue;
    }
    literals.push(literal);
    pieces.push(piece.evaluate);
    literal = '';
  }
  literals.push(literal);
  return { literals, pieces };
}

function integerPiece(argument: IntegerExpression, character: string, directive: Directive): StringExpression {
  const signed = character === 'd' || character === 'i';
  const value = convert(argument, { bits: QUALIFIER_BITS[directive.qualifier]!, signed }).evaluate;
  const spec: NumberSpec = {
    base: character === 'o' ? 8 : character === 'x' || character === 'X' ? 16 : 10,
    signed,
    upper: character === 'X',
    left: directive.left,
    plus: directive.plus,
    space: directive.space,
    special: directive.special,
    zero: directive.zero,
  };
  const plain = !directive.left && !directive.plus && !directive.space && !directive.special && !directive.zero
    && directive.width < 0 && directive.precision < 0 && !directive.widthArgument && !directive.precisionArgument;
  if (plain && spec.base === 10) return stringExpression((bytes, offset, length) => String(value(bytes, offset, length)), [argument]);
  const render = withStars(directive, (scalar: Scalar, width, precision, left) =>
    formatNumber(scalar, left && !spec.left ? { ...spec, left: true } : spec, width, precision));
  return stringExpression((bytes, offset, length) => render(value(bytes, offset, length), bytes, offset, length), [argument, ...stars(directive)]);
}

/**
 * `render(value, width, precision, left)` with the directive's width and precision, taking
 * `*` ones from their arguments at event time (a negative `*` width means `-`, a negative
 * precision none).
 */
function withStars<T>(
  directive: Directive,
  render: (value: T, width: number, precision: number, left: boolean) => string,
): (value: T, bytes: PageBytes, offset: number, length: number) => string {
  const widthArgument = directive.widthArgument?.evaluate;
  const precisionArgument = directive.precisionArgument?.evaluate;
  if (!widthArgument && !precisionArgument) {
    const { width, precision, left } = directive;
    return (value) => render(value, width, precision, left);
  }
  return (value, bytes, offset, length) => {
    let width = directive.width;
    let left = directive.left;
    if (widthArgument) {
      width = widthArgument(bytes, offset, length) as number;
      if (width < 0) {
        left = true;
        width = -width;
      }
    }
    const precision = precisionArgument ? Math.max(0, precisionArgument(bytes, offset, length) as number) : directive.precision;
    return render(value, width, precision, left);
  };
}

/** The `*` arguments of a directive, for constant folding. */
function stars(directive: Directive): IntegerExpression[] {
  return [directive.widthArgument, directive.precisionArgument].filter((star): star is IntegerExpression => star !== undefined);
}

/** The kernel's number(): sign, `0x`/`0` prefix, precision zeros, then width padding. */
function formatNumber(value: Scalar, spec: NumberSpec, width: number, precision: number): string {
  const negative = spec.signed && value < 0;
  let digits = (negative ? -value : value).toString(spec.base);
  if (spec.upper) digits = digits.toUpperCase();
  const sign = negative ? '-' : !spec.signed ? '' : spec.plus ? '+' : spec.space ? ' ' : '';
  let prefix = '';
  if (spec.special && spec.base === 16) prefix = spec.upper ? '0X' : '0x';
  else if (spec.special && spec.base === 8 && digits !== '0') prefix = '0';
  if (digits.length < precision) digits = '0'.repeat(precision - digits.length) + digits;
  const padding = width - sign.length - prefix.length - digits.length;
  if (padding <= 0) return sign + prefix + digits;
  if (spec.left) return sign + prefix + digits + ' '.repeat(padding);
  if (spec.zero) return sign + prefix + '0'.repeat(padding) + digits;
  return ' '.repeat(padding) + sign + prefix + digits;
}

function charPiece(argument: IntegerExpression): StringExpression {
  const value = convert(argument, UCHAR).evaluate;
  return stringExpression((bytes, offset, length) => String.fromCharCode(value(bytes, offset, length) as number), [argument]);
}

/** A text conversion with its width (space padding) and precision (truncation). */
function padded(text: StringExpression, directive: Directive): StringExpression {
  if (directive.width < 0 && directive.precision < 0 && !directive.widthArgument && !directive.precisionArgument) return text;
  const evaluate = text.evaluate;
  const render = withStars(directive, (value: string, width, precision, left) => {
    const shown = precision >= 0 ? value.slice(0, precision) : value;
    return left ? shown.padEnd(width) : shown.padStart(width);
  });
  return stringExpression((bytes, offset, length) => render(evaluate(bytes, offset, length), bytes, offset, length), [text, ...stars(directive)]);
}

const POINTER_SPEC: NumberSpec = {
  base: 16, signed: false, upper: false, left: false, plus: false, space: false, special: false, zero: true,
};

/** `%p` and its extensions: plain pointers, symbols, and the formats of bytes the argument points to. */
function pointerPiece(extension: string, argument: Node, directive: Directive, compiler: ExpressionCompiler): StringExpression {
  const kind = extension[0] ?? '';
  if (kind === '' || kind === 'x' || kind === 'K') {
    // pointer_string(): 16 zero-padded digits unless a width is given. (The trace file hashes
    // plain %p unless the hash-ptr option is off; the hash cannot be reproduced.)
    const address = convert(compiler.integer(argument), ULONG);
    const widthGiven = directive.width >= 0 || directive.widthArgument !== undefined;
    const spec = widthGiven ? { ...POINTER_SPEC, zero: directive.zero } : POINTER_SPEC;
    const render = withStars(directive, (value: Scalar, width, _precision, left) =>
      formatNumber(value, left ? { ...spec, left } : spec, widthGiven ? width : 16, -1));
    const evaluate = address.evaluate;
    return stringExpression((bytes, offset, length) => render(evaluate(bytes, offset, length), bytes, offset, length), [address, ...stars(directive)]);
  }
  if (kind === 'S' || kind === 's' || kind === 'B') {
    const address = convert(compiler.integer(argument), ULONG);
    const symbol = compiler.symbol(kind !== 's');
    const evaluate = address.evaluate;
    return padded(stringExpression((bytes, offset, length) => symbol(evaluate(bytes, offset, length) as bigint), [address]), directive);
  }
  const buffer = compiler.bytes(argument);
  const render = bytesFormat(extension, directive);
  const text = withStars(directive, (value: Uint8Array, width) => render(value, width));
  return { kind: 'string', evaluate: (bytes, offset, length) => text(buffer(bytes, offset, length), bytes, offset, length) };
}

/** Renderers of the %p extensions that format memory: IP addresses, UUIDs, MACs, hex, bitmaps. */
function bytesFormat(extension: string, directive: Directive): (value: Uint8Array, width: number) => string {
  const options = extension.slice(2);
  switch (extension.slice(0, 2)) {
    case 'I4': case 'i4': {
      const padding = extension[0] === 'i';
      if (options !== '') break;
      return (value) => ipv4(value, 0, padding);
    }
    case 'I6': case 'i6': {
      const compressed = extension === 'I6c';
      const separator = extension[0] === 'I' ? ':' : '';
      if (options !== '' && !compressed) break;
      return (value) => ipv6(value, 0, compressed, separator);
    }
    case 'IS': case 'iS':
      if (/^[pc]*$/.test(options)) return (value) => socketAddress(value, extension[0] === 'i', options);
      break;
  }
  switch (extension) {
    case 'U': case 'Ub': case 'UB': case 'Ul': case 'UL':
      return (value) => uuid(value, extension[1] === 'l' || extension[1] === 'L', extension[1] === 'B' || extension[1] === 'L');
    case 'M': case 'MR': case 'MF': case 'm': case 'mR': {
      const separator = extension[0] === 'm' ? '' : extension[1] === 'F' ? '-' : ':';
      const reversed = extension[1] === 'R';
      // A copy to reverse: the value is a view of the page.
      return (value) => hexBytes(reversed ? Uint8Array.from(value.subarray(0, 6)).reverse() : value, 6, separator);
    }
    case 'h': case 'hC': case 'hD': case 'hN': {
      const separator = ({ h: ' ', hC: ':', hD: '-', hN: '' } as Record<string, string>)[extension]!;
      // hex_string(): the width is the byte count (1 without one), at most 64.
      return (value, width) => hexBytes(value, width < 0 ? 1 : Math.min(width, 64), separator);
    }
    case 'b': case 'bl':
      if (directive.width < 0 && !directive.widthArgument) break;
      return extension === 'b' ? (value, width) => bitmapHex(value, width) : (value, width) => bitmapList(value, width);
  }
  throw new PrintFormatError(`unsupported conversion '%p${extension}'`);
}

function hexBytes(value: Uint8Array, count: number, separator: string): string {
  let text = '';
  const end = Math.min(count, value.length);
  for (let index = 0; index < end; index++) {
    text += (index === 0 ? '' : separator) + (value[index]! < 16 ? '0' : '') + value[index]!.toString(16);
  }
  return text;
}

function ipv4(value: Uint8Array, start: number, padding: boolean): string {
  const parts: string[] = [];
  for (let index = start; index < start + 4; index++) {
    const part = String(value[index] ?? 0);
    parts.push(padding ? part.padStart(3, '0') : part);
  }
  return parts.join('.');
}

/** ip6_string / ip6_compressed_string: compression takes the first longest run of ≥ 2 zero words. */
function ipv6(value: Uint8Array, start: number, compressed: boolean, separator: string): string {
  const word = (index: number): number => ((value[start + 2 * index] ?? 0) << 8) | (value[start + 2 * index + 1] ?? 0);
  if (!compressed) {
    const words: string[] = [];
    for (let index = 0; index < 8; index++) words.push(word(index).toString(16).padStart(4, '0'));
    return words.join(separator);
  }
  const mapped = word(0) === 0 && word(1) === 0 && word(2) === 0 && word(3) === 0 && word(4) === 0 && word(5) === 0xffff;
  const isatap = (word(4) | 0x0200) === 0x0200 && word(5) === 0x5efe;
  const range = mapped || isatap ? 6 : 8;
  let longest = 1;
  let colonPosition = -1;
  for (let index = 0; index < range; index++) {
    let run = 0;
    while (index + run < range && word(index + run) === 0) run++;
    if (run > longest) {
      longest = run;
      colonPosition = index;
    }
  }
  let text = '';
  let needColon = false;
  for (let index = 0; index < range; index++) {
    if (index === colonPosition) {
      text += needColon || index === 0 ? '::' : ':';
      needColon = false;
      index += longest - 1;
      continue;
    }
    text += (needColon ? ':' : '') + word(index).toString(16);
    needColon = true;
  }
  if (range === 6) text += (needColon ? ':' : '') + ipv4(value, start + 12, false);
  return text;
}

const AF_INET = 2;
const AF_INET6 = 10;

/** `%pIS[pc]`: a struct sockaddr_in or sockaddr_in6, `[v6]:port` with `p`. */
function socketAddress(value: Uint8Array, padding: boolean, options: string): string {
  const family = (value[0] ?? 0) | ((value[1] ?? 0) << 8);
  const port = options.includes('p') ? `:${((value[2] ?? 0) << 8) | (value[3] ?? 0)}` : '';
  if (family === AF_INET) return ipv4(value, 4, padding) + port;
  if (family !== AF_INET6) return '(einval)';
  const address = ipv6(value, 8, !padding && options.includes('c'), padding ? '' : ':');
  return port ? `[${address}]${port}` : address;
}

/** `%pU`: big-endian byte order unless `l`/`L`, upper case with `B`/`L`. */
function uuid(value: Uint8Array, littleEndian: boolean, upper: boolean): string {
  const order = littleEndian ? [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15] : [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
  let text = '';
  for (let index = 0; index < 16; index++) {
    if (index === 4 || index === 6 || index === 8 || index === 10) text += '-';
    text += (value[order[index]!] ?? 0).toString(16).padStart(2, '0');
  }
  return upper ? text.toUpperCase() : text;
}

/** Bit `bit` of a bitmap stored as little-endian unsigned longs. */
function bitAt(value: Uint8Array, bit: number): boolean {
  return (((value[bit >> 3] ?? 0) >> (bit & 7)) & 1) === 1;
}

/** bitmap_string(): 32-bit chunks in hex, most significant first, the first one as wide as its bits. */
function bitmapHex(value: Uint8Array, bits: number): string {
  let text = '';
  let chunkBits = bits % 32 || 32;
  for (let start = Math.ceil(bits / 32) * 32 - 32; start >= 0; start -= 32) {
    let chunk = 0;
    for (let bit = chunkBits - 1; bit >= 0; bit--) chunk = chunk * 2 + (bitAt(value, start + bit) ? 1 : 0);
    text += (text === '' ? '' : ',') + chunk.toString(16).padStart(Math.ceil(chunkBits / 4), '0');
    chunkBits = 32;
  }
  return text;
}

/** bitmap_list_string(): ranges of set bits, `0-3,5`. */
function bitmapList(value: Uint8Array, bits: number): string {
  const ranges: string[] = [];
  for (let bit = 0; bit < bits; bit++) {
    if (!bitAt(value, bit)) continue;
    const first = bit;
    while (bit + 1 < bits && bitAt(value, bit + 1)) bit++;
    ranges.push(first === bit ? String(first) : `${first}-${bit}`);
  }
  return ranges.join(',');
}

// ---------------------------------------------------------------------------------------------
// Enum constants from the kernel's BTF (/sys/kernel/btf/vmlinux), for the print fmts that name
// them (Documentation/bpf/btf.rst).

const BTF_MAGIC = 0xeb9f;
const BTF_KIND_ENUM = 6;
const BTF_KIND_ENUM64 = 19;
/** Bytes that follow a type's 12-byte header: [fixed, per vlen item], indexed by kind. */
const BTF_TRAILERS: ReadonlyArray<readonly [number, number]> = [
  [0, 0], [4, 0], [0, 0], [12, 0], [0, 12], [0, 12], [0, 8], [0, 0], [0, 0], [0, 0],
  [0, 0], [0, 0], [0, 0], [0, 8], [4, 0], [0, 12], [0, 0], [4, 0], [0, 0], [0, 12],
];

/**
 * The enumerators of a base BTF blob (vmlinux's; split module BTF is not read) by name. A
 * name that several enums define with different values is left out, as it cannot be told
 * which one a print fmt means. Throws PrintFormatError on a blob it cannot walk.
 */
export function btfEnumValues(btf: Uint8Array): Map<string, bigint> {
  const view = new DataView(btf.buffer, btf.byteOffset, btf.byteLength);
  if (btf.byteLength < 24 || view.getUint16(0, true) !== BTF_MAGIC) throw new PrintFormatError('not little-endian BTF');
  const headerLength = view.getUint32(4, true);
  const typesStart = headerLength + view.getUint32(8, true);
  const typesEnd = typesStart + view.getUint32(12, true);
  const stringsStart = headerLength + view.getUint32(16, true);
  const stringsEnd = stringsStart + view.getUint32(20, true);
  if (typesEnd > btf.byteLength || stringsEnd > btf.byteLength) throw new PrintFormatError('truncated BTF');
  const name = (offset: number): string => {
    const start = stringsStart + offset;
    const end = btf.indexOf(0, start);
    return Buffer.from(btf.buffer, btf.byteOffset + start, (end < 0 ? stringsEnd : end) - start).toString('latin1');
  };
  const values = new Map<string, bigint>();
  const ambiguous = new Set<string>();
  for (let position = typesStart; position < typesEnd;) {
    const info = view.getUint32(position + 4, true);
    const kind = (info >>> 24) & 0x1f;
    const count = info & 0xffff;
    const signed = info >>> 31 === 1;
    const trailer = BTF_TRAILERS[kind];
    if (!trailer) throw new PrintFormatError(`unknown BTF kind ${kind}`);
    position += 12;
    if (kind === BTF_KIND_ENUM || kind === BTF_KIND_ENUM64) {
      for (let index = 0; index < count; index++, position += trailer[1]) {
        const low = view.getUint32(position + 4, true);
        const value = kind === BTF_KIND_ENUM
          ? BigInt(signed ? low | 0 : low)
          : BigInt[signed ? 'asIntN' : 'asUintN'](64, (BigInt(view.getUint32(position + 8, true)) << 32n) | BigInt(low));
        const enumerator = name(view.getUint32(position, true));
        const known = values.get(enumerator);
        if (known === undefined && !ambiguous.has(enumerator)) values.set(enumerator, value);
        else if (known !== value) {
          values.delete(enumerator);
          ambiguous.add(enumerator);
        }
      }
    } else {
      position += trailer[0] + count * trailer[1];
    }
  }
  return values;
}
