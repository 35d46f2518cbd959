// The kernel tier's code generator: which handlers qualify (and the line and reason of those
// that do not), and handlers compiled to eBPF that the real kernel's verifier accepts.

import t from 'tap';
import { compile } from '../../src/compiler';
import { analyze, keyBytes, upvaluesWritten, type GlobalBinding } from '../../src/bpf/analyze';
import { generate } from '../../src/bpf/codegen';
import type { TableBinding } from '../../src/bpf/codegen-input';
import { listingTiers } from '../../src/bpf/tier';
import { emitFilter, filterProblem, parseFilter } from '../../src/bpf/filter';
import { BpfMap } from '../../src/bpf/maps';
import { BpfProgram, type VerifierError } from '../../src/bpf/program';
import { GLOBAL_NAMES } from '../../src/vm/lib/index';
import type { Proto } from '../../src/vm/proto';
import { uprobePmuType } from '../../src/bpf/attach';
import { bpfUnavailable } from './support';
import { skipFile } from '../support/skip';

/** The first handler of SOURCE, its upvalues bound as tables (names starting with t) or scalars. */
function handlerOf(source: string): { proto: Proto; globals: GlobalBinding[] } {
  const { main } = compile(source, 'test.kp', { globals: GLOBAL_NAMES });
  const proto = main.protos[0]!;
  const globals = proto.upvalues.map((upvalue, id): GlobalBinding => ({ kind: upvalue.name.startsWith('t') ? 'table' : 'scalar', id, name: upvalue.name }));
  return { proto, globals };
}

function reason(source: string): string | null {
  const { proto, globals } = handlerOf(source);
  try {
    analyze(proto, globals);
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

const QUALIFYING = {
  'count by comm': 'var t = {}\ntrace syscalls:sys_enter_getppid { t[execname] += 1 }',
  'count by pid, a scalar sum': 'var t = {}\nvar n = 0\ntrace syscalls:sys_enter_getppid { t[pid] += 1 n += 1 }',
  'latency': `var ts = {}
var th = {}
var worst = 0
trace syscalls:sys_exit_read {
  if (ts[tid] != nil) {
    var d = gettimeofday_us() - ts[tid]
    th[log2(d)] += 1
    if (d > worst) { worst = d }
    ts[tid] = nil
  }
}`,
  'arithmetic and a filter': 'var t = {}\ntrace syscalls:sys_enter_write { if (arg1 == 2 && uid >= 0) { t[arg3 / 2 % 7 - cpu * tid] = -arg3 } }',
  // The parts' registers are reused before the key is: each TUPLE builds its key in an area of its own.
  'tuple keys of every part': `var t = {}
var tb = {}
trace syscalls:sys_enter_write {
  t[pid, execname, arg1 == 2, probename] += 1
  tb[execname, arg3 & 7] = tb[execname, arg3 & 7] + (arg3 << 2)
  var v = tb[execname, 1]
  if (v != nil) { tb[execname, 2] = v } else { tb[execname, 3] = nil }
}`,
  'bit operations': 'var t = {}\ntrace syscalls:sys_enter_write { t[arg1] = (arg2 & 0xff | arg3 ~ ~arg1) << arg2 >> arg3 >>> 3 << -2 >> 70 >>> t[arg2] }',
};

t.test('handlers that qualify', async (t) => {
  for (const [name, source] of Object.entries(QUALIFYING)) t.equal(reason(source), null, name);
});

t.test('handlers that stay in user space say the line and the first reason', async (t) => {
  t.equal(reason('var t = {}\ntrace syscalls:sys_enter_read {\n  t[pid] += 1\n  printf("%d", pid)\n}'), 'line 4: printf runs in user space');
  t.equal(reason('var t = {}\ntrace sched:sched_switch { t[argstr] += 1 }'), 'line 2: argstr runs in user space');
  t.equal(reason('var t = {}\ntrace sched:sched_switch {\n var i = 0\n while (i < 3) { i += 1 }\n}'), 'line 4: loops run in user space');
  t.equal(reason('var t = {}\ntrace sched:sched_switch { t["x"] = 1 }'), 'line 2: the string "x" runs in user space');
  t.equal(reason('var t = {}\ntrace sched:sched_switch { t[pid] = execname }'), 'line 2: storing execname in a table runs in user space');
  t.equal(reason('var t = {}\ntrace sched:sched_switch { t[pid] += 1 t[execname] += 1 }'), 'line 2: table t has keys of two kinds');
  t.equal(reason('var t = {}\ntrace sched:sched_switch { t[pid, execname] += 1 t[execname, pid] += 1 }'), 'line 2: table t has keys of two kinds');
  t.equal(reason('var t = {}\ntrace sched:sched_switch {\n  t[pid, t[tid]] += 1\n}'), 'line 3: a tuple holding a number or nil runs in user space');
  t.equal(reason('var t = {}\ntrace sched:sched_switch { t[pid, "x"] += 1 }'), 'line 2: the string "x" runs in user space');
  t.equal(reason('var t = {}\ntrace sched:sched_switch { var k = 0 t[pid, execname] += 1 k = t[pid, execname] }'), null, 'a tuple read back');
  const comms = Array(8).fill('execname').join(', ');
  t.equal(reason(`var t = {}\ntrace sched:sched_switch {\n${Array(4).fill(`  t[${comms}] += 1\n`).join('')}}`), "line 6: the handler's registers and tuple keys do not fit the kernel's stack of 512 bytes");
});

t.test('the analysis lays out tuple keys: integers and booleans as 8 bytes, the comm as 16', async (t) => {
  const { proto, globals } = handlerOf('var t = {}\ntrace sched:sched_switch { t[cpu, execname, pid > 1, probename] = 1 }');
  const analysis = analyze(proto, globals);
  t.same([...analysis.tuples.values()], [['int', 'comm', 'bool', 'name']]);
  t.same(analysis.tables.get(0)?.key, { tuple: ['int', 'comm', 'bool', 'name'] });
  t.equal(keyBytes(analysis.tables.get(0)!.key!), 40);
});

t.test('each probe kind takes the kernel tier path of its row, or stays in user space saying why (-b)', async (t) => {
  const tiers = (header: string): string => listingTiers(compile(`var n = 0\ntrace ${header} { n += 1 }`, 'test.kp', { globals: GLOBAL_NAMES }).main);
  t.match(tiers('syscalls:sys_enter_*'), 'trace syscalls:sys_enter_*: kernel tier (eBPF)');
  t.match(tiers('sched:sched_switch, syscalls:sys_exit_read'), 'trace sched:sched_switch, syscalls:sys_exit_read: kernel tier (eBPF)');
  t.match(tiers('probe:vfs_read'), 'trace probe:vfs_read: user tier (line 2: kprobe probes run in user space)');
  t.match(tiers('sched:sched_switch, probe:/bin/true:main'), 'user tier (line 2: a handler on uprobes and tracepoints runs in user space)');
  t.match(tiers('probe:/bin/true:main'), uprobePmuType() === undefined ? 'user tier (line 2: this kernel has no uprobe PMU' : 'trace probe:/bin/true:main: kernel tier (eBPF)');
  t.match(tiers('probe:/bin/true:main /arg1 == 1/'), "user tier (line 2: a uprobe's filter runs in user space)");
  t.match(tiers('sdt:/bin/true:marker'), 'user tier (line 2: sdt probes run in user space)');
  t.match(tiers('ftrace:function'), 'user tier (line 2: ftrace probes run in user space)');
});

t.test('what a user-space handler writes', async (t) => {
  const { proto } = handlerOf('var t = {}\nvar n = 0\nvar u = {}\ntrace x:y { t[1] = 2 n = 3 print(u[1]) }');
  t.same([...(upvaluesWritten(proto) as Set<number>)].sort(), [0, 1], 't and n, not u (only read)');
  t.equal(upvaluesWritten(handlerOf('var f = nil\ntrace x:y { f() }').proto), 'all', 'a script function could write anything');
});

t.test('filters: what is compiled into the program, and what is left to the kernel', async (t) => {
  t.same(parseFilter('fd == 2 && (count > 0x10 || !(comm != "a b"))'), {
    op: 'and',
    left: { op: 'compare', field: 'fd', compare: '==', value: 2n },
    right: { op: 'or', left: { op: 'compare', field: 'count', compare: '>', value: 16n }, right: { op: 'not', operand: { op: 'string', field: 'comm', equal: false, value: 'a b' } } },
  });
  t.same(parseFilter('a==-010||b&1'), { op: 'or', left: { op: 'compare', field: 'a', compare: '==', value: -8n }, right: { op: 'compare', field: 'b', compare: '&', value: 1n } }, 'octal as the kernel reads it; && binds before ||');
  for (const text of ['comm ~ "ba*"', 'comm == "ba*"', 'fd == x', 'fd == 2 &&', '(fd == 2', 'fd.function == 1', 'CPU & CPUS{1}', '']) {
    t.throws(() => parseFilter(text), { name: 'FilterNotCompiled' }, `left to the kernel: ${text}`);
  }
  const fields = [
    { name: 'fd', type: 'unsigned int', offset: 16, size: 8, signed: false, kind: 'int' as const },
    { name: 'name', type: 'char[16]', offset: 24, size: 16, signed: false, kind: 'chars' as const },
    { name: 'path', type: '__data_loc char[]', offset: 40, size: 4, signed: false, kind: 'dataloc' as const },
  ];
  const problem = (text: string) => filterProblem(parseFilter(text), { kind: 'record', fields });
  t.equal(problem('fd == 1 && name == "x" && common_pid > 0 && CPU == 0 && COMM != "y"'), null);
  t.equal(problem('fd == -1'), "the filter's value -1 does not fit fd");
  t.equal(problem('path == "x"'), "the filter's field path is read by the kernel's filter");
  t.equal(problem('nosuch == 1'), "the filter's field nosuch is read by the kernel's filter");
  t.equal(problem('name == "0123456789abcdef"'), 'the filter\'s string "0123456789abcdef" is as long as name');
  t.equal(problem('name == 1'), 'the filter compares name with a number');
  t.equal(filterProblem(parseFilter('ret < 0'), { kind: 'rawSysExit' }), null, 'the raw sys_exit context has ret');
  t.not(filterProblem(parseFilter('fd == 1'), { kind: 'rawSysEnter' }), null, 'the raw context has no named arguments');
});

const unavailable = bpfUnavailable();
if (unavailable !== undefined) {
  skipFile('verifier tests: BPF unavailable', unavailable);
} else {
  t.test('generated programs pass the verifier, with a line for every slot', async (t) => {
    const maps: BpfMap[] = [];
    t.teardown(() => maps.forEach((map) => map.close()));
    const make = (spec: Parameters<typeof BpfMap.create>[0]): BpfMap => {
      const map = BpfMap.create(spec);
      maps.push(map);
      return map;
    };
    const hits = make({ type: 'percpuArray', keySize: 4, valueSize: 8, maxEntries: 1 });
    const errors = make({ type: 'array', keySize: 4, valueSize: 16, maxEntries: 1 });
    const fields = [0, 1, 2, 3].map((index) => ({ name: `f${index}`, type: 'long', offset: 8 + index * 8, size: 8, signed: true, kind: 'int' as const }));
    for (const [name, source] of Object.entries(QUALIFYING)) {
      const { proto, globals } = handlerOf(source);
      const analysis = analyze(proto, globals);
      const tables = new Map<number, TableBinding>();
      for (const [id, use] of analysis.tables) {
        const key = use.key ?? 'int';
        const percpu = !use.reads && !use.assigns;
        tables.set(id, { fd: make({ type: percpu ? 'percpuHash' : 'hash', keySize: keyBytes(key), valueSize: 8, maxEntries: 64 }).fd, percpu, key });
      }
      const scalars = new Map([...analysis.scalars].map(([id, use]) => [id, { fd: make({ type: 'array', keySize: 4, valueSize: 16, maxEntries: 1 }).fd, percpu: !use.reads && !use.assigns }]));
      const generated = generate({ analysis, tables, scalars, access: { kind: 'record', fields }, hitsFd: hits.fd, errorsFd: errors.fd, handlerId: 1, wallOffsetNs: 0n });
      t.equal(generated.lines.length, generated.code.length / 8, `${name}: a line per slot`);
      t.ok([...generated.lines].every((line) => line >= proto.lineDefined && line <= proto.lastLine), `${name}: lines within the handler`);
      t.doesNotThrow(() => BpfProgram.load({ type: 'tracepoint', code: generated.code }).close(), `${name}: accepted by the verifier`);
      const filter = parseFilter('f0 == 1 && (comm == "sh" || !(f1 & 4)) || common_pid < 100 && CPU != 1');
      const filtered = generate({
        analysis, tables, scalars, access: { kind: 'record', fields }, hitsFd: hits.fd, errorsFd: errors.fd, handlerId: 1, wallOffsetNs: 0n,
        filter: (asm, context, skip) => emitFilter(asm, filter, { kind: 'record', fields }, context, skip),
      });
      t.doesNotThrow(() => BpfProgram.load({ type: 'tracepoint', code: filtered.code }).close(), `${name}, filtered: accepted by the verifier`);
    }
  });

  // A map whose key is larger than the frame the program builds its keys in: the verifier
  // refuses the lookup, and the slot it names maps back to the ktap line of the update.
  t.test('a refused program: the verifier names a slot, the slot a ktap line', async (t) => {
    const hits = BpfMap.create({ type: 'percpuArray', keySize: 4, valueSize: 8, maxEntries: 1 });
    const errors = BpfMap.create({ type: 'array', keySize: 4, valueSize: 16, maxEntries: 1 });
    const table = BpfMap.create({ type: 'hash', keySize: 256, valueSize: 8, maxEntries: 4 });
    t.teardown(() => [hits, errors, table].forEach((map) => map.close()));
    const { proto, globals } = handlerOf('var t = {}\ntrace syscalls:sys_enter_getppid {\n  var x = 1\n  t[x] += 1\n}');
    const analysis = analyze(proto, globals);
    const generated = generate({
      analysis, tables: new Map([[0, { fd: table.fd, percpu: false, key: 'int' as const }]]), scalars: new Map(), access: { kind: 'rawSysEnter' },
      hitsFd: hits.fd, errorsFd: errors.fd, handlerId: 1, wallOffsetNs: 0n,
    });
    const error = t.throws(() => BpfProgram.load({ type: 'rawTracepoint', code: generated.code })) as VerifierError;
    t.equal(error.name, 'VerifierError');
    t.ok(error.slot >= 0, `the log names an instruction (${error.lastLines(2).join(' / ')})`);
    t.equal(generated.lines[error.slot], 4, 'the line of t[x] += 1');
    t.ok(error.lastLines().length > 0, 'the last lines of the log, for -v');
  });
}
