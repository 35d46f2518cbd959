// Scrapes of a session without the kernel: tables as families with one sample per key,
// counters until a value shrinks or a key goes, numeric variables as gauges, the key cap
// and every omitted entry counted, byte strings as valid UTF-8.

import t from 'tap';
import { MetricsCollector } from '../../src/metrics/collector';
import { sessionSource } from '../../src/metrics/source';
import { newSession, run } from '../support/session';

/** The lines of one family (HELP, TYPE and samples) in a scrape. */
function family(text: string, name: string): string[] {
  return text.split('\n').filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `) || line.endsWith(` ${name} counter`) ||
    line.endsWith(` ${name} gauge`) || line.startsWith(`# HELP ${name} `));
}

t.test('a table of counts: a counter family, one sample per key; numeric variables as gauges', async (t) => {
  const session = newSession();
  run(session, 'var calls = {} var total = 0 var label = "x" calls["read"] += 3 calls["write"] += 1 calls[42] += 2 total = 6');
  const text = new MetricsCollector(sessionSource(session)).scrape();
  t.same(family(text, 'ktap_calls'), [
    '# HELP ktap_calls ktap table calls',
    '# TYPE ktap_calls counter',
    'ktap_calls{key="read"} 3',
    'ktap_calls{key="write"} 1',
    'ktap_calls{key="42"} 2',
  ]);
  t.same(family(text, 'ktap_total'), ['# HELP ktap_total ktap variable total', '# TYPE ktap_total gauge', 'ktap_total 6']);
  t.notMatch(text, /ktap_label/, 'a string variable is no metric');
  t.match(text, /^ktap_table_entries\{table="calls"\} 3$/m);
  t.match(text, /^# TYPE ktap_events_total counter$/m, 'ktap\'s own families are there before any event');
  t.match(text, /^process_resident_memory_bytes \d+$/m);
});

t.test('counter or gauge: a counter while it only grows; a value that shrinks or a key that goes makes it a gauge for good', async (t) => {
  const session = newSession();
  run(session, 'var grows = {} var shrinks = {} var loses = {} var reset = {} ' +
    'grows["a"] = 1 shrinks["a"] = 5 loses["a"] = 1 loses["b"] = 1 reset["a"] = 1');
  const collector = new MetricsCollector(sessionSource(session));
  const typeOf = (text: string, name: string): string | undefined => new RegExp(`^# TYPE ${name} (\\w+)$`, 'm').exec(text)?.[1];
  const first = collector.scrape();
  for (const name of ['grows', 'shrinks', 'loses', 'reset']) t.equal(typeOf(first, `ktap_${name}`), 'counter', `${name} at first`);
  run(session, 'grows["a"] += 1 grows["b"] = 1 shrinks["a"] = 4 delete(loses) loses["a"] = 1 reset = {} reset["a"] = 2');
  const second = collector.scrape();
  t.equal(typeOf(second, 'ktap_grows'), 'counter', 'more and bigger values');
  t.equal(typeOf(second, 'ktap_shrinks'), 'gauge', 'a value went down');
  t.equal(typeOf(second, 'ktap_loses'), 'gauge', 'a key is gone');
  t.equal(typeOf(second, 'ktap_reset'), 'gauge', 'the variable holds another table');
  run(session, 'shrinks["a"] += 10');
  t.equal(typeOf(collector.scrape(), 'ktap_shrinks'), 'gauge', 'never a counter again');
  run(session, 'var negative = {} negative["a"] = -1');
  t.equal(typeOf(collector.scrape(), 'ktap_negative'), 'gauge', 'a negative value');
});

t.test('the key cap: the first N keys in table order, the rest counted as omitted', async (t) => {
  const session = newSession();
  run(session, 'var many = {} for (i = 1, 25) { many["k" .. i] = i } var few = {} few[1] = 1');
  const text = new MetricsCollector(sessionSource(session), 10).scrape();
  const samples = family(text, 'ktap_many').filter((line) => !line.startsWith('#'));
  t.equal(samples.length, 10);
  t.equal(samples[0], 'ktap_many{key="k1"} 1');
  t.equal(samples[9], 'ktap_many{key="k10"} 10');
  t.match(text, /^ktap_metrics_omitted_entries\{table="many",reason="over_limit"\} 15$/m);
  t.match(text, /^ktap_table_entries\{table="many"\} 25$/m, 'the table\'s real size');
  t.notMatch(text, /table="few",reason/, 'nothing omitted from a small table');
  t.equal(family(new MetricsCollector(sessionSource(session), 0).scrape(), 'ktap_many').length, 27, '0: no cap');
});

t.test('entries that cannot be samples are counted: values not numbers, table keys, keys with the same labels', async (t) => {
  const session = newSession();
  run(session, 'var mixed = {} mixed["n"] = 1 mixed["s"] = "text" mixed["t"] = {} mixed[{}] = 2 mixed[7] = 3 mixed["7"] = 4 ' +
    'mixed["8"] = 5 mixed[8] = 6 mixed["08"] = 7 mixed["true"] = 8 mixed[true] = 9 mixed["x\\xff"] = 10 mixed["x\\xfe"] = 11');
  const text = new MetricsCollector(sessionSource(session)).scrape();
  t.same(family(text, 'ktap_mixed').filter((line) => !line.startsWith('#')), [
    'ktap_mixed{key="n"} 1', 'ktap_mixed{key="7"} 3', 'ktap_mixed{key="8"} 6', 'ktap_mixed{key="08"} 7', 'ktap_mixed{key="true"} 9',
    'ktap_mixed{key="x\uFFFD"} 10',
  ], 'a number or boolean key keeps its labels over the string that spells it; the first of two strings decoded alike');
  t.match(text, /^ktap_metrics_omitted_entries\{table="mixed",reason="not_a_number"\} 2$/m);
  t.match(text, /^ktap_metrics_omitted_entries\{table="mixed",reason="key_not_scalar"\} 1$/m);
  t.match(text, /^ktap_metrics_omitted_entries\{table="mixed",reason="duplicate_labels"\} 4$/m);
});

t.test('tuple keys: one label per part; a nested tuple is no scalar; tuples that read alike keep the first', async (t) => {
  const session = newSession();
  run(session, 'var s = {} var nested = {} s["bash", "read"] += 3 s[7, true] += 1 s["7", true] += 2 s[nil, "a\\"b"] += 4 ' +
    'for (k, v in pairs(s)) { nested[k, 1] = v }');
  const text = new MetricsCollector(sessionSource(session)).scrape();
  t.same(family(text, 'ktap_s').filter((line) => !line.startsWith('#')), [
    'ktap_s{key1="bash",key2="read"} 3', 'ktap_s{key1="7",key2="true"} 1', 'ktap_s{key1="",key2="a\\"b"} 4',
  ]);
  t.match(text, /^ktap_metrics_omitted_entries\{table="s",reason="duplicate_labels"\} 1$/m);
  t.match(text, /^ktap_metrics_omitted_entries\{table="nested",reason="key_not_scalar"\} 4$/m);
});

t.test('byte-string keys: escaped, UTF-8 kept, invalid bytes as U+FFFD; a name taken by ktap is left out', async (t) => {
  const session = newSession();
  run(session, 'var files = {} files["a\\"b\\\\c\\nd"] = 1 files["caf\\xc3\\xa9"] = 2 files["bad\\xff"] = 3 ' +
    'var events_total = {} events_total["x"] = 1');
  const text = new MetricsCollector(sessionSource(session)).scrape();
  t.same(family(text, 'ktap_files').filter((line) => !line.startsWith('#')), [
    'ktap_files{key="a\\"b\\\\c\\nd"} 1',
    'ktap_files{key="café"} 2',
    'ktap_files{key="bad\uFFFD"} 3',
  ]);
  t.ok(Buffer.from(text, 'utf8').toString('utf8') === text, 'the text is valid UTF-8');
  t.notMatch(text, /ktap_events_total\{key/, 'ktap\'s own family is not mixed with the table');
  t.match(text, /^ktap_metrics_omitted_entries\{table="events_total",reason="name_clash"\} 1$/m);
});
