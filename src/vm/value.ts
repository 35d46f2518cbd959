// ktap values and their JavaScript representation, plus exact 64-bit integer arithmetic.
// Numbers are JS numbers while they are safe integers and bigints beyond ±(2^53-1), always
// in that canonical form, so `===` and Map keys compare numbers correctly.

import type { KTable } from './table';
import { KTuple } from './tuple';

/**
 * Representation:
 *  nil       undefined
 *  boolean   boolean
 *  number    number (a safe integer) | bigint (an int64 outside the safe range)
 *  string    string whose char codes are bytes (0…255): a "byte string"
 *  table     KTable
 *  tuple     KTuple: an interned multi-part key (tuple.ts)
 *  function  KFunction: a JS function (script closures and builtins alike)
 */
export type Value = undefined | boolean | number | bigint | string | KTable | KTuple | KFunction;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type KFunction = (...args: any[]) => Value;

export const MAX_SAFE = 9007199254740991;
const INT64_MIN = -(1n << 63n);

/**
 * Builtin functions carry this mark, so print can tell `cfunction` from `function`. A
 * property, not a WeakSet: every runtime marks ~100 new builtins, and WeakSet entries are
 * ephemerons the collector must revisit (5 % of a run that makes many runtimes).
 */
const BUILTIN = Symbol('ktap builtin');
export function markBuiltin<F extends KFunction>(fn: F): F {
  (fn as F & { [BUILTIN]?: true })[BUILTIN] = true;
  return fn;
}
export function isBuiltin(fn: KFunction): boolean {
  return (fn as KFunction & { [BUILTIN]?: true })[BUILTIN] === true;
}

export type TypeName = 'nil' | 'boolean' | 'number' | 'string' | 'table' | 'tuple' | 'function';

export function typeName(value: Value): TypeName {
  switch (typeof value) {
    case 'undefined': return 'nil';
    case 'boolean': return 'boolean';
    case 'number': case 'bigint': return 'number';
    case 'string': return 'string';
    case 'function': return 'function';
    default: return value instanceof KTuple ? 'tuple' : 'table';
  }
}

export function isNumber(value: Value): value is number | bigint {
  return typeof value === 'number' || typeof value === 'bigint';
}

// Object ids for `table 0x…` / `function 0x…`: assigned on first print, stable for the
// object's lifetime, unique among live objects (a counter never repeats).
const objectIds = new WeakMap<object, number>();
let nextObjectId = 0x1000;
function objectId(object: object): string {
  let id = objectIds.get(object);
  if (id === undefined) {
    id = nextObjectId;
    nextObjectId += 0x10;
    objectIds.set(object, id);
  }
  return id.toString(16);
}

/** The value as print shows it (SPEC §3.1). */
export function toDisplayString(value: Value): string {
  switch (typeof value) {
    case 'string': return value;
    case 'number': return value === 0 ? '0' : String(value);
    case 'bigint': return value.toString();
    case 'undefined': return 'nil';
    case 'boolean': return value ? 'true' : 'false';
    case 'function': return (isBuiltin(value) ? 'cfunction 0x' : 'function 0x') + objectId(value);
    default: return value instanceof KTuple ? `(${tupleText(value)})` : 'table 0x' + objectId(value);
  }
}

/** A tuple's parts as print shows them, joined by `, ` (print_hist's key column). */
export function tupleText(value: KTuple): string {
  return value.parts.map(toDisplayString).join(', ');
}

// ---- int64 arithmetic -------------------------------------------------------------

/** Canonical form of an int64 held as a bigint: a number when it is a safe integer. */
export function fromBigInt(value: bigint): number | bigint {
  const wrapped = BigInt.asIntN(64, value);
  return wrapped >= -9007199254740991n && wrapped <= 9007199254740991n ? Number(wrapped) : wrapped;
}

export function toBigInt(value: number | bigint): bigint {
  return typeof value === 'bigint' ? value : BigInt(value);
}

// The exact paths below are taken only when an operand is a bigint or a fast-path result
// left the safe range; the translator inlines the fast paths.

export function addExact(a: number | bigint, b: number | bigint): number | bigint {
  return fromBigInt(toBigInt(a) + toBigInt(b));
}
export function subExact(a: number | bigint, b: number | bigint): number | bigint {
  return fromBigInt(toBigInt(a) - toBigInt(b));
}
export function mulExact(a: number | bigint, b: number | bigint): number | bigint {
  return fromBigInt(toBigInt(a) * toBigInt(b));
}
/** Truncating division; the caller has ruled out a zero divisor. INT64_MIN / -1 wraps to itself. */
export function divExact(a: number | bigint, b: number | bigint): number | bigint {
  if (typeof a === 'number' && typeof b === 'number') {
    const remainder = a % b;
    return (a - remainder) / b + 0;
  }
  return fromBigInt(toBigInt(a) / toBigInt(b));
}
/** Remainder with the sign of the dividend; the caller has ruled out a zero divisor. */
export function modExact(a: number | bigint, b: number | bigint): number | bigint {
  if (typeof a === 'number' && typeof b === 'number') return (a % b) + 0;
  const big = toBigInt(a);
  if (big === INT64_MIN && toBigInt(b) === -1n) return 0;
  return fromBigInt(big % toBigInt(b));
}
export function negExact(a: number | bigint): number | bigint {
  return typeof a === 'number' ? 0 - a : fromBigInt(-a);
}

/** The 64 bits of a number as an unsigned bigint (for %u %x %o and hex renderings). */
export function toUint64(value: number | bigint): bigint {
  return BigInt.asUintN(64, toBigInt(value));
}

/**
 * Parses a numeric literal (SPEC §1.3): decimal, 0x hex or 0 octal; digits saturate at
 * 2^64-1 and the 64 bits are read as signed. Returns undefined when malformed.
 */
export function parseNumberLiteral(text: string): number | bigint | undefined {
  // Most literals are short decimals: exact as doubles, no BigInt needed.
  if (text.length <= 15 && /^(?:[1-9][0-9]*|0)$/.test(text)) return Number(text);
  let prefixed: string;
  if (/^0[xX][0-9a-fA-F]+$/.test(text)) prefixed = '0x' + text.slice(2);
  else if (/^0[0-7]*$/.test(text)) prefixed = '0o' + (text.slice(1) || '0');
  else if (/^[1-9][0-9]*$/.test(text)) prefixed = text;
  else return undefined;
  const value = BigInt(prefixed);
  // Saturated at 2^64-1, which reads as -1 signed.
  return value > (1n << 64n) - 1n ? -1 : fromBigInt(value);
}

/**
 * A script argument or other decimal text as a number if it is a decimal integer
 * (optional sign) that fits in 64 signed bits; otherwise undefined.
 */
export function parseDecimalInteger(text: string): number | bigint | undefined {
  if (!/^[+-]?[0-9]+$/.test(text)) return undefined;
  const value = BigInt(text);
  if (value < INT64_MIN || value > (1n << 63n) - 1n) return undefined;
  return fromBigInt(value);
}
