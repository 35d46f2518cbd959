// print_hist and print_trace_clock (SPEC §5.1): the histogram's text layout (ktap's, made
// readable for full bars and long keys), and the rows handed to the sink for --json.

import { RuntimeError } from '../errors';
import type { Runtime } from '../runtime';
import type { KTable } from '../table';
import { addExact, fromBigInt, isNumber, toBigInt, toDisplayString, tupleText, type Value } from '../value';
import { KTuple } from '../tuple';
import { clampInteger, optionalNumberArgument, tableArgument } from './arguments';
import { formatString } from './format';
import { largest } from './largest';
import { WORK_COST } from '../limits';
import type { BuiltinDef } from './registry';

const BAR_WIDTH = 38;
/**
 * At most this many `@`: the bar column's last character stays blank, so a 100 % bar never
 * touches its count (ktap's `@@@@7`).
 */
const BAR_MAX = BAR_WIDTH - 1;
/** The key column of ktap's layout; keys of up to LONG_KEY_BYTES keep it (32 just overflows). */
const KEY_WIDTH = 31;
/** Single-line keys longer than this widen the key column, up to KEY_WIDTH_MAX. */
const LONG_KEY_BYTES = 32;
/** The widest key column; longer keys are shortened in the middle with `...`. */
const KEY_WIDTH_MAX = 64;
const DEFAULT_ROWS = 20;
const MAX_ROWS = 1000;

interface Row {
  key: Value;
  count: number | bigint;
}

/** The sum of all counts, exact: safe-integer additions until one would leave the safe range. */
function total(counts: ReadonlyArray<number | bigint>): bigint {
  let small = 0;
  let big = 0n;
  for (const count of counts) {
    const next = typeof count === 'number' ? small + count : NaN;
    if (Number.isSafeInteger(next)) {
      small = next;
    } else {
      big += BigInt(small) + toBigInt(count);
      small = 0;
    }
  }
  return big + BigInt(small);
}

function bar(count: number | bigint, sum: bigint): string {
  const length = sum <= 0n ? 0 : clampInteger((toBigInt(count) * BigInt(BAR_WIDTH)) / sum, 0, BAR_MAX);
  return '@'.repeat(length).padEnd(BAR_WIDTH);
}

/**
 * ktap's layout (SPEC §5.1), with two changes for readability (docs/output.md): bars stop
 * one short of the count, and keys over 32 bytes widen the key column (up to 64, longer
 * ones shortened in the middle) while keys with line breaks (stacks) are printed as they
 * are, followed by their bar on a line of its own.
 */
export function printHist(rt: Runtime, table: KTable, rowLimit: number): void {
  // Charged up front: walking every entry, then formatting the rows shown.
  rt.charge(table.length * WORK_COST.tableEntry + Math.min(table.length, rowLimit) * WORK_COST.formattedRow);
  const keys: Value[] = [];
  const counts: Array<number | bigint> = [];
  for (const iterator = table.iterate(); iterator.next();) {
    const count = iterator.value;
    if (!isNumber(count)) throw new RuntimeError('print_hist only can print number');
    keys.push(iterator.key);
    counts.push(count);
  }
  const sum = total(counts);
  const shown: Row[] = largest(counts, rowLimit).map((index) => ({ key: keys[index], count: counts[index]! }));
  // A tuple key shows its parts as `a, b` (print's parentheses would only add noise here).
  const shownKeys = shown.map(({ key }) => (key instanceof KTuple ? tupleText(key) : toDisplayString(key)));
  const longest = Math.max(0, ...shownKeys.filter((key) => !key.includes('\n')).map((key) => key.length));
  const width = longest > LONG_KEY_BYTES ? Math.min(longest, KEY_WIDTH_MAX) : KEY_WIDTH;

  let text = 'value '.padStart(width) + '------------- Distribution -------------' + ' count\n';
  shown.forEach(({ count }, index) => {
    const key = shownKeys[index]!;
    const barAndCount = ' |' + bar(count, sum) + String(count).padEnd(7) + '\n';
    if (key.includes('\n')) text += key + (key.endsWith('\n') ? '' : '\n') + ' '.repeat(width) + barAndCount + '\n';
    else text += shortened(key, width).padStart(width) + barAndCount;
  });
  if (counts.length > shown.length) text += '...'.padStart(width) + ' |\n';
  rt.out.hist(shown, counts.length - shown.length, text);
}

/** A key longer than `width` with its middle replaced by `...`, cut between UTF-8 characters. */
function shortened(key: string, width: number): string {
  if (key.length <= width || width <= LONG_KEY_BYTES) return key;
  let head = Math.ceil((width - 3) / 2);
  let tail = key.length - (width - 3 - head);
  // Bytes 0x80-0xBF continue a UTF-8 character: cut before the character they belong to.
  while (head > 0 && (key.charCodeAt(head) & 0xc0) === 0x80) head--;
  while (tail < key.length && (key.charCodeAt(tail) & 0xc0) === 0x80) tail++;
  return key.slice(0, head) + '...' + key.slice(tail);
}

/**
 * A stack string (frames innermost first, one per line) as one folded line: outermost
 * first, `;`-separated, each frame reduced to its function (offsets and files dropped,
 * so samples in one function add up).
 */
export function foldedStack(stack: string): string {
  const frames = stack.split('\n').filter((frame) => frame !== '');
  if (frames.length === 0) return '[unknown]';
  return frames.reverse().map((frame) => frame.replace(/ \(.*\)$/, '').replace(/\+0x[0-9a-f]+(\/0x[0-9a-f]+)?/, '').replace(/[; ]/g, '_')).join(';');
}

export const HIST_BUILTINS: readonly BuiltinDef[] = [
  {
    name: 'print_hist',
    params: '(t [, n])',
    doc: 'histogram of a table of numbers, the n largest (default 20)',
    make: (rt) => (table: Value, rowLimit: Value) => {
      const checkedTable = tableArgument(table, 1);
      const limit = optionalNumberArgument(rowLimit, 2);
      printHist(rt, checkedTable, limit === undefined ? DEFAULT_ROWS : clampInteger(limit, 1, MAX_ROWS));
      return undefined;
    },
  },
  {
    name: 'print_folded',
    params: '(t)',
    doc: 'a table keyed by stack()/ustack() in the folded format flame-graph tools read',
    make: (rt) => (table: Value) => {
      // Stacks differing only in offsets fold to one line; their counts add up.
      const folded = new Map<string, number | bigint>();
      const checkedTable = tableArgument(table, 1);
      rt.charge(checkedTable.length * (WORK_COST.tableEntry + WORK_COST.formattedRow));
      for (const [key, count] of checkedTable.entries()) {
        if (!isNumber(count)) throw new RuntimeError('print_hist only can print number');
        const text = toDisplayString(key);
        rt.charge(text.length / WORK_COST.bytesPerUnit);
        const line = foldedStack(text);
        folded.set(line, addExact(folded.get(line) ?? 0, count));
      }
      let text = '';
      for (const [line, count] of folded) text += `${line} ${count}\n`;
      rt.out.printf(text);
      return undefined;
    },
  },
  {
    name: 'print_trace_clock',
    params: '()',
    doc: 'write the tracing clock as SECONDS.MICROSECONDS',
    make: (rt) => () => {
      const nanoseconds = rt.host.traceClockNs();
      const seconds = fromBigInt(nanoseconds / 1_000_000_000n);
      const microseconds = fromBigInt((nanoseconds % 1_000_000_000n) / 1000n);
      rt.out.printf(formatString(rt, '%5d.%06d\n', [seconds, microseconds]));
      return undefined;
    },
  },
];
