// THE builtin registry: every name of SPEC §5 present once, globals and library tables
// built from it, and the names the compiler may read.

import t from 'tap';
import { BUILTINS, GLOBAL_NAMES } from '../../../src/vm/lib/index';
import { KTable } from '../../../src/vm/table';
import { isBuiltin, toDisplayString } from '../../../src/vm/value';
import { fakeRuntime } from './fake-runtime';

const FUNCTIONS = [
  'print', 'printf', 'print_hist', 'print_folded', 'print_trace_clock', 'pairs', 'len', 'delete', 'exit', 'arch', 'host', 'kernel_v',
  'num_cpus', 'gettimeofday_s', 'gettimeofday_ms', 'gettimeofday_us', 'gettimeofday_ns', 'stack', 'ustack',
  'ipof', 'stringof', 'user_string', 'kernel_string', 'in_interrupt', 'in_iowait', 'curr_taskinfo',
  // docs/language.md
  'min', 'max', 'log2', 'linear', 'print_log2', 'print_linear', 'sprintf', 'tostring', 'tonumber', 'strftime', 'strftime_ns', 'join',
];
const MEMBERS: Record<string, string[]> = {
  table: ['new'],
  ansi: ['clear_screen', 'set_color', 'set_color2', 'set_color3', 'reset_color', 'new_line'],
  timer: ['tick', 'profile'],
  kdebug: ['trace_end', 'kprobe', 'tracepoint', 'trace_by_id'],
  net: ['format_ip_addr', 'ip_sock_saddr', 'ip_sock_daddr'],
  string: ['format', 'sub', 'find', 'upper', 'lower', 'len'],
};

t.test('the registry lists every builtin once, with help text', async (t) => {
  const names = BUILTINS.map((def) => (def.library === undefined ? def.name : `${def.library}.${def.name}`));
  const expected = [...FUNCTIONS, ...Object.entries(MEMBERS).flatMap(([library, members]) =>
    members.map((member) => `${library}.${member}`))];
  t.same([...names].sort(), [...expected].sort());
  for (const def of BUILTINS) t.ok(def.params.startsWith('(') && def.doc.length > 0, def.name);
});

t.test('GLOBAL_NAMES', async (t) => {
  t.same([...GLOBAL_NAMES].sort(), [...FUNCTIONS, ...Object.keys(MEMBERS), 'arg'].sort());
});

t.test('makeGlobals', async (t) => {
  const { globals, arg } = fakeRuntime();
  t.same([...globals.keys()].sort(), [...GLOBAL_NAMES].sort());
  t.equal(globals.get('arg'), arg);
  for (const name of FUNCTIONS) {
    const fn = globals.get(name);
    t.ok(typeof fn === 'function' && isBuiltin(fn), name);
    t.match(toDisplayString(fn), /^cfunction 0x[0-9a-f]+$/);
  }
  for (const [library, members] of Object.entries(MEMBERS)) {
    const table = globals.get(library);
    t.ok(table instanceof KTable, library);
    t.same([...(table as KTable).entries()].map(([key]) => key), members);
    for (const [, fn] of (table as KTable).entries()) t.ok(typeof fn === 'function' && isBuiltin(fn));
  }
});
