// print_log2 and print_linear (docs/language.md): a table whose keys are log2() or
// linear() buckets, printed in bucket order with ranges, empty buckets filled in, and the
// bar scaled to the largest bucket (the layout bpftrace's hist/lhist made familiar).

import { RuntimeError } from '../errors';
import type { Runtime } from '../runtime';
import type { KTable } from '../table';
import { printable } from '../quote';
import { fromBigInt, isNumber, toBigInt, toDisplayString, type Value } from '../value';
import { tableArgument } from './arguments';
import { NEGATIVE_BUCKET, linearRange, type LinearRange } from './numeric';
import type { BuiltinDef } from './registry';

const BAR_WIDTH = 52;
const LABEL_WIDTH = 16;
const COUNT_WIDTH = 8;

/** One bucket: [from, to) with null for an open end, and its count. */
export interface Bucket {
  readonly from: number | bigint | null;
  readonly to: number | bigint | null;
  readonly count: number | bigint;
}

export type BucketKind = 'log2' | 'linear';

/** 4096 → `4K`: powers of 1024 as K, M, G, T, P, E when the value is a multiple. */
function shortNumber(value: bigint): string {
  const suffixes = ['', 'K', 'M', 'G', 'T', 'P', 'E'];
  let scaled = value;
  let index = 0;
  while (index < suffixes.length - 1 && scaled !== 0n && scaled % 1024n === 0n) {
    scaled /= 1024n;
    index++;
  }
  return `${scaled}${suffixes[index]}`;
}

/** `[4K, 8K)`, `[0]`, `(..., 0)`, `[100, ...)`: a bucket's range as the printers show it. */
export function bucketLabel(bucket: Bucket, kind: BucketKind): string {
  const show = (value: number | bigint): string => (kind === 'log2' ? shortNumber(toBigInt(value)) : String(value));
  if (bucket.from === null) return `(..., ${show(bucket.to!)})`;
  if (bucket.to === null) return `[${show(bucket.from)}, ...)`;
  // A log2 bucket holding one value ([0], [1]) is shown as that value.
  if (kind === 'log2' && toBigInt(bucket.to) - toBigInt(bucket.from) === 1n) return `[${show(bucket.from)}]`;
  return `[${show(bucket.from)}, ${show(bucket.to)})`;
}

/** The counts of a table by numeric key; `name` words the errors. */
function countsByKey(table: KTable, name: string): Map<bigint, number | bigint> {
  const counts = new Map<bigint, number | bigint>();
  for (const [key, count] of table.entries()) {
    if (!isNumber(count)) throw new RuntimeError(`${name} only can print number`);
    if (!isNumber(key)) throw new RuntimeError(`${name}: key ${printable(toDisplayString(key))} is not a bucket`);
    counts.set(toBigInt(key), count);
  }
  return counts;
}

/** The text of the buckets, one line each, bars relative to the largest count. */
export function renderBuckets(buckets: readonly Bucket[], kind: BucketKind): string {
  let largest = 0n;
  for (const bucket of buckets) if (toBigInt(bucket.count) > largest) largest = toBigInt(bucket.count);
  let text = '';
  for (const bucket of buckets) {
    const count = toBigInt(bucket.count);
    const length = largest <= 0n || count <= 0n ? 0 : Number((count * BigInt(BAR_WIDTH)) / largest);
    text += bucketLabel(bucket, kind).padEnd(LABEL_WIDTH) + String(count).padStart(COUNT_WIDTH) +
      ' |' + '@'.repeat(length).padEnd(BAR_WIDTH) + '|\n';
  }
  return text;
}

/** A log2() key's place in bucket order: 0 for negatives, 1 for 0, 2 + n for 2^n; undefined for other keys. */
export function log2BucketIndex(key: bigint): number | undefined {
  if (key === BigInt(NEGATIVE_BUCKET)) return 0;
  if (key === 0n) return 1;
  if (key > 0n && (key & (key - 1n)) === 0n) return 1 + key.toString(2).length;
  return undefined;
}

function log2BucketAt(index: number, count: number | bigint): Bucket {
  if (index === 0) return { from: null, to: 0, count };
  if (index === 1) return { from: 0, to: 1, count };
  // The top bucket ends at 2^63, one past the largest int64: kept as an exact bigint.
  const to = 1n << BigInt(index - 1);
  return { from: fromBigInt(1n << BigInt(index - 2)), to: index - 1 >= 63 ? to : fromBigInt(to), count };
}

/**
 * log2 buckets from the lowest used one to the highest, the empty ones between as 0
 * (the keys must all be log2() buckets; print_log2 and the dashboard check first).
 */
export function log2BucketsFrom(counts: ReadonlyMap<bigint, number | bigint>): Bucket[] {
  const byIndex = new Map<number, number | bigint>();
  for (const [key, count] of counts) byIndex.set(log2BucketIndex(key)!, count);
  if (byIndex.size === 0) return [];
  const buckets: Bucket[] = [];
  const indexes = [...byIndex.keys()];
  for (let index = Math.min(...indexes); index <= Math.max(...indexes); index++) buckets.push(log2BucketAt(index, byIndex.get(index) ?? 0));
  return buckets;
}

function log2Buckets(table: KTable): Bucket[] {
  const counts = countsByKey(table, 'print_log2');
  for (const key of counts.keys()) {
    if (log2BucketIndex(key) === undefined) throw new RuntimeError(`print_log2: key ${key} is not a log2() bucket`);
  }
  return log2BucketsFrom(counts);
}

/** Whether `key` is one of linear()'s keys for `range`. */
function isLinearBucket(key: bigint, range: LinearRange): boolean {
  if (key === range.min - 1n || key === range.max) return true;
  return key >= range.min && key < range.max && (key - range.min) % range.step === 0n;
}

function linearBuckets(table: KTable, range: LinearRange): Bucket[] {
  const counts = countsByKey(table, 'print_linear');
  for (const key of counts.keys()) {
    if (!isLinearBucket(key, range)) {
      throw new RuntimeError(`print_linear: key ${key} is not a linear() bucket of (${range.min}, ${range.max}, ${range.step})`);
    }
  }
  linearTables.set(table, range);
  return linearBucketsFrom(counts, range);
}

/**
 * The range each table was last printed with by print_linear, so that the dashboard can
 * draw it in bucket order too (a table cannot tell it holds linear() keys otherwise).
 */
const linearTables = new WeakMap<KTable, LinearRange>();

/** The linear range `table` was printed with, if its keys all still fit it. */
export function linearRangeOf(table: KTable, keys: Iterable<bigint>): LinearRange | undefined {
  const range = linearTables.get(table);
  if (range === undefined) return undefined;
  for (const key of keys) if (!isLinearBucket(key, range)) return undefined;
  return range;
}

/** linear buckets of `range` from the lowest used one to the highest, empty ones as 0. */
export function linearBucketsFrom(counts: ReadonlyMap<bigint, number | bigint>, range: LinearRange): Bucket[] {
  const below = range.min - 1n;
  const last = range.min + ((range.max - 1n - range.min) / range.step) * range.step;
  if (counts.size === 0) return [];
  const keys = [...counts.keys()];
  const lowest = keys.reduce((a, b) => (b < a ? b : a));
  const highest = keys.reduce((a, b) => (b > a ? b : a));
  const buckets: Bucket[] = [];
  if (lowest === below) buckets.push({ from: null, to: fromBigInt(range.min), count: counts.get(below)! });
  const first = lowest === below ? range.min : lowest;
  const end = highest === range.max ? last : highest === below ? below : highest;
  for (let key = first; key <= end; key += range.step) {
    const to = key + range.step > range.max ? range.max : key + range.step;
    buckets.push({ from: fromBigInt(key), to: fromBigInt(to), count: counts.get(key) ?? 0 });
  }
  if (highest === range.max) buckets.push({ from: fromBigInt(range.max), to: null, count: counts.get(range.max)! });
  return buckets;
}

function printBuckets(rt: Runtime, kind: BucketKind, buckets: Bucket[]): void {
  rt.out.buckets(kind, buckets, renderBuckets(buckets, kind));
}

export const BUCKET_BUILTINS: readonly BuiltinDef[] = [
  {
    name: 'print_log2',
    params: '(t)',
    doc: 'a table keyed by log2() buckets as a histogram in bucket order: [4K, 8K) ranges, empty buckets shown',
    make: (rt) => (table: Value) => {
      printBuckets(rt, 'log2', log2Buckets(tableArgument(table, 1)));
      return undefined;
    },
  },
  {
    name: 'print_linear',
    params: '(t, min, max, step)',
    doc: 'a table keyed by linear(x, min, max, step) buckets as a histogram in bucket order',
    make: (rt) => (table: Value, min: Value, max: Value, step: Value) => {
      const checked = tableArgument(table, 1);
      printBuckets(rt, 'linear', linearBuckets(checked, linearRange(min, max, step, 2)));
      return undefined;
    },
  },
];
