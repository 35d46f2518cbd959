// Numeric helpers for aggregation (docs/language.md): min and max that skip nil (so
// `lo[k] = min(lo[k], v)` starts a key), and the bucket functions log2 and linear, whose
// results are plain integer keys (the lower bound of the bucket) that print_log2 and
// print_linear lay out, and that the kernel tier can compute with shifts and compares.

import { RuntimeError } from '../errors';
import { fromBigInt, toBigInt, type Value } from '../value';
import { numberArgument } from './arguments';
import type { BuiltinDef } from './registry';

/** log2's key for negative values: below every bucket; print_log2 labels it `(..., 0)`. */
export const NEGATIVE_BUCKET = -1;

/** The log2 bucket of x: 0 for 0, the largest power of two ≤ x above, -1 for negatives. */
export function log2Bucket(x: number | bigint): number | bigint {
  if (x < 0) return NEGATIVE_BUCKET;
  if (x === 0) return 0;
  if (typeof x === 'number' && x <= 0x7fffffff) return 2 ** (31 - Math.clz32(x));
  return fromBigInt(1n << BigInt(toBigInt(x).toString(2).length - 1));
}

/** The parameters of a linear histogram, checked: min < max, step > 0. */
export interface LinearRange {
  readonly min: bigint;
  readonly max: bigint;
  readonly step: bigint;
}

export function linearRange(min: Value, max: Value, step: Value, firstPosition: number): LinearRange {
  const range = {
    min: toBigInt(numberArgument(min, firstPosition)),
    max: toBigInt(numberArgument(max, firstPosition + 1)),
    step: toBigInt(numberArgument(step, firstPosition + 2)),
  };
  if (range.step <= 0n) throw new RuntimeError('linear step must be positive');
  if (range.max <= range.min) throw new RuntimeError('linear max must be above min');
  return range;
}

/**
 * The linear bucket of x: the lower bound min + k×step of its bucket; min-1 for values
 * below min (`(..., min)`), max for values from max on (`[max, ...)`).
 */
export function linearBucket(x: number | bigint, range: LinearRange): number | bigint {
  const value = toBigInt(x);
  if (value < range.min) return fromBigInt(range.min - 1n);
  if (value >= range.max) return fromBigInt(range.max);
  return fromBigInt(range.min + ((value - range.min) / range.step) * range.step);
}

function pick(name: 'min' | 'max'): BuiltinDef {
  return {
    name,
    params: '(a, b)',
    doc: `the ${name === 'min' ? 'smaller' : 'larger'} of two numbers; a nil one is skipped (nil if both are)`,
    make: () => (a: Value, b: Value) => {
      if (a === undefined) return b === undefined ? undefined : numberArgument(b, 2);
      const first = numberArgument(a, 1);
      if (b === undefined) return first;
      const second = numberArgument(b, 2);
      return (name === 'min' ? second < first : second > first) ? second : first;
    },
  };
}

export const NUMERIC_BUILTINS: readonly BuiltinDef[] = [
  pick('min'),
  pick('max'),
  {
    name: 'log2',
    params: '(x)',
    doc: 'power-of-two bucket of x: the largest power of two ≤ x; 0 for 0, -1 for negatives',
    make: () => (x: Value) => log2Bucket(numberArgument(x, 1)),
  },
  {
    name: 'linear',
    params: '(x, min, max, step)',
    doc: 'linear bucket of x: min + k*step ≤ x; min-1 below min, max from max on',
    make: () => (x: Value, min: Value, max: Value, step: Value) =>
      linearBucket(numberArgument(x, 1), linearRange(min, max, step, 2)),
  },
];
