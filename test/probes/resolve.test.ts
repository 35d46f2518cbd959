// Tracepoint definitions → events: the globs of SPEC §4.1 over a fixed list, lists and
// dedupe, unknown events with suggestions, and the same against this kernel's available_events.

import t from 'tap';
import { parseEventSpec, type DefinitionOf, type EventDefinition } from '../../src/syntax/headers';
import {
  globToRegExp, listEvents, matchesGlob, parseAvailableEvents, resolveTracepoints, selectTracepoints,
  type TracepointDefinition,
} from '../../src/probes/resolve';
import { findTracefs, TracefsError } from '../../src/probes/tracefs';

const AVAILABLE = parseAvailableEvents(
  [
    'sched:sched_wakeup',
    'sched:sched_switch',
    'sched:sched_process_exit',
    'syscalls:sys_exit_read',
    'syscalls:sys_enter_read',
    'syscalls:sys_enter_readv',
    'syscalls:sys_enter_write',
    'irq:softirq_entry',
    'irq:softirq_exit',
    'irq:irq_handler_entry',
    'odd:a*b',
    'odd:a-b',
    '',
  ].join('\n'),
);

function definitions(spec: string): TracepointDefinition[] {
  const parsed = parseEventSpec(spec);
  if (parsed === undefined) throw new Error(`cannot parse ${spec}`);
  return parsed.definitions.filter((definition: EventDefinition): definition is DefinitionOf<'tracepoint' | 'syscall'> =>
    definition.kind === 'tracepoint' || definition.kind === 'syscall');
}

function select(spec: string): string[] {
  return selectTracepoints(AVAILABLE, definitions(spec)).map(({ system, event }) => `${system}:${event}`);
}

t.test('globs', async (t) => {
  const cases: Array<[glob: string, matching: string[], notMatching: string[]]> = [
    ['sched_switch', ['sched_switch'], ['sched_switch2', 'xsched_switch', 'sched_swi']],
    ['*', ['', 'anything'], []],
    ['sys_enter_*', ['sys_enter_', 'sys_enter_read'], ['sys_exit_read']],
    ['*_entry', ['softirq_entry'], ['softirq_exit']],
    ['a?c', ['abc', 'a.c'], ['ac', 'abbc']],
    ['[abc]x', ['ax', 'cx'], ['dx', 'x', 'abx']],
    ['[a-c]', ['a', 'b', 'c'], ['d', '-']],
    ['[!abc]', ['d', '-'], ['a', 'c', '']],
    ['[!a-y]z', ['zz', '_z'], ['az', 'yz']],
    ['[]a]', [']', 'a'], ['b']],
    ['[!]]', ['a'], [']']],
    ['[a-]', ['a', '-'], ['b']],
    ['[-z]', ['-', 'z'], ['a']],
    ['[a\\-z]', ['a', '-', 'z'], ['b']],
    ['[z-a]', [], ['a', 'm', 'z']],
    ['a\\*b', ['a*b'], ['axb', 'ab']],
    ['a\\?', ['a?'], ['ab']],
    ['\\[x]', ['[x]'], ['x']],
    ['[x', ['[x'], ['x']],
    ['a.b(c)+$', ['a.b(c)+$'], ['axb(c)+$', 'a.bc']],
    ['^x|y', ['^x|y'], ['x', 'y']],
  ];
  for (const [glob, matching, notMatching] of cases) {
    for (const name of matching) t.ok(matchesGlob(glob, name), `'${glob}' matches '${name}'`);
    for (const name of notMatching) t.notOk(matchesGlob(glob, name), `'${glob}' does not match '${name}'`);
  }
  t.type(globToRegExp('a*'), RegExp);
});

t.test('definitions over a fixed list', async (t) => {
  t.same(select('sched:sched_switch'), ['sched:sched_switch']);
  t.same(select('sched:*'), ['sched:sched_process_exit', 'sched:sched_switch', 'sched:sched_wakeup'], 'sorted by name');
  t.same(select('syscalls:sys_enter_*'), ['syscalls:sys_enter_read', 'syscalls:sys_enter_readv', 'syscalls:sys_enter_write']);
  t.same(select('syscalls:sys_*_read'), ['syscalls:sys_enter_read', 'syscalls:sys_exit_read']);
  t.same(select('*:*').length, AVAILABLE.length, 'every tracepoint');
  t.same(select('irq:softirq_entry, irq:softirq_exit'), ['irq:softirq_entry', 'irq:softirq_exit']);
  t.same(
    select('sched:sched_wakeup,sched:*, sched:sched_switch'),
    ['sched:sched_wakeup', 'sched:sched_process_exit', 'sched:sched_switch'],
    'each event once, first mention first',
  );
  t.same(select('irq:*softirq_e[nx]*/vec == 1/'), ['irq:softirq_entry', 'irq:softirq_exit'], 'the filter is not part of the glob');
  t.same(select('odd:a\\*b'), ['odd:a*b'], 'a quoted star is a star');
  t.same(select('odd:a[!*]b'), ['odd:a-b']);
  t.same(select('s[x-z]*:sys_enter_read?'), ['syscalls:sys_enter_readv']);
});

t.test('unknown events: one error naming it, with the nearest names', async (t) => {
  const unknown = (spec: string): string => {
    try {
      select(spec);
    } catch (error) {
      t.ok(error instanceof TracefsError, `${spec}: a TracefsError`);
      return (error as Error).message;
    }
    return 'no error';
  };
  t.equal(unknown('sched:sched_swich'), "unknown event 'sched:sched_swich'; did you mean 'sched:sched_switch'?");
  t.equal(unknown('schd:sched_switch'), "unknown event 'schd:sched_switch'; did you mean 'sched:sched_switch'?");
  t.equal(unknown('sched:sched_switch, sched:nope'), "unknown event 'sched:nope'", 'nothing near: no suggestion');
  t.equal(unknown('schd:*'), "unknown event 'schd:*'; did you mean 'sched:*'?", 'a glob part that matched is kept');
  t.equal(
    unknown('syscalls:sys_enter_rea'),
    "unknown event 'syscalls:sys_enter_rea'; did you mean 'syscalls:sys_enter_read', 'syscalls:sys_enter_readv'?",
  );
  t.equal(
    unknown('syscalls:sys_enter_raed'),
    "unknown event 'syscalls:sys_enter_raed'; did you mean 'syscalls:sys_enter_read', 'syscalls:sys_enter_readv'?",
    'swapped letters are one edit, nearest first',
  );
  t.equal(unknown('nothing:*'), "unknown event 'nothing:*'");
});

let root = '';
try {
  root = findTracefs();
} catch (error) {
  t.skip(`tracefs unavailable: ${(error as Error).message}`, () => {});
}

if (root !== '') {
  t.test('against available_events of this kernel', async (t) => {
    const resolve = (spec: string): string[] =>
      resolveTracepoints(root, definitions(spec)).map(({ system, event }) => `${system}:${event}`);
    t.same(resolve('sched:sched_switch'), ['sched:sched_switch']);
    t.ok(resolve('sched:*').includes('sched:sched_switch'), 'sched:* includes sched_switch');
    const enters = resolve('syscalls:sys_enter_*');
    t.ok(enters.length > 300, `${enters.length} syscall entries`);
    t.ok(enters.every((name) => name.startsWith('syscalls:sys_enter_')));
    const everything = resolve('*:*');
    t.ok(everything.length > 1000, `${everything.length} tracepoints`);
    t.equal(new Set(everything).size, everything.length, 'no duplicates');
    t.ok(everything.every((name) => !name.startsWith('ftrace:')), 'the function tracer is not a tracepoint');
    t.throws(() => resolve('sched:sched_swich'), {
      name: 'TracefsError',
      message: /^unknown event 'sched:sched_swich'; did you mean 'sched:sched_switch'/,
    });
  });

  t.test('listEvents (-le)', async (t) => {
    const all = listEvents(root);
    t.same(all, [...all].sort(), 'sorted');
    t.ok(all.includes('sched:sched_switch'));
    t.same(listEvents(root, 'sched:sched_switch'), ['sched:sched_switch']);
    t.ok(listEvents(root, '*sched_sw*').includes('sched:sched_switch'), 'a glob without : matches the whole name');
    t.same(listEvents(root, 'syscalls:sys_enter_read'), ['syscalls:sys_enter_read']);
    t.same(listEvents(root, 'no_such_system:*'), []);
    t.equal(listEvents(root, 'syscalls:*').length, listEvents(root, 'syscalls*').length);
  });
}
