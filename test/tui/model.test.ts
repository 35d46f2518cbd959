// The dashboard's model and text panes without a terminal: which table is shown, histogram
// rows (top N, power-of-two buckets in order), rates, and panes that fit their size.

import t from 'tap';
import { DashboardModel, histogramOf, type ProbeRates } from '../../src/tui/model';
import {
  ASCII_GLYPHS, UNICODE_GLYPHS, cpuLines, formatCount, formatElapsed, formatRate, histogramLines, rateLines, sparkline, statusLine,
} from '../../src/tui/render';
import { KTable } from '../../src/vm/table';
import type { Value } from '../../src/vm/value';
import { newSession, run } from '../support/session';

function tableOf(entries: Array<[Value, Value]>): KTable {
  const session = newSession();
  const table = session.rt.newTable();
  for (const [key, value] of entries) table.set(key, value);
  return table;
}

t.test('histogram rows: the largest first, ties in table order, one row for the rest', async (t) => {
  const histogram = histogramOf('counts', tableOf([['read', 5], ['write', 9], ['open', 5], ['close', 1], ['stat', 2n ** 60n]]), 4);
  t.same(histogram.rows.map((row) => row.label), ['stat', 'write', 'read'], 'top 3 and a "more" row in 4 rows');
  t.equal(histogram.more, 2);
  t.equal(histogram.rows[0]!.count, 2 ** 60, 'int64 counts as numbers for the bars');
  t.notOk(histogram.powerOfTwo);
  const all = histogramOf('counts', tableOf([['a', 1], ['b', 'not a number'], ['c', 3]]), 10);
  t.same(all.rows.map((row) => [row.label, row.count]), [['c', 3], ['a', 1]]);
  t.equal(all.skipped, 1, 'values that are not numbers are counted as skipped');
});

t.test('power-of-two buckets: in key order, empty buckets filled in, the busiest window when too many', async (t) => {
  const buckets = histogramOf('lat', tableOf([[64, 3], [8, 10], [0, 1], [16, 4]]), 20);
  t.ok(buckets.powerOfTwo);
  t.same(buckets.rows.map((row) => [row.label, row.count]), [['[0]', 1], ['[1]', 0], ['[2, 4)', 0], ['[4, 8)', 0], ['[8, 16)', 10], ['[16, 32)', 4], ['[32, 64)', 0], ['[64, 128)', 3]]);
  t.equal(buckets.more, 0);
  const window = histogramOf('lat', tableOf([[1, 1], [1024, 50], [2048, 60], [4096, 5], [2n ** 40n, 1]]), 3);
  t.same(window.rows.map((row) => row.label), ['[1K, 2K)', '[2K, 4K)', '[4K, 8K)'], 'the 3 consecutive buckets holding most');
  t.equal(window.more, 2, 'keys outside the window');
  t.notOk(histogramOf('t', tableOf([[1, 1], [3, 1]]), 5).powerOfTwo, '3 is no power of two');
  t.notOk(histogramOf('t', tableOf([[1, 1]]), 5).powerOfTwo, 'one key is not a histogram of buckets');
  const negative = histogramOf('t', tableOf([[4, 2], [-1, 1]]), 10);
  t.same(negative.rows.map((row) => row.label), ['(..., 0)', '[0]', '[1]', '[2, 4)', '[4, 8)'], 'log2 of negatives comes first');
});

t.test('a table printed by print_linear is drawn in bucket order; tuple keys as a, b', async (t) => {
  const session = newSession();
  run(session, 'var lat = {} for (i = 0, 40, 7) { lat[linear(i, 0, 30, 10)] += 1 } var pairs2 = {} pairs2["a", 1] += 2');
  const model = new DashboardModel(session, 0, 0);
  const lat = () => model.tables.find((info) => info.name === 'lat')!.table;
  t.notOk(histogramOf('lat', lat(), 10).bucketed, 'unknown range before print_linear');
  run(session, 'print_linear(lat, 0, 30, 10)');
  const drawn = histogramOf('lat', lat(), 10);
  t.ok(drawn.bucketed);
  t.same(drawn.rows.map((row) => [row.label, row.count]), [['[0, 10)', 2], ['[10, 20)', 1], ['[20, 30)', 2], ['[30, ...)', 1]]);
  const tuples = histogramOf('pairs2', model.tables.find((info) => info.name === 'pairs2')!.table, 10);
  t.same(tuples.rows.map((row) => row.label), ['a, 1']);
});

t.test('the table shown: the one updated most, Tab and number keys pick, 0 goes back to automatic', async (t) => {
  const session = newSession();
  run(session, 'var quiet = {1, 2, 3} var busy = {} var notATable = 5');
  const model = new DashboardModel(session, 0, 0);
  t.same(model.tables.map((info) => info.name), ['quiet', 'busy'], 'session variables holding tables, in declaration order');
  t.equal(model.selectedName, 'quiet', 'before any change, a table with entries');
  for (let sample = 1; sample <= 3; sample++) {
    run(session, `for (i = 1, 20) { busy["k" .. i] += 1 }`);
    model.sample(sample * 1000);
  }
  t.equal(model.selectedName, 'busy', 'the busiest table takes over');
  t.equal(model.histogram(5)!.rows.length, 4, 'histogram of the shown table: 4 rows and a "more" row');
  model.pickTable('next');
  t.equal(model.selectedName, 'quiet', 'Tab: the next table');
  t.ok(model.pickedByUser);
  run(session, `for (i = 1, 20) { busy["k" .. i] += 1 }`);
  model.sample(4000);
  t.equal(model.selectedName, 'quiet', 'a picked table stays');
  model.pickTable(1);
  t.equal(model.selectedName, 'busy', 'number key 2');
  model.pickTable(7);
  t.equal(model.selectedName, 'busy', 'no table 8: unchanged');
  model.pickTable(null);
  t.notOk(model.pickedByUser, '0: automatic again');
  run(session, 'busy = {}');
  model.sample(5000);
  t.equal(model.tables.find((info) => info.name === 'busy')!.table.length, 0, 'a variable given a new table is followed');
});

t.test('the busiest table is the one whose counts grow most, not the one with most keys', async (t) => {
  const session = newSession();
  run(session, 'var many = {} var few = {} var stamps = {}');
  const model = new DashboardModel(session, 0, 0);
  for (let sample = 1; sample <= 3; sample++) {
    run(session, 'for (i = 1, 20) { many["k" .. i] += 1 } for (i = 1, 500) { few["hot"] += 1 }');
    model.sample(sample * 1000);
  }
  t.equal(model.selectedName, 'few', '500 increments of one key beat 20 keys incremented once');
  for (let sample = 4; sample <= 8; sample++) {
    run(session, `stamps["a"] = 5000000000000 + ${sample} * 1000000000 stamps["b"] = 5000000000000 + ${sample} * 2000000000 for (i = 1, 500) { few["hot"] += 1 }`);
    model.sample(sample * 1000);
  }
  t.equal(model.selectedName, 'few', 'a table of timestamps does not drown the counts');
});

t.test('rates per probe over the last minute; r forgets them', async (t) => {
  const session = newSession();
  run(session, 'tick-1s { }');
  const model = new DashboardModel(session, 0, 0);
  const id = session.handlers[0]!.id;
  for (let second = 1; second <= 70; second++) {
    session.handlerRuns[id] = second * 10;
    model.sample(second * 1000);
  }
  const probe = model.probes[0]!;
  t.equal(probe.label, 'tick-1s');
  t.equal(probe.total, 700);
  t.ok(probe.rates.length >= 60 && probe.rates.length <= 61, 'a minute of samples kept');
  t.ok(probe.rates.every((rate) => Math.abs(rate - 10) < 1e-9), '10 runs per second');
  t.ok(Math.abs(probe.recent - 10) < 1e-9, 'the recent rate');
  for (let second = 71; second <= 90; second++) {
    if (second % 10 === 0) session.handlerRuns[id]! += 1;
    model.sample(second * 1000);
  }
  t.ok(Math.abs(model.probes[0]!.recent - 0.1) < 1e-9, 'one run every 10 s: 0.1/s over the last 10 s');
  model.resetRates();
  t.same(model.probes[0]!.rates, []);
  t.equal(model.cpus.length, 0, 'no kernel events: no per-CPU rows');
});

t.test('panes fit their size', async (t) => {
  t.equal(formatCount(1234), '1234');
  t.equal(formatCount(12_345), '12.3k');
  t.equal(formatCount(1_500_000), '1.50M');
  t.equal(formatCount(2.5), '2.5');
  t.equal(formatElapsed(59_999), '0:59');
  t.equal(formatRate(0.1), '0.1');
  t.equal(formatRate(9.96), '10');
  t.equal(formatRate(123_456), '123k');
  t.equal(formatElapsed(3_723_000), '1:02:03');
  t.equal(sparkline([0, 1, 2, 4, 8], 5, UNICODE_GLYPHS), ' ▁▂▄█');
  t.equal(sparkline([0, 8], 5, ASCII_GLYPHS), '    @', 'right-aligned, ASCII without UTF-8');
  t.equal(sparkline([1, 1, 9, 9], 2, ASCII_GLYPHS), '.@', 'averaged into fewer columns');

  const histogram = histogramOf('counts', tableOf([['a-very-long-execname-indeed', 100], ['b', 50]]), 8);
  const lines = histogramLines(histogram, 44, 8, UNICODE_GLYPHS);
  t.ok(lines.every((line) => line.length === 44), 'every histogram line 44 columns');
  t.match(lines[0], /^a-very-long-exec… \|█{21} 100$/, 'a long key cut at 40% of the width');
  t.match(lines[1], /^b {16} \|█{10,11} +50$/, 'bars scaled to the largest');

  const many = { cpus: Array.from({ length: 64 }, (_, cpu) => ({ cpu, eventsPerSecond: cpu * 100, total: cpu * 1000, lost: 0, handlerShare: 1 / 64 })) };
  const cpuText = cpuLines(many as unknown as DashboardModel, 32, 10, UNICODE_GLYPHS);
  t.equal(cpuText.length, 10, '64 CPUs in 10 rows');
  t.match(cpuText[0], /^CPU\s+ev\/s\s+total\s+lost\s+time$/);
  t.match(cpuText[1], /^63 /, 'the busiest CPUs first when they do not all fit');
  t.match(cpuText[9], /^\+56 CPUs /, 'the rest summed up');

  const probes: ProbeRates[] = [
    { id: 1, label: 'syscalls:sys_enter_getppid', total: 5, rates: [1, 2, 3], times: [1000, 2000, 3000], recent: 3 },
    { id: 2, label: 'tick-1s', total: 5, rates: [1, 1, 1], times: [1000, 2000, 3000], recent: 1 },
  ];
  const rates = rateLines(probes, 78, 4, UNICODE_GLYPHS);
  t.equal(rates.length, 2);
  t.ok(rates.every((line) => line.length === 78));
  t.match(rates[0], /^syscalls:sys_enter_getppid\s+▃▅█ 3\/s$/);

  const model = { elapsedMs: 3_599_000, totalEvents: 123_456_789_012, totalLost: 98_765, instructionsPerSecond: 12_345_678_901, rssBytes: 3 * 2 ** 30 };
  for (const width of [80, 120, 200]) {
    const line = statusLine(model as DashboardModel, { paused: true, intervalMs: 1000, note: null }, width, UNICODE_GLYPHS);
    t.equal(line.length, width, `status line exactly ${width} columns`);
    t.match(line, /^PAUSED 59:59 ev 123G lost 98.8k vm 12.3G\/s rss 3.0G +q/);
    t.match(line, /p resume/, `paused, the way back is spelled out at ${width} columns`);
  }
});
