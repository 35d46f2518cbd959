// print_hist and print_trace_clock (SPEC §5.1): the histogram's exact text layout, and the
// rows handed to the output sink so that --json can show them as data.

import { RuntimeError } from '../errors';
import type { Runtime } from '../runtime';
import type { KTable } from '../table';
import { addExact, fromBigInt, isNumber, toBigInt, toDisplayString, type Value } from '../value';
import { clampInteger, optionalNumberArgument, tableArgument } from './arguments';
import { formatString } from './format';
import { largest } from './largest';
import { WORK_COST } from '../limits';
import type { BuiltinDef } from './registry';

const BAR_WIDTH = 38;
/** String keys longer than this (stacks, mostly) get their own line. */
const LONG_KEY_BYTES = 32;
const DEFAULT_ROWS = 20;
const MAX_ROWS = 1000;

const HEADER = 'value '.padStart(31) + '------------- Distribution -------------' + ' count\n';
const MORE_ROW = '...'.padStart(31) + ' |\n';

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
  const length = sum <= 0n ? 0 : clampInteger((toBigInt(count) * BigInt(BAR_WIDTH)) / sum, 0, BAR_WIDTH);
  return '@'.repeat(length).padEnd(BAR_WIDTH);
}

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

  let text = HEADER;
  for (const { key, count } of shown) {
    const long = typeof key === 'string' && key.length > LONG_KEY_BYTES;
    text += formatString(rt, long ? '%s%s\n%d\n\n' : '%31s |%s%-7d\n', [key, bar(count, sum), count]);
  }
  if (counts.length > shown.length) text += MORE_ROW;
  rt.out.hist(shown, counts.length - shown.length, text);
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
