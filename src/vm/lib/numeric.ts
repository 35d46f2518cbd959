// Bucket functions for aggregation: log2(x), whose result is a plain integer key (the lower
// bound of the bucket) that print_hist shows and the kernel tier computes with shifts.

import { fromBigInt, toBigInt, type Value } from '../value';
import { numberArgument } from './arguments';
import type { BuiltinDef } from './registry';

/** The log2 bucket of x: 0 for 0, the largest power of two ≤ x above, -1 for negatives. */
export function log2Bucket(x: number | bigint): number | bigint {
  if (x < 0) return -1;
  if (x === 0 || x === 0n) return 0;
  if (typeof x === 'number' && x <= 0x7fffffff) return 2 ** (31 - Math.clz32(x));
  return fromBigInt(1n << BigInt(toBigInt(x).toString(2).length - 1));
}

export const NUMERIC_BUILTINS: readonly BuiltinDef[] = [
  {
    name: 'log2',
    params: '(x)',
    doc: 'power-of-two bucket of x: the largest power of two ≤ x; 0 for 0, -1 for negatives',
    make: () => (x: Value) => log2Bucket(numberArgument(x, 1)),
  },
];
