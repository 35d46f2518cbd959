// print_hist and print_trace_clock (SPEC §5.1): the exact bytes of the layout, the rows
// given to the output sink, sorting, clamping and errors.

import t from 'tap';
import { fromBigInt, type Value } from '../../../src/vm/value';
import { fakeRuntime } from './fake-runtime';

const HEADER = '                         value ------------- Distribution ------------- count\n';

function row(key: string, bar: number, count: string): string {
  return key.padStart(31) + ' |' + '@'.repeat(bar).padEnd(38) + count.padEnd(7) + '\n';
}

/** A fake runtime with a table filled from `entries` in order. */
function withTable(entries: ReadonlyArray<[Value, Value]>) {
  const fake = fakeRuntime();
  const table = fake.rt.newTable();
  for (const [key, value] of entries) table.set(key, value);
  return { ...fake, table };
}

t.test('the example of SPEC §5.1', async (t) => {
  const { builtin, recorded, table } = withTable([['read', 30], ['write', 10]]);
  builtin('print_hist')(table);
  const lines = recorded.text.split('\n');
  t.same(lines.map((line) => line.length), [77, 78, 78, 0]);
  t.equal(recorded.text,
    '                         value ------------- Distribution ------------- count\n' +
    '                           read |@@@@@@@@@@@@@@@@@@@@@@@@@@@@          30     \n' +
    '                          write |@@@@@@@@@                             10     \n');
  t.same(recorded.hists[0].rows, [{ key: 'read', count: 30 }, { key: 'write', count: 10 }]);
  t.equal(recorded.hists[0].more, 0);
});

t.test('an empty table prints the header only', async (t) => {
  const { builtin, recorded, table } = withTable([]);
  builtin('print_hist')(table);
  t.equal(recorded.text, HEADER);
  t.same(recorded.hists[0].rows, []);
});

t.test('sorting: largest first, ties in iteration order', async (t) => {
  const { builtin, recorded, table } = withTable([['a', 1], ['b', 5], ['c', 1], [7, 5], [true, 2]]);
  builtin('print_hist')(table);
  t.equal(recorded.text, HEADER + row('b', 13, '5') + row('7', 13, '5') + row('true', 5, '2') +
    row('a', 2, '1') + row('c', 2, '1'));
});

t.test('keys with line breaks: as they are, then their bar on a row of its own; 32 bytes overflow the column', async (t) => {
  const long = 'vfs_read+0x0/0x1b0\nksys_read+0x6f/0xf0\n';
  const exact = 'k'.repeat(32);
  const { builtin, recorded, table } = withTable([[long, 3], [exact, 1]]);
  builtin('print_hist')(table);
  t.equal(recorded.text, HEADER +
    long + ''.padStart(31) + ' |' + '@'.repeat(28).padEnd(38) + '3      \n\n' +
    exact + ' |' + '@'.repeat(9).padEnd(38) + '1      \n');
});

t.test('single-line keys over 32 bytes widen the key column, up to 64; longer ones are cut in the middle', async (t) => {
  const wide = 'w'.repeat(40);
  const { builtin, recorded, table } = withTable([[wide, 1], ['short', 1]]);
  builtin('print_hist')(table);
  const lines = recorded.text.split('\n');
  t.equal(lines[0], 'value '.padStart(40) + '------------- Distribution ------------- count');
  t.equal(lines[1], wide + ' |' + '@'.repeat(19).padEnd(38) + '1      ');
  t.equal(lines[2], 'short'.padStart(40) + ' |' + '@'.repeat(19).padEnd(38) + '1      ');

  // 100 bytes, a two-byte UTF-8 character where a plain cut would split it.
  const huge = 'a'.repeat(30) + '\xc3\xa9' + 'b'.repeat(68);
  const cut = withTable([[huge, 2]]);
  cut.builtin('print_hist')(cut.table);
  const row = cut.recorded.text.split('\n')[1]!;
  t.equal(row, ' ' + 'a'.repeat(30) + '...' + 'b'.repeat(30) + ' |' + '@'.repeat(37) + ' 2      ', 'the character is not split');
  t.same(cut.recorded.hists[0].rows, [{ key: huge, count: 2 }], '--json keeps the whole key');
});

t.test('wide values and other key types', async (t) => {
  const { builtin, recorded, table } = withTable([[1, 123456789]]);
  const nested = fakeRuntime().rt.newTable();
  table.set(nested, 0);
  builtin('print_hist')(table);
  const lines = recorded.text.split('\n');
  t.equal(lines[1], row('1', 37, '123456789').slice(0, -1), 'the count widens its column; a full bar stops one short of it');
  t.match(lines[2], /^ +table 0x[0-9a-f]+ \| {38}0 {6}$/);
});

t.test('n rows, the ... row and clamping', async (t) => {
  const entries: Array<[Value, Value]> = [];
  for (let index = 1; index <= 25; index++) entries.push([`k${index}`, 100 - index]);
  const { builtin, recorded, table } = withTable(entries);

  builtin('print_hist')(table);
  let lines = recorded.hists[0].text.split('\n');
  t.equal(recorded.hists[0].rows.length, 20, 'default 20 rows');
  t.equal(recorded.hists[0].more, 5);
  t.equal(lines[20].trim().split(' ')[0], 'k20');
  t.equal(lines[21], '                            ... |');

  builtin('print_hist')(table, 3);
  lines = recorded.hists[1].text.split('\n');
  t.same(lines.slice(1, 4).map((line) => line.trim().split(' ')[0]), ['k1', 'k2', 'k3']);
  t.equal(lines[4], '                            ... |');
  t.equal(recorded.hists[1].more, 22);

  builtin('print_hist')(table, 0);
  t.equal(recorded.hists[2].rows.length, 1, '0 is raised to 1');
  builtin('print_hist')(table, -5);
  t.equal(recorded.hists[3].rows.length, 1);
  builtin('print_hist')(table, 25);
  t.equal(recorded.hists[4].more, 0);
  t.notMatch(recorded.hists[4].text, /\.\.\./, 'no ... row when all are shown');
});

t.test('n is clamped to 1000', async (t) => {
  const entries: Array<[Value, Value]> = [];
  for (let index = 1; index <= 1002; index++) entries.push([index, 1]);
  const { builtin, recorded, table } = withTable(entries);
  builtin('print_hist')(table, 5000);
  t.equal(recorded.hists[0].rows.length, 1000);
  t.equal(recorded.hists[0].more, 2);
  builtin('print_hist')(table, fromBigInt(1n << 62n));
  t.equal(recorded.hists[1].rows.length, 1000);
});

t.test('bars: exact sums, negative and zero sums', async (t) => {
  const big = fromBigInt(1n << 60n);
  let fake = withTable([['a', big], ['b', big], ['c', 1]]);
  fake.builtin('print_hist')(fake.table);
  t.equal(fake.recorded.text.split('\n')[1], row('a', 18, String(1n << 60n)).slice(0, -1));
  t.equal(fake.recorded.text.split('\n')[3], row('c', 0, '1').slice(0, -1));

  fake = withTable([['up', 5], ['down', -10]]);
  fake.builtin('print_hist')(fake.table);
  t.equal(fake.recorded.text, HEADER + row('up', 0, '5') + row('down', 0, '-10'), 'sum ≤ 0: no bars');

  fake = withTable([['up', 10], ['down', -5]]);
  fake.builtin('print_hist')(fake.table);
  t.equal(fake.recorded.text, HEADER + row('up', 37, '10') + row('down', 0, '-5'), 'bars clamped to 0…37: the last column stays blank');
});

t.test('errors', async (t) => {
  const { failure, table } = withTable([['a', 1], ['b', 'x']]);
  t.equal(failure('print_hist', table), 'print_hist only can print number');
  t.equal(failure('print_hist', 'a'), 'wrong type of argument 1');
  t.equal(failure('print_hist'), 'wrong type of argument 1');
  t.equal(failure('print_hist', withTable([]).table, '5'), 'wrong type of argument 2');
});

t.test('print_trace_clock', async (t) => {
  let fake = fakeRuntime({ traceClockNs: 12_345_678_901_234n });
  fake.builtin('print_trace_clock')();
  t.equal(fake.recorded.text, '12345.678901\n');
  fake = fakeRuntime({ traceClockNs: 1_000_042_000n });
  fake.builtin('print_trace_clock')();
  t.equal(fake.recorded.text, '    1.000042\n');
});
