// String builtins (docs/language.md): sprintf and the `string` library over byte strings
// (sub, find as plain text, upper, lower, format), plus tostring and tonumber.

import type { Runtime } from '../runtime';
import { fromBigInt, isNumber, toDisplayString, type Value } from '../value';
import { RuntimeError } from '../errors';
import { numberArgument, optionalNumberArgument, stringArgument } from './arguments';
import { formatString } from './format';
import type { BuiltinDef } from './registry';

/** TEXT, a builtin's result, held to the string limit like `..`'s. */
export function checkedLength(rt: Runtime, text: string): string {
  if (text.length > rt.maxString) throw new RuntimeError('string too long', `--max-string ${rt.maxString}`);
  return text;
}

function sprintf(rt: Runtime, format: Value, values: Value[]): string {
  return checkedLength(rt, formatString(rt, stringArgument(format, 1), values));
}

/** Lua's position rule: 1 is the first byte, -1 the last, 0 before the first. */
function bytePosition(value: number | bigint, length: number): number {
  const position = Number(value < -length - 1 ? -length - 1 : value > length + 1 ? length + 1 : value);
  return position < 0 ? length + position + 1 : position;
}

const UPPER = (text: string): string => text.replace(/[a-z]+/g, (run) => run.toUpperCase());
const LOWER = (text: string): string => text.replace(/[A-Z]+/g, (run) => run.toLowerCase());

/** tonumber's accepted text: decimal or 0x hex, optional sign and surrounding blanks. */
const NUMBER_TEXT = /^\s*([+-]?)(0[xX][0-9a-fA-F]+|[0-9]+)\s*$/;

function toNumber(value: Value, base: Value): Value {
  if (isNumber(value)) return value;
  if (typeof value !== 'string') return undefined;
  const radix = optionalNumberArgument(base, 2);
  if (radix !== undefined) {
    if (radix < 2 || radix > 36) throw new RuntimeError('bad argument #2 to \'tonumber\' (base out of range)');
    const digits = value.trim().toLowerCase();
    const negative = digits.startsWith('-');
    const body = negative || digits.startsWith('+') ? digits.slice(1) : digits;
    if (body === '') return undefined;
    let result = 0n;
    for (const digit of body) {
      const digitValue = parseInt(digit, 36);
      if (Number.isNaN(digitValue) || digitValue >= Number(radix)) return undefined;
      result = result * BigInt(radix) + BigInt(digitValue);
    }
    return fromBigInt(negative ? -result : result);
  }
  const match = NUMBER_TEXT.exec(value);
  if (match === null) return undefined;
  const magnitude = BigInt(match[2]!);
  return fromBigInt(match[1] === '-' ? -magnitude : magnitude);
}

const formatDef = (name: string, library?: 'string'): BuiltinDef => ({
  name,
  ...(library === undefined ? {} : { library }),
  params: '(fmt, ...)',
  doc: 'fmt with its %-conversions replaced by the values, as a string (printf\'s rules)',
  make: (rt) => (format: Value, ...values: Value[]) => sprintf(rt, format, values),
});

export const STRING_BUILTINS: readonly BuiltinDef[] = [
  formatDef('sprintf'),
  formatDef('format', 'string'),
  {
    name: 'tostring',
    params: '(v)',
    doc: 'v as print shows it',
    make: () => (value: Value) => toDisplayString(value),
  },
  {
    name: 'tonumber',
    params: '(s [, base])',
    doc: 'the integer a string spells (decimal or 0x hex, or in base 2…36), nil if none',
    make: () => (value: Value, base: Value) => toNumber(value, base),
  },
  {
    name: 'sub',
    library: 'string',
    params: '(s, i [, j])',
    doc: 'bytes i…j of s (1 is the first, -1 the last; j defaults to -1)',
    make: () => (text: Value, first: Value, last: Value) => {
      const string = stringArgument(text, 1);
      const start = Math.max(1, bytePosition(numberArgument(first, 2), string.length));
      const lastArgument = optionalNumberArgument(last, 3);
      const end = Math.min(string.length, lastArgument === undefined ? string.length : bytePosition(lastArgument, string.length));
      return start > end ? '' : string.slice(start - 1, end);
    },
  },
  {
    name: 'find',
    library: 'string',
    params: '(s, text [, init])',
    doc: 'position of the first plain-text occurrence of text in s from init, nil if none',
    make: () => (text: Value, needle: Value, init: Value) => {
      const string = stringArgument(text, 1);
      const wanted = stringArgument(needle, 2);
      const initArgument = optionalNumberArgument(init, 3);
      const start = initArgument === undefined ? 1 : Math.max(1, bytePosition(initArgument, string.length));
      if (start > string.length + 1) return undefined;
      const found = string.indexOf(wanted, start - 1);
      return found < 0 ? undefined : found + 1;
    },
  },
  {
    name: 'upper',
    library: 'string',
    params: '(s)',
    doc: 's with a…z made A…Z (other bytes unchanged)',
    make: () => (text: Value) => UPPER(stringArgument(text, 1)),
  },
  {
    name: 'lower',
    library: 'string',
    params: '(s)',
    doc: 's with A…Z made a…z (other bytes unchanged)',
    make: () => (text: Value) => LOWER(stringArgument(text, 1)),
  },
  {
    name: 'len',
    library: 'string',
    params: '(s)',
    doc: 'bytes of s',
    make: () => (text: Value) => stringArgument(text, 1).length,
  },
];
