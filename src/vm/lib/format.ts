// The printf engine of SPEC §5.1: C conversions over ktap values, exact for all 64 bits,
// with ktap's error texts. print_hist and print_trace_clock render through it too.

import { RuntimeError } from '../errors';
import type { Runtime } from '../runtime';
import { toDisplayString, toUint64, type Value } from '../value';
import { clampInteger, low32, numberArgument } from './arguments';
import { quoteBytes } from '../quote';
import { scanDirective } from '../../syntax/printf';

const FLAG_CHARACTERS = '-+ #0';
/** Longer modifiers first so `hh` and `ll` are not read as `h` and `l` plus a conversion. */
const LENGTH_MODIFIERS = ['hh', 'll', 'h', 'l', 'z', 'j', 't'];

/** One parsed conversion: the C flags, width and precision (-1 when none is given). */
interface Conversion {
  left: boolean;
  plus: boolean;
  space: boolean;
  alternate: boolean;
  zero: boolean;
  width: number;
  precision: number;
}

/** A width or precision as ktap allows it: at most two digits (Lua's rule). */
function twoDigits(digits: string): string {
  if (digits.length > 2) throw new RuntimeError('invalid format (width or precision too long)');
  return digits;
}

/** Largest `*` width or precision: what two digits could write. */
const MAX_STAR = 99;

const CONVERSIONS = ['d', 'i', 'u', 'x', 'X', 'o', 'c', 'p', 's'];

/**
 * `format` with its conversions replaced by `args` (the values after the format, so
 * args[0] is argument #2 in error messages). Returns a byte string.
 */
export function formatString(rt: Runtime, format: string, args: readonly Value[]): string {
  let output = '';
  let used = 0;
  let index = 0;
  while (index < format.length) {
    const percent = format.indexOf('%', index);
    if (percent < 0) {
      output += format.slice(index);
      break;
    }
    output += format.slice(index, percent);
    index = percent + 1;
    if (format[index] === '%') {
      output += '%';
      index++;
      continue;
    }
    const directive = scanDirective(format, index, LENGTH_MODIFIERS);
    if (directive.flagCount > FLAG_CHARACTERS.length) throw new RuntimeError('invalid format (repeated flags)');
    const conversion: Conversion = {
      left: directive.left, plus: directive.plus, space: directive.space, alternate: directive.alternate, zero: directive.zero,
      width: 0, precision: -1,
    };
    // A `*` width or precision takes the next argument (C's rule: a negative width means
    // `-`, a negative precision none), capped at what two digits could write.
    const starArgument = (): number => {
      if (used >= args.length) throw new RuntimeError(`bad argument #${used + 2}: (no value)`);
      const value = clampInteger(numberArgument(args[used], used + 2), -MAX_STAR, MAX_STAR);
      used++;
      return value;
    };
    if (directive.width === '*') {
      const width = starArgument();
      if (width < 0) conversion.left = true;
      conversion.width = Math.abs(width);
    } else conversion.width = Number(twoDigits(directive.width));
    if (directive.precision === '*') conversion.precision = Math.max(-1, starArgument());
    else if (directive.precision !== null) conversion.precision = Number(twoDigits(directive.precision));
    index = directive.end;
    const character = directive.conversion;
    // Digits after a `*` (`%*12d`) are a width written twice: too long, as in Lua.
    if (character >= '0' && character <= '9') throw new RuntimeError('invalid format (width or precision too long)');
    // The conversion is checked before its argument, so a format ending in `%` (SPEC §5.1:
    // "C is empty") is reported as such even when no value follows.
    if (!CONVERSIONS.includes(character)) {
      // Shown escaped, so a control byte after `%` keeps the message one printable line.
      throw new RuntimeError(`invalid option '%${quoteBytes(character, "'").slice(1, -1)}' to 'format'`);
    }
    const position = used + 2;
    if (used >= args.length) throw new RuntimeError(`bad argument #${position}: (no value)`);
    const argument = args[used++];
    switch (character) {
      case 'd': case 'i': case 'u': case 'x': case 'X': case 'o':
        output += formatInteger(numberArgument(argument, position), character, conversion);
        break;
      case 'c':
        output += pad(String.fromCharCode(low32(numberArgument(argument, position)) & 255), conversion);
        break;
      case 'p':
        output += pad(symbolOrHex(rt, numberArgument(argument, position)), conversion);
        break;
      case 's': {
        const text = toDisplayString(argument);
        output += pad(conversion.precision >= 0 ? text.slice(0, conversion.precision) : text, conversion);
        break;
      }
      default:
        throw new Error('internal: conversion list out of sync');
    }
  }
  return output;
}

/** The kernel symbol containing an address, or `0x` + its 64 bits in hex (for %p and ipof). */
export function symbolOrHex(rt: Runtime, value: number | bigint): string {
  const address = toUint64(value);
  return rt.host.kernelSymbol(address) ?? '0x' + address.toString(16);
}

/** Integer conversions with C's rules for sign, precision, `#` prefixes and zero padding. */
function formatInteger(value: number | bigint, character: string, conversion: Conversion): string {
  const radix = character === 'o' ? 8 : character === 'x' || character === 'X' ? 16 : 10;
  const signed = character === 'd' || character === 'i';
  const negative = signed && value < 0;
  let digits: string;
  if (value >= 0) digits = value.toString(radix);
  else if (signed) digits = (-value).toString(radix);
  else digits = toUint64(value).toString(radix);
  if (character === 'X') digits = digits.toUpperCase();

  const isZero = digits === '0';
  if (conversion.precision >= 0) {
    // C: a zero precision prints no digits for the value 0.
    digits = conversion.precision === 0 && isZero ? '' : digits.padStart(conversion.precision, '0');
  }
  if (character === 'o' && conversion.alternate && !digits.startsWith('0')) digits = '0' + digits;

  let prefix = '';
  if (negative) prefix = '-';
  else if (signed && conversion.plus) prefix = '+';
  else if (signed && conversion.space) prefix = ' ';
  else if (radix === 16 && conversion.alternate && !isZero) prefix = character === 'x' ? '0x' : '0X';

  // C ignores the 0 flag when a precision is given or the field is left-justified.
  if (conversion.zero && !conversion.left && conversion.precision < 0) {
    digits = digits.padStart(conversion.width - prefix.length, '0');
  }
  return pad(prefix + digits, conversion);
}

/** Pads a rendered field with spaces to the width, on the left unless `-` was given. */
function pad(text: string, conversion: Conversion): string {
  return conversion.left ? text.padEnd(conversion.width) : text.padStart(conversion.width);
}
