// The fleet's table arithmetic without ssh: an agent's change tracker feeding the
// coordinator's merge through the wire encoding (JSON), and the protocol's checks.

import t from 'tap';
import os from 'node:os';
import { ChangeTracker, type Variable } from '../../src/fleet/changes';
import { FleetMerge } from '../../src/fleet/merge';
import { LineSplitter, ProtocolError, decodeValue, encodeValue, parseAgentMessage, type VariableUpdate } from '../../src/fleet/protocol';
import { KTable } from '../../src/vm/table';
import { tuple } from '../../src/vm/tuple';
import type { Value } from '../../src/vm/value';
import { fakeRuntime } from '../vm/lib/fake-runtime';

/** A host: its variables, and a tracker sending their changes as JSON would carry them. */
function host(rt: ReturnType<typeof fakeRuntime>['rt']) {
  const values = new Map<string, Value>();
  const warnings: string[] = [];
  const tracker = new ChangeTracker(() => [...values.keys()].map((name): Variable => ({ name, read: () => values.get(name) })), (message) => warnings.push(message));
  const table = (name: string): KTable => {
    if (!values.has(name)) values.set(name, rt.newTable());
    return values.get(name) as KTable;
  };
  const send = (): VariableUpdate[] => JSON.parse(JSON.stringify(tracker.changes().flat())) as VariableUpdate[];
  return { values, table, send, warnings };
}

function entries(value: Value): Array<[Value, Value]> {
  return value instanceof KTable ? [...value.entries()].map(([key, entry]) => [key, entry instanceof KTable ? entries(entry) as unknown as Value : entry]) : [];
}

t.test('numbers of the same key are summed across hosts; changes travel as deltas of entries', async (t) => {
  const { rt } = fakeRuntime();
  const merged = new Map<string, Value>([['s', rt.newTable()], ['n', 0]]);
  const merge = new FleetMerge(rt, (name) => merged.has(name) ? { get: () => merged.get(name), set: (value) => merged.set(name, value) } : undefined, ['a', 'b']);
  const a = host(rt);
  const b = host(rt);
  a.table('s').set('ls', 3);
  a.table('s').set('sh', 1);
  b.table('s').set('ls', 4);
  b.values.set('n', 10);
  merge.apply('a', a.send());
  merge.apply('b', b.send());
  t.same(entries(merged.get('s')), [['ls', 7], ['sh', 1]]);
  t.equal(merged.get('n'), 10);
  a.table('s').set('ls', 5);
  const second = a.send();
  t.same(second, [{ name: 's', set: [['ls', 5]] }], 'only the changed entry travels');
  merge.apply('a', second);
  t.same(entries(merged.get('s')), [['ls', 9], ['sh', 1]]);
  t.same(a.send(), [], 'nothing changed: nothing to send');

  // A coordinator handler cleared the merged table: what comes after is what came since.
  (merged.get('s') as KTable).clear();
  b.table('s').set('ls', 6);
  merge.apply('b', b.send());
  t.same(entries(merged.get('s')), [['ls', 2]]);

  // A key removed on every host that had it goes; int64 beyond 2^53 stays exact.
  a.table('s').set('sh', undefined);
  a.table('s').set('big', 2n ** 62n);
  merge.apply('a', a.send());
  t.same(entries(merged.get('s')), [['ls', 2], ['big', 2n ** 62n]]);
});

t.test('other values are kept per host, by label', async (t) => {
  const { rt, globals } = fakeRuntime();
  const merged = new Map<string, Value>([['names', rt.newTable()], ['last', undefined]]);
  const merge = new FleetMerge(rt, (name) => merged.has(name) ? { get: () => merged.get(name), set: (value) => merged.set(name, value) } : undefined, ['a', 'b']);
  const a = host(rt);
  const b = host(rt);
  a.table('names').set(1, 'bash');
  b.table('names').set(1, 'zsh');
  b.values.set('last', 'x');
  a.table('names').set('f', globals.get('print'));
  merge.apply('b', b.send());
  merge.apply('a', a.send());
  t.same(entries(merged.get('names')), [[1, [['a', 'bash'], ['b', 'zsh']]]]);
  t.same(entries(merged.get('last')), [['b', 'x']]);
  t.same(a.warnings, ['table names: entries whose value is a function stay on the host']);
});

t.test('tables in tables: numbers summed at every depth, other values per host, by the path of keys', async (t) => {
  const { rt } = fakeRuntime();
  const merged = new Map<string, Value>([['s', rt.newTable()]]);
  const merge = new FleetMerge(rt, (name) => merged.has(name) ? { get: () => merged.get(name), set: (value) => merged.set(name, value) } : undefined, ['a', 'b']);
  const a = host(rt);
  const b = host(rt);
  const inner = (h: typeof a, key: Value): KTable => {
    const s = h.table('s');
    if (!(s.get(key) instanceof KTable)) s.set(key, rt.newTable());
    return s.get(key) as KTable;
  };
  inner(a, 'bash').set('read', 3);
  inner(a, 'bash').set('comm', 'bash');
  inner(b, 'bash').set('read', 4);
  b.table('s').set('top', 1);
  const sent = a.send();
  t.same(sent, [{ name: 's', setPath: [[['bash', 'read'], 3], [['bash', 'comm'], 'bash']] }], 'entries below the top travel by their path');
  merge.apply('a', sent);
  merge.apply('b', b.send());
  t.same(entries(merged.get('s')), [['bash', [['read', 7], ['comm', [['a', 'bash']]]]], ['top', 1]], 'summed across hosts at the same path; a string per host');

  inner(a, 'bash').set('read', 5);
  const changed = a.send();
  t.same(changed, [{ name: 's', setPath: [[['bash', 'read'], 5]] }], 'only the changed entry travels');
  merge.apply('a', changed);
  // Three deep, then a table that holds itself: that one stays on the host.
  const deep = rt.newTable();
  deep.set('c', 1);
  inner(b, 'bash').set('deeper', deep);
  deep.set('loop', inner(b, 'bash'));
  merge.apply('b', b.send());
  t.same(b.warnings, [`table s: tables nested deeper than 8 keys, or holding themselves, stay on the host`]);
  t.equal(((merged.get('s') as KTable).get('bash') as KTable).get('read'), 9, 'a change is a delta');
  t.equal((((merged.get('s') as KTable).get('bash') as KTable).get('deeper') as KTable).get('c'), 1);

  // A table replaced by a number: its entries go first, then the number comes. Where another
  // host still has a table under that key, the last update wins the key.
  a.table('s').set('bash', 10);
  const turned = a.send();
  t.same(turned, [{ name: 's', set: [['bash', 10]], delPath: [['bash', 'read'], ['bash', 'comm']] }]);
  merge.apply('a', turned);
  t.same(entries((merged.get('s') as KTable).get('bash')), [['a', 10]], 'a number against a table: per host, as any value that is not only numbers');
  // A table in the table that every host removes goes from the merged view too.
  inner(b, 'gone').set('x', 1);
  merge.apply('b', b.send());
  t.equal(((merged.get('s') as KTable).get('gone') as KTable).get('x'), 1);
  b.table('s').set('gone', undefined);
  merge.apply('b', b.send());
  t.equal((merged.get('s') as KTable).get('gone'), undefined, 'tables left empty go');
  // A key deleted everywhere leaves the variable itself a table.
  b.table('s').set('top', undefined);
  merge.apply('b', b.send());
  t.ok(merged.get('s') instanceof KTable, 'the variable stays a table');
});

t.test('tuple keys travel as arrays and are summed like any key; a nested tuple and a nil part too', async (t) => {
  const { rt } = fakeRuntime();
  const merged = new Map<string, Value>([['s', rt.newTable()]]);
  const merge = new FleetMerge(rt, (name) => merged.has(name) ? { get: () => merged.get(name), set: (value) => merged.set(name, value) } : undefined, ['a', 'b']);
  const a = host(rt);
  const b = host(rt);
  a.table('s').set(tuple('bash', 'read'), 3);
  b.table('s').set(tuple('bash', 'read'), 4);
  b.table('s').set(tuple(tuple('x', 1), undefined), 1);
  const sent = b.send();
  t.same(sent, [{ name: 's', set: [[['bash', 'read'], 4], [[['x', 1], null], 1]] }], 'a tuple is the array of its parts, nil as null');
  merge.apply('a', a.send());
  merge.apply('b', sent);
  const table = merged.get('s') as KTable;
  t.equal(table.get(tuple('bash', 'read')), 7, 'the same tuple from two hosts is one key');
  t.equal(table.get(tuple(tuple('x', 1), undefined)), 1);
  t.same(a.warnings, []);
  a.table('s').set(tuple('bash', 'read'), undefined);
  merge.apply('a', a.send());
  t.equal(table.get(tuple('bash', 'read')), 4, 'a tuple key deleted on a host takes its share away');
  t.throws(() => decodeValue(Array.from({ length: 9 }, () => 1)), ProtocolError, 'more parts than a tuple has');
  let deep: unknown = 1;
  for (let depth = 0; depth < 17; depth++) deep = [deep];
  t.throws(() => decodeValue(deep), ProtocolError, 'nested deeper than ktap sends');
  t.throws(() => decodeValue([{}]), ProtocolError);
});

t.test('host() without --hosts: the machine\'s hostname (on a fleet, its label: fleet.test.ts)', async (t) => {
  t.equal(fakeRuntime().builtin('host')(), os.hostname());
});

t.test('the protocol refuses what is not a message of it', async (t) => {
  t.throws(() => parseAgentMessage('{"type":"hello"'), ProtocolError);
  t.throws(() => parseAgentMessage('[1]'), ProtocolError);
  t.throws(() => parseAgentMessage('{"type":"launch"}'), /unknown message type "launch"/);
  t.throws(() => parseAgentMessage('{"type":"update","vars":[{"name":"s","set":[1]}]}'), /bad 'set'/);
  t.throws(() => parseAgentMessage('{"type":"update","vars":[],"cpus":[[0,-1,0]]}'), /bad 'cpus'/);
  t.throws(() => parseAgentMessage('{"type":"output"}'), /without 'text'/);
  t.same(parseAgentMessage('{"type":"end","reason":"workload"}'), { type: 'end', reason: 'workload' });
  t.throws(() => decodeValue(1.5), ProtocolError);
  t.throws(() => decodeValue({ int: '99999999999999999999' }), ProtocolError);
  t.throws(() => decodeValue('\u0100'), ProtocolError);
  t.equal(decodeValue(encodeValue(-(2n ** 63n))), -(2n ** 63n));
  t.equal(decodeValue(encodeValue('\xff\x00')), '\xff\x00');

  const lines: string[] = [];
  let oversized = 0;
  const splitter = new LineSplitter((line) => lines.push(line), () => oversized++, 10);
  splitter.push('ab\ncd');
  splitter.push('e\n');
  splitter.push('0123456789abc');
  splitter.push('\nlater\n');
  t.same(lines, ['ab', 'cde']);
  t.equal(oversized, 1, 'a line over the limit: reported once, nothing after');
});
