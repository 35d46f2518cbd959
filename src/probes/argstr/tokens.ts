// Tokens of the C expressions in a print fmt (numbers with their C types, strings, names,
// punctuators), and the error of a print fmt this renderer cannot evaluate.



/** A print fmt this renderer cannot evaluate: unknown names, functions or conversions. */
export class PrintFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PrintFormatError';
  }
}

export interface IntegerType {
  readonly bits: 8 | 16 | 32 | 64;
  readonly signed: boolean;
}

export const INT: IntegerType = { bits: 32, signed: true };
export const UINT: IntegerType = { bits: 32, signed: false };
export const LONG: IntegerType = { bits: 64, signed: true };
export const ULONG: IntegerType = { bits: 64, signed: false };
export const UCHAR: IntegerType = { bits: 8, signed: false };

export interface Token {
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

export function tokenize(source: string): Token[] {
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

export function fits(value: bigint, type: IntegerType): boolean {
  const bits = BigInt(type.bits);
  return type.signed
    ? value >= -(1n << (bits - 1n)) && value < 1n << (bits - 1n)
    : value >= 0n && value < 1n << bits;
}
