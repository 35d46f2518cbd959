// Typed evaluation of print fmt expressions on a record. Integers up to 32 bits are JS numbers,
// 64-bit ones bigints, each kept in its C type's range; expressions without fields are folded.

import { type PageBytes, readField } from '../fields';
import type { EventLayout, FieldLayout } from '../format';
import type { KernelSymbol } from '../kallsyms';
import { type Node, Parser, type TypeName } from './parser';
import { type ArgstrOptions, hex64 } from './renderers';
import { INT, type IntegerType, LONG, PrintFormatError, UCHAR, UINT, ULONG, fits, tokenize } from './tokens';
import { bitmapHex, hexBytes } from './vsprintf';

export type Scalar = number | bigint;
export type Evaluate<T> = (bytes: PageBytes, offset: number, length: number) => T;

export interface IntegerExpression {
  readonly kind: 'integer';
  readonly type: IntegerType;
  readonly evaluate: Evaluate<Scalar>;
  readonly constant?: Scalar;
  /** A cast to a pointer whose arithmetic would scale by the pointee's size. */
  readonly scaledPointer?: boolean;
}

export interface StringExpression {
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

export function stringExpression(evaluate: Evaluate<string>, operands: readonly Expression[]): StringExpression {
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

export function convert(expression: IntegerExpression, to: IntegerType): IntegerExpression {
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

export class ExpressionCompiler {
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
    return (address) => kernelAddressText(address, kernelSymbol?.(address), withOffset);
  }
}

/** ADDRESS as `%pS` (and stack()) shows it: its symbol's text, or `0x` + hex outside any symbol. */
export function kernelAddressText(address: bigint, symbol: KernelSymbol | undefined, withOffset: boolean): string {
  return symbol ? formatKernelSymbol(symbol, withOffset) : `0x${address.toString(16)}`;
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
