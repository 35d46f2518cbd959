// The syntax tree of a print fmt and its parser: C expressions, casts and sizeof, plus the
// `{ value, "name" }` lists of __print_flags and __print_symbolic.

import { INT, type IntegerType, LONG, PrintFormatError, type Token, UCHAR, UINT, ULONG } from './tokens';

/** A type in a cast or sizeof; pointers to anything but bytes scale arithmetic, which is refused. */
export type TypeName =
  | { readonly kind: 'integer'; readonly type: IntegerType }
  | { readonly kind: 'pointer'; readonly scaled: boolean };

export type Node =
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

export class Parser {
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
