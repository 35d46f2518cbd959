// The dry run (-d) checks what the live run checks, through the same probe-source table:
// each refusal below ends both runs with the same one line and exit status, and -d writes
// nothing to the kernel. Also the filter-field reader the dry run uses.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, openSync, closeSync, readdirSync } from 'node:fs';
import { filterFields, missingFilterField } from '../../src/probes/filter';
import { ktap, root, tracingUnavailable } from '../support/tracing';

t.test('filter fields: the names predicates start with, values and strings skipped', async (t) => {
  t.same(filterFields('fd == 0'), ['fd']);
  t.same(filterFields('(fd==0 || count > 4096) && !(comm ~ "ba&&sh || x")'), ['fd', 'count', 'comm']);
  t.same(filterFields('prev_comm == "bash" || next_comm == bash'), ['prev_comm', 'next_comm']);
  t.same(filterFields('call_site.function == vfs_read'), ['call_site']);
  t.same(filterFields('fd != 3 && !fd'), ['fd', 'fd']);
  t.equal(missingFilterField('fd == 0 && COMM ~ "b*" && cpu == 0', ['fd']), undefined, 'the kernel\'s generic fields exist everywhere');
  t.equal(missingFilterField('fd == 0 || nosuch == 1', ['fd', 'common_pid']), 'nosuch');
});

const tracefs = '/sys/kernel/tracing';
const reason = tracingUnavailable();

/** One run of ktap: its stderr and status; a tick ends the run once everything attached. */
function run(args: string[], script: string): { stderr: string; status: number | null; pid: number | undefined } {
  const result = spawnSync(process.execPath, [ktap, '-q', ...args, '-e', `${script} tick-10ms { exit() }`], { cwd: root, encoding: 'latin1', timeout: 60_000 });
  return { stderr: result.stderr, status: result.status, pid: result.pid };
}

function functionTracerRefused(): boolean {
  try {
    closeSync(openSync(`${tracefs}/available_filter_functions`, 'r'));
    return false;
  } catch {
    return true;
  }
}

t.test('-d refuses what the live run refuses, with the same line', { skip: reason }, async (t) => {
  const cases: Array<{ what: string; script: string; expected?: RegExp }> = [
    {
      what: 'a kprobe', script: 'trace probe:vfs_read { }',
      ...(existsSync(`${tracefs}/kprobe_events`) ? {} : { expected: /^error: 'probe:vfs_read': this kernel has no kprobes/ }),
    },
    {
      what: 'ftrace:function', script: 'trace ftrace:function { }',
      ...(functionTracerRefused() ? { expected: /^error: the kernel refused the function tracer for ftrace:function: / } : {}),
    },
    {
      what: 'a filter on a field the event lacks', script: 'trace syscalls:sys_enter_read, syscalls:sys_enter_getppid /fd == 0/ { }',
      expected: /^error: kernel rejected filter 'fd == 0' for syscalls:sys_enter_getppid: Field not found\n$/,
    },
    {
      what: 'a uretprobe filter on an entry argument', script: 'trace probe:/bin/true:0x10%return /arg1 == 0/ { }',
      expected: /^error: kernel rejected filter 'arg1 == 0' for ktap_\d+:ret_addr_10: Field not found\n$/,
    },
    {
      what: 'a missing uprobe target', script: 'trace probe:/bin/true:no_such_function { }',
      expected: /^error: cannot find symbol 'no_such_function' in binary '\/bin\/true'\n$/,
    },
    { what: 'a missing ELF file', script: 'trace probe:/no/such/file:main { }', expected: /^error: cannot read ELF file '\/no\/such\/file': / },
  ];
  for (const { what, script, expected } of cases) {
    const live = run([], script);
    const dry = run(['-d'], script);
    t.equal(dry.stderr.replace(`ktap_${dry.pid}`, 'GROUP'), live.stderr.replace(`ktap_${live.pid}`, 'GROUP'), `${what}: the same message`);
    t.equal(dry.status, live.status, `${what}: the same exit status`);
    if (expected !== undefined) {
      t.match(dry.stderr, expected, `${what}: refused on this kernel`);
      t.equal(dry.status, 1);
    }
  }
});

t.test('-d accepts what the live run accepts and creates nothing', { skip: reason }, async (t) => {
  const script = 'trace syscalls:sys_enter_read /fd == 0 && common_pid != 1 && comm != "x"/ { } ' +
    'trace probe:/bin/true:0x10%return /arg2 == 0/ { } profile-10ms { }';
  const dry = run(['-d', '-v'], script);
  t.equal(dry.status, 0, dry.stderr);
  t.match(dry.stderr, /would attach syscalls:sys_enter_read .*: syscalls:sys_enter_read with filter/);
  t.match(dry.stderr, /would define r:ktap_\d+\/ret_addr_10 \/bin\/true:0x10 arg2=\$retval/);
  t.same(readdirSync(`${tracefs}/instances`).filter((name) => name.startsWith(`ktap-${dry.pid}-`)), [], 'no instance');
});
