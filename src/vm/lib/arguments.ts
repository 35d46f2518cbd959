// Argument checks and conversions shared by every library: the `wrong type of argument N`
// rule of SPEC §5 (N counts from 1), clamping to a range, and the low bits of an int64.

import { RuntimeError } from '../errors';
import { KTable } from '../table';
import { isNumber, type KFunction, type Value } from '../value';

export function wrongType(position: number): RuntimeError {
  return new RuntimeError(`wrong type of argument ${position}`);
}

export function numberArgument(value: Value, position: number): number | bigint {
  if (!isNumber(value)) throw wrongType(position);
  return value;
}

/** A number or nil (an omitted optional argument). */
export function optionalNumberArgument(value: Value, position: number): number | bigint | undefined {
  return value === undefined ? undefined : numberArgument(value, position);
}

export function stringArgument(value: Value, position: number): string {
  if (typeof value !== 'string') throw wrongType(position);
  return value;
}

export function tableArgument(value: Value, position: number): KTable {
  if (!(value instanceof KTable)) throw wrongType(position);
  return value;
}

export function functionArgument(value: Value, position: number): KFunction {
  if (typeof value !== 'function') throw wrongType(position);
  return value;
}

/** An int64 limited to min…max, as a JS number (bigints are always outside a small range). */
export function clampInteger(value: number | bigint, min: number, max: number): number {
  if (value < min) return min;
  if (value > max) return max;
  return Number(value);
}

/** The low 32 bits as an unsigned number (for %c's byte and IPv4 addresses). */
export function low32(value: number | bigint): number {
  // `>>> 0` reduces a safe integer modulo 2^32 exactly, negatives included.
  return typeof value === 'number' ? value >>> 0 : Number(BigInt.asUintN(32, value));
}
