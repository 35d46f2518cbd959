// The format string of a print fmt, with the kernel's vsnprintf rules (lib/vsprintf.c): length
// qualifiers truncate, `#x` of 0 is `0x0`, `0` pads even with a precision; the %p family.

import type { PageBytes } from '../fields';
import { type Evaluate, ExpressionCompiler, type IntegerExpression, type Scalar, type StringExpression, convert, stringExpression } from './evaluate';
import type { Node } from './parser';
import { scanDirective } from '../../syntax/printf';
import { INT, type IntegerType, PrintFormatError, UCHAR, ULONG } from './tokens';

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
/** The kernel's length qualifiers, longer ones first (QUALIFIER_BITS gives their sizes). */
const KERNEL_QUALIFIERS = ['hh', 'h', 'll', 'l', 'L', 'z', 'Z', 't'];

/**
 * The format's literal text between conversions and a renderer per conversion, rendered text
 * of constant arguments folded into the literals.
 */
export function compileConversions(format: string, args: readonly Node[], compiler: ExpressionCompiler): {
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
    const syntax = scanDirective(format, index, KERNEL_QUALIFIERS);
    const directive: Directive = {
      left: syntax.left, plus: syntax.plus, space: syntax.space, special: syntax.alternate, zero: syntax.zero,
      width: -1, precision: -1, qualifier: syntax.qualifier,
    };
    if (syntax.width === '*') directive.widthArgument = starArgument();
    else if (syntax.width !== '') directive.width = Number(syntax.width);
    if (syntax.precision === '*') directive.precisionArgument = starArgument();
    else if (syntax.precision !== null) directive.precision = Number(syntax.precision); // `%.d` is precision 0
    index = syntax.end;
    const character = syntax.conversion;
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

export function hexBytes(value: Uint8Array, count: number, separator: string): string {
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
export function bitmapHex(value: Uint8Array, bits: number): string {
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
