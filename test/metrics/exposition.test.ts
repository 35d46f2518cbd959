// The Prometheus text format as ktap writes it: escaping of label values and HELP text,
// metric names made valid, HELP/TYPE lines before samples, values, --metrics addresses.

import t from 'tap';
import { parseListenAddress } from '../../src/metrics/address';
import { ExpositionWriter, escapeHelp, escapeLabelValue, formatValue, labelSet, metricName } from '../../src/metrics/exposition';

t.test('label values: backslash, double quote and newline escaped, nothing else', async (t) => {
  t.equal(escapeLabelValue('plain text'), 'plain text');
  t.equal(escapeLabelValue('C:\\dir'), 'C:\\\\dir');
  t.equal(escapeLabelValue('say "hi"'), 'say \\"hi\\"');
  t.equal(escapeLabelValue('two\nlines'), 'two\\nlines');
  t.equal(escapeLabelValue('\\n'), '\\\\n', 'a backslash before n stays two characters');
  t.equal(escapeLabelValue('tab\there\r'), 'tab\there\r', 'tabs and carriage returns are legal as they are');
  t.equal(escapeLabelValue('café ✓'), 'café ✓');
  t.equal(labelSet(['key', 'cpu'], ['a"b\\c\nd', '3']), '{key="a\\"b\\\\c\\nd",cpu="3"}');
  t.equal(labelSet([], []), '');
});

t.test('HELP text: backslash and newline escaped, quotes kept', async (t) => {
  t.equal(escapeHelp('a "quoted" \\ path\nand more'), 'a "quoted" \\\\ path\\nand more');
});

t.test('metric names: invalid characters become _, a leading digit gets _ before it', async (t) => {
  t.equal(metricName('counts'), 'counts');
  t.equal(metricName('read_bytes:sum'), 'read_bytes:sum');
  t.equal(metricName('bytes.per-sec'), 'bytes_per_sec');
  t.equal(metricName('2fast'), '_2fast');
  t.equal(metricName('é'), '_');
  t.equal(metricName(''), '_');
});

t.test('values: exact integers, bigints beyond 2^53, NaN and infinities as the format spells them', async (t) => {
  t.equal(formatValue(42), '42');
  t.equal(formatValue(-7), '-7');
  t.equal(formatValue(2n ** 63n - 1n), '9223372036854775807');
  t.equal(formatValue(0.25), '0.25');
  t.equal(formatValue(NaN), 'NaN');
  t.equal(formatValue(Infinity), '+Inf');
  t.equal(formatValue(-Infinity), '-Inf');
});

t.test('a family: HELP, then TYPE, then its samples', async (t) => {
  const writer = new ExpositionWriter();
  writer.family('ktap_calls', 'counter', 'ktap table calls', [[labelSet(['key'], ['read']), 3], [labelSet(['key'], ['x\ny']), 1n]]);
  writer.family('ktap_n', 'gauge', 'one\\two', [['', -1]]);
  t.equal(writer.text(), [
    '# HELP ktap_calls ktap table calls',
    '# TYPE ktap_calls counter',
    'ktap_calls{key="read"} 3',
    'ktap_calls{key="x\\ny"} 1',
    '# HELP ktap_n one\\\\two',
    '# TYPE ktap_n gauge',
    'ktap_n -1',
    '',
  ].join('\n'));
});

t.test('--metrics addresses: PORT, ADDR:PORT, [IPv6]:PORT, and what is wrong otherwise', async (t) => {
  t.same(parseListenAddress('9100'), { host: undefined, port: 9100 });
  t.same(parseListenAddress(':9100'), { host: undefined, port: 9100 });
  t.same(parseListenAddress('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
  t.same(parseListenAddress('localhost:9100'), { host: 'localhost', port: 9100 });
  t.same(parseListenAddress('[::1]:9100'), { host: '::1', port: 9100 });
  t.match(parseListenAddress('::1:9100'), /IPv6 address goes in brackets/);
  t.match(parseListenAddress('70000'), /out of range/);
  t.match(parseListenAddress('host:port'), /expected \[ADDR:\]PORT/);
  t.match(parseListenAddress('[]:9100'), /empty/);
});
