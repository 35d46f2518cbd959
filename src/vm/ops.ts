// Slow paths of the instructions (SPEC §3.2–3.9): the exact int64 arithmetic beyond the
// inline fast paths, and every runtime error the instructions themselves raise.

import { RuntimeError } from './errors';
import { KTable, TableIterator } from './table';
import {
  addExact, divExact, fromBigInt, isNumber, modExact, mulExact, negExact, subExact, toBigInt, toDisplayString,
  typeName, type Value,
} from './value';

function arithmeticError(a: Value, b: Value): RuntimeError {
  const offending = isNumber(a) ? b : a;
  return new RuntimeError(`attempt to perform arithmetic on a ${typeName(offending)} value`);
}

export function add(a: Value, b: Value): Value {
  if (isNumber(a) && isNumber(b)) return addExact(a, b);
  throw arithmeticError(a, b);
}
export function sub(a: Value, b: Value): Value {
  if (isNumber(a) && isNumber(b)) return subExact(a, b);
  throw arithmeticError(a, b);
}
export function mul(a: Value, b: Value): Value {
  if (isNumber(a) && isNumber(b)) return mulExact(a, b);
  throw arithmeticError(a, b);
}
export function div(a: Value, b: Value): Value {
  if (!isNumber(a) || !isNumber(b)) throw arithmeticError(a, b);
  if (b === 0) throw new RuntimeError('divide 0 arith operation');
  return divExact(a, b);
}
export function mod(a: Value, b: Value): Value {
  if (!isNumber(a) || !isNumber(b)) throw arithmeticError(a, b);
  if (b === 0) throw new RuntimeError('mod 0 arith operation');
  return modExact(a, b);
}
export function unm(a: Value): Value {
  if (isNumber(a)) return negExact(a);
  throw new RuntimeError("use '-' operator on non-number");
}

/**
 * `<` and `<=` beyond two safe numbers: exact numbers, or two strings compared bytewise
 * (byte strings hold one byte per char code, so JS's code-unit order is byte order).
 */
export function lessThan(a: Value, b: Value): boolean {
  if ((isNumber(a) && isNumber(b)) || (typeof a === 'string' && typeof b === 'string')) return a < b;
  throw new RuntimeError('compare with non-number');
}
export function lessEqual(a: Value, b: Value): boolean {
  if ((isNumber(a) && isNumber(b)) || (typeof a === 'string' && typeof b === 'string')) return a <= b;
  throw new RuntimeError('compare with non-number');
}

/** `..`: strings and numbers (in decimal); the result must fit the string limit. */
export function concat(a: Value, b: Value, maxString: number): string {
  if ((typeof a !== 'string' && !isNumber(a)) || (typeof b !== 'string' && !isNumber(b))) {
    throw new RuntimeError('cannot concat non-string');
  }
  const left = toDisplayString(a);
  const right = toDisplayString(b);
  if (left.length + right.length > maxString) throw new RuntimeError('string too long', `--max-string ${maxString}`);
  return left + right;
}

/** `target += delta` (SPEC §3.6): nil counts as 0. */
export function increment(current: Value, delta: Value): Value {
  if (!isNumber(delta)) throw new RuntimeError("use '+=' on non-number");
  if (current === undefined) return delta;
  if (!isNumber(current)) throw new RuntimeError("use '+=' operator on non-number value");
  return addExact(current, delta);
}

export function incrementTable(table: Value, key: Value, delta: Value): void {
  if (!(table instanceof KTable)) throw new RuntimeError('set key to non-table');
  table.set(key, increment(table.get(key), delta));
}

export function getNonTable(): never {
  throw new RuntimeError('get key from non-table');
}
export function setNonTable(): never {
  throw new RuntimeError('set key to non-table');
}

export function callError(callee: Value): never {
  if (callee === undefined) throw new RuntimeError('attempt to call nil function');
  throw new RuntimeError(`attempt to call a ${typeName(callee)} value`);
}

export function notMainThread(): never {
  throw new RuntimeError('only mainthread can create function');
}

/** FORPREP's checks on init, limit and step (SPEC §3.7). */
export function forCheck(init: Value, limit: Value, step: Value): void {
  if (!isNumber(init) || !isNumber(limit) || !isNumber(step)) {
    throw new RuntimeError("'for' init/limit/step value must be a number");
  }
  if (step === 0) throw new RuntimeError("'for' step is zero");
}

/**
 * The next value of a for loop beyond the safe range, or undefined when it would overflow
 * int64. Non-numbers get here only from hand-made bytecode (a FORLOOP without its FORPREP).
 */
export function forStep(value: Value, step: Value): number | bigint | undefined {
  if (!isNumber(value) || !isNumber(step)) throw new RuntimeError("'for' init/limit/step value must be a number");
  const next = toBigInt(value) + toBigInt(step);
  return BigInt.asIntN(64, next) === next ? fromBigInt(next) : undefined;
}

/** A for loop ended on a limit that is not a number (hand-made bytecode only): that is an error. */
export function forLimit(limit: Value): void {
  if (!isNumber(limit)) throw new RuntimeError("'for' init/limit/step value must be a number");
}

export function iterate(table: Value): TableIterator {
  if (!(table instanceof KTable)) throw new RuntimeError('wrong type of argument 1');
  return table.iterate();
}

/** A for-in state slot before its ITERPREP ran (only reachable in hand-made bytecode). */
export const FINISHED_ITERATOR = { next: (): boolean => false, key: undefined as Value, value: undefined as Value };

// ---- bit operators (docs/language.md): two's-complement int64, as in Lua 5.4 ----------

function bitOperand(value: Value): bigint {
  if (!isNumber(value)) throw new RuntimeError(`attempt to perform bitwise operation on a ${typeName(value)} value`);
  return toBigInt(value);
}

/** Whether both are numbers that JS's 32-bit operators handle exactly (sign-extended int32). */
function bothInt32(a: Value, b: Value): a is number {
  return typeof a === 'number' && typeof b === 'number' && (a | 0) === a && (b | 0) === b;
}

export function band(a: Value, b: Value): Value {
  if (bothInt32(a, b)) return a & (b as number);
  return fromBigInt(bitOperand(a) & bitOperand(b));
}
export function bor(a: Value, b: Value): Value {
  if (bothInt32(a, b)) return a | (b as number);
  return fromBigInt(bitOperand(a) | bitOperand(b));
}
export function bxor(a: Value, b: Value): Value {
  if (bothInt32(a, b)) return a ^ (b as number);
  return fromBigInt(bitOperand(a) ^ bitOperand(b));
}
export function bnot(a: Value): Value {
  if (typeof a === 'number' && (a | 0) === a) return ~a;
  return fromBigInt(~bitOperand(a));
}

/**
 * Shifts by `count` bits: left for a positive count, right for a negative one (Lua's
 * rule); 64 or more bits shift everything out. `fill` is the right shift's kind.
 */
function shift(a: Value, b: Value, left: boolean, fill: 'sign' | 'zero'): Value {
  const value = bitOperand(a);
  let count = bitOperand(b);
  if (count < 0n) {
    left = !left;
    count = -count;
  }
  if (left) return count >= 64n ? 0 : fromBigInt(value << count);
  if (fill === 'zero') return count >= 64n ? 0 : fromBigInt(BigInt.asUintN(64, value) >> count);
  return fromBigInt(value >> (count >= 64n ? 63n : count));
}
export function shl(a: Value, b: Value): Value {
  return shift(a, b, true, 'zero');
}
export function shr(a: Value, b: Value): Value {
  // A safe integer shifted right by less than 53 is a floor division: no bigints needed.
  if (typeof a === 'number' && typeof b === 'number' && b >= 0 && b < 53) return Math.floor(a / 2 ** b) + 0;
  return shift(a, b, false, 'sign');
}
export function ushr(a: Value, b: Value): Value {
  if (typeof a === 'number' && a >= 0 && typeof b === 'number' && b >= 0 && b < 53) return Math.floor(a / 2 ** b);
  return shift(a, b, false, 'zero');
}
