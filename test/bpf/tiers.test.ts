// The kernel tier end to end: the same scripts under --tier kernel and --tier user give the
// same tables on workloads with exact system call counts; -v names the tier; the fallback
// without BPF; --tier kernel's error naming the line; nothing left attached after SIGKILL.

import t from 'tap';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { bpfUnavailable } from './support';
import { PipedKtap, Workload, buildWorkload, valueBecomes } from '../repl/harness';
import { skipFile } from '../support/skip';
import { ktap } from '../support/tracing';
import { compile, scratchDirectory, WORKLOAD_C } from '../support/workloads';

const cpus = availableParallelism();
const unavailable = bpfUnavailable();

if (unavailable !== undefined) {
  skipFile('kernel tier end to end', unavailable);
} else {
  const directory = scratchDirectory(t, 'tiers');
  const workload = compile(directory, WORKLOAD_C, 'workload');

  /** ktap -q -v --tier TIER SCRIPT -- workload ARGS (or -- ARGS when COMMAND). */
  const run = (tier: string, script: string, args: string[], env: NodeJS.ProcessEnv = {}, command = false) => {
    const file = join(directory, 'script.kp');
    writeFileSync(file, script);
    return spawnSync(process.execPath, [ktap, '-q', '-v', '--tier', tier, file, '--', ...(command ? [] : [workload]), ...args], {
      encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000,
    });
  };

  // One script for every kind of handler the tier compiles, so each tier costs one run: counts
  // by pid, by execname and a scalar; a write-size histogram and a condition on an argument;
  // a per-tid latency table with a max; entries removed from user space. `-- sh -c` runs two
  // workloads, so the program also follows the traced shell's children (the shell itself
  // calls getppid once).
  const TABLES = `var c = {}
var byname = {}
var n = 0
var h = {}
var e = {}
var ts = {}
var lat = {}
var worst = 0
var m = 0
var d = {}
trace syscalls:sys_enter_getppid { c[pid] += 1 n += 1 byname[execname] += 1 ts[tid] = gettimeofday_ns() d[tid] = 7 }
trace syscalls:sys_exit_getppid {
  if (ts[tid] != nil) {
    var x = gettimeofday_ns() - ts[tid]
    lat[log2(x)] += 1
    m += 1
    if (x > worst) { worst = x }
    ts[tid] = nil
  }
}
trace syscalls:sys_enter_write { h[log2(arg3)] += 1 if (arg1 == 2) { e[pid] += 1 } }
trace_end {
  for (k, v in pairs(c)) { if (v > 1) { print("by pid", v) } }
  print("scalar and by name", n, byname["workload"], byname["sh"])
  print("sizes", h[1], len(h))
  for (k, v in pairs(e)) { print("stderr", v) }
  var total = 0
  for (k, v in pairs(lat)) { total += v }
  print("latency", m, total, worst > 0, len(ts))
  for (k, v in pairs(d)) { d[k] = nil }
  delete(c)
  print("removed", len(c), len(d))
}
`;
  const EXPECTED = 'ooooo' + // the write workload's own output
    'by pid\t2000\nscalar and by name\t2001\t2000\t1\nsizes\t8\t1\nstderr\t3\nlatency\t2001\t2001\ttrue\t0\nremoved\t0\t0\n';

  t.test('the same tables under --tier kernel and --tier user', async (t) => {
    const args = ['/bin/sh', '-c', `${workload} getppid 2000; ${workload} write 5 3`];
    const kernel = run('kernel', TABLES, args, {}, true);
    const user = run('user', TABLES, args, {}, true);
    t.equal(kernel.stdout, EXPECTED, `kernel tier (stderr: ${kernel.stderr.trim()})`);
    t.equal(user.stdout, EXPECTED, 'user tier');
    t.equal(kernel.stderr.split('\n').filter((line) => /: kernel tier \(eBPF\)$/.test(line)).length, 3, '-v: each handler in the kernel');
    t.notMatch(user.stderr, /kernel tier/, 'nothing in the kernel under --tier user');
  });

  // Hot keys (src/bpf/hot-keys.ts): ~1,000 keys for 128 slots per CPU, so most keys share a
  // slot and go to the map; every addition counted once whichever way it went. A write from
  // user space replaces a key's value, slots and all; delete() empties both.
  const HOT = `var spread = {}
var byname = {}
trace syscalls:sys_enter_getppid { spread[gettimeofday_ns() % 1000] += 1 byname[execname] += 1 }
trace_end {
  var total = 0
  var keys = 0
  for (k, v in pairs(spread)) { total += v keys += 1 }
  printf("total %d, more keys than slots %s\\n", total, keys > 128)
  byname["workload"] = 5
  printf("written %d %d\\n", byname["workload"], len(byname))
  delete(spread)
  delete(byname)
  printf("deleted %d %d\\n", len(spread), len(byname))
}
`;

  t.test('hot keys: exact sums over more keys than slots, user writes and deletes', async (t) => {
    const expected = 'total 20000, more keys than slots true\nwritten 5 1\ndeleted 0 0\n';
    const kernel = run('kernel', HOT, ['getppid', '20000']);
    t.equal(kernel.stdout, expected, `kernel tier (stderr: ${kernel.stderr.trim()})`);
    t.match(kernel.stderr, /kernel tier \(eBPF\)/);
    t.equal(run('user', HOT, ['getppid', '20000']).stdout, expected, 'user tier');
  });

  // Tuple keys of every part the kernel tier lays out (integers, booleans, the comm, the
  // probe name), read back as the user tier's tuples by print_hist, pairs and indexing, one
  // written by handlers on different events, an entry removed from user space.
  const TUPLES = `var sizes = {}
var byname = {}
var probes = {}
var last = {}
trace syscalls:sys_enter_read /fd == 42/ {
  sizes[execname, log2(args.count)] += 1
  last[execname, args.count & 7] = args.count
  probes[probename, execname] += 1
}
trace syscalls:sys_enter_getppid { byname[execname, pid > 0] += 1 }
trace syscalls:sys_enter_getppid, syscalls:sys_enter_write { probes[probename, execname] += 1 }
trace_end {
  print_hist(sizes)
  print_hist(byname)
  print_hist(probes)
  for (i = 0, 7) { printf("%d:%s ", i, last["workload", i]) }
  last["workload", 3] = nil
  print(len(last), last["workload", 3])
  for (k, v in pairs(byname)) { if (k[1] == "sh") { print(k, len(k), v) } }
}
`;
  const HIST = '                         value ------------- Distribution ------------- count\n';
  const TUPLES_EXPECTED = 'ooo' + HIST +
    '                 workload, 4096 |@@@@@@@@@@@@                          5      \n' +
    '                   workload, 64 |@@@@@@@@@@                            4      \n' +
    '                    workload, 4 |@@@@@@@                               3      \n' +
    '                    workload, 2 |@@@@@                                 2      \n' +
    '                    workload, 1 |@@                                    1      \n' + HIST +
    '                 workload, true |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@     7      \n' +
    '                       sh, true |@@@@                                  1      \n' + HIST +
    '       sys_enter_read, workload |@@@@@@@@@@@@@@@@@@@@                  15     \n' +
    '    sys_enter_getppid, workload |@@@@@@@@@                             7      \n' +
    '      sys_enter_write, workload |@@@@@@                                5      \n' +
    '          sys_enter_getppid, sh |@                                     1      \n' +
    '0:8000 1:65 2:2 3:3 4:100 5:5 6:6 7:8191 7\tnil\n(sh, true)\t2\t1\n';

  t.test('tuple keys: the same tables under --tier kernel and --tier user', async (t) => {
    const args = ['/bin/sh', '-c', `${workload} getppid 7; ${workload} read-sizes 1 2 3 4 5 6 64 65 100 127 4096 5000 6000 8000 8191; ${workload} write 3 2`];
    const kernel = run('kernel', TUPLES, args, {}, true);
    t.equal(kernel.stdout, TUPLES_EXPECTED, `kernel tier (stderr: ${kernel.stderr.trim()})`);
    t.equal(run('user', TUPLES, args, {}, true).stdout, TUPLES_EXPECTED, 'user tier');
    t.equal(kernel.stderr.split('\n').filter((line) => /: kernel tier \(eBPF\)$/.test(line)).length, 3, '-v: each handler in the kernel');
  });

  // The bit operators on each read() size as x: shift counts below 0, from 64 on and at the
  // 2^63 edge, by constants and by registers; a tuple key (x, case) per result.
  const BITS = `var r = {}
trace syscalls:sys_enter_read /fd == 42/ {
  var x = args.count
  var m = -x
  r[x, 1] = (1 << x) | (x << 62)
  r[x, 2] = m >> x
  r[x, 3] = m >>> x
  r[x, 4] = 5 << x - 70
  r[x, 5] = m >> 60 - x
  r[x, 6] = m >>> x - 64
  r[x, 7] = ~x ~ x & 0x55 | m & 0xff00
  r[x, 8] = (m << 63) >> x - 1
  r[x, 9] = (m << 63) >>> (x & 63)
  r[x, 10] = x << -9223372036854775807 - 1
  r[x, 11] = m >> 64
  r[x, 12] = m >>> -3
  r[x, 13] = x << m + x - 9223372036854775807 - 1
  r[x, 14] = (x - 100) >> 200 ~ m >> -x
}
trace_end { for (x = 0, 200) { for (i = 1, 14) { if (r[x, i] != nil) { printf("%d %d %d\\n", x, i, r[x, i]) } } } }
`;

  t.test('bit operations: the same values under --tier kernel and --tier user, edges included', async (t) => {
    const sizes = ['read-sizes', '0', '1', '2', '31', '32', '33', '62', '63', '64', '65', '70', '100', '127', '128', '200'];
    const kernel = run('kernel', BITS, sizes);
    t.match(kernel.stderr, /: kernel tier \(eBPF\)$/m, `-v: in the kernel (stderr: ${kernel.stderr.trim()})`);
    const lines = kernel.stdout.split('\n');
    t.equal(lines.length, 15 * 14 + 1, 'every size, every case');
    for (const line of ['63 1 -4611686018427387904', '1 8 -9223372036854775808', '63 3 1', '64 11 -1', '2 12 -16', '200 4 0', '0 14 -1', '63 14 9223372036854775807']) {
      t.ok(lines.includes(line), line);
    }
    t.equal(run('user', BITS, sizes).stdout, kernel.stdout, 'user tier');
  });

  // Filters compiled into the programs: integer fields (signed and not), a char field and
  // the task's comm, common_pid and CPU, && || ! and parentheses; -C checked in the program.
  const FILTERS = `var n = 0
var w = 0
var s = 0
var g = 0
trace syscalls:sys_enter_write /fd == 2 && count == 1/ { n += 1 }
trace syscalls:sys_exit_write /ret == 1 || ret < 0/ { w += 1 }
trace sched:sched_process_exit /comm == "workload" || comm == "nothing"/ { s += 1 }
trace syscalls:sys_enter_getppid /common_pid != 0 && !(CPU < 0)/ { g += 1 }
trace_end { print(n, w, s, g) }
`;

  t.test('filters run in the kernel and count as the kernel filters do', async (t) => {
    const args = ['/bin/sh', '-c', `${workload} write 5 3; ${workload} getppid 1000`];
    const kernel = run('kernel', FILTERS, args, {}, true);
    const user = run('user', FILTERS, args, {}, true);
    t.equal(kernel.stdout, 'ooooo3\t8\t2\t1001\n', `kernel tier (stderr: ${kernel.stderr.trim()})`);
    t.equal(user.stdout, kernel.stdout, 'user tier');
    t.equal(kernel.stderr.split('\n').filter((line) => /: kernel tier \(eBPF\)$/.test(line)).length, 4, '-v: each filtered handler in the kernel');
  });

  t.test('a filter the kernel tier cannot compile keeps its handler in the tracefs path', async (t) => {
    const result = run('auto', 'var n = 0\ntrace sched:sched_process_exit /comm ~ "work*"/ { n += 1 }\ntrace_end { print(n) }', ['getppid', '1']);
    t.equal(result.stdout, '1\n');
    t.match(result.stderr, /sched:sched_process_exit \/comm ~ "work\*"\/: user tier \(line 2: 'comm ~ "work\*"' is matched by the kernel's filter\)/);
  });

  t.test('-C runs the program on one CPU only', { skip: cpus < 2 ? 'one CPU' : false }, async (t) => {
    const script = 'var c = {}\ntrace syscalls:sys_enter_getppid { c[execname] += 1 }\ntrace_end { print(c["workload"]) }';
    for (const cpu of [0, 1]) {
      const file = join(directory, 'cpu.kp');
      writeFileSync(file, script);
      const result = spawnSync(process.execPath, [ktap, '-q', '--tier', 'kernel', '-C', String(cpu), file, '--', 'taskset', '-c', '1', workload, 'getppid', '300'], { encoding: 'utf8', timeout: 60_000 });
      t.equal(result.stdout, cpu === 1 ? '300\n' : 'nil\n', `-C ${cpu}, the workload on CPU 1 (stderr: ${result.stderr.trim()})`);
    }
  });

  // The raw sys_enter path runs for exactly the system calls that have events: not for one
  // without (156, _sysctl), nor for numbers no system call has (400, 1000); named ones by
  // their numbers, an event named otherwise than its call (newuname: uname) and one newer
  // than the C headers may be (cachestat, 451) included.
  t.test('the raw system call path counts exactly the system calls of its events', async (t) => {
    const calls = `${workload} getppid 7; ${workload} syscall 156 3; ${workload} syscall 1000 4; ${workload} syscall 400 2; ${workload} syscall 451 5; uname > /dev/null`;
    const whole = 'var c = {}\ntrace syscalls:sys_enter_* { c[arg0] += 1 }\ntrace_end { print(c[110], c[156], c[1000], c[400], c[451]) }';
    const kernel = run('kernel', whole, ['/bin/sh', '-c', calls], {}, true);
    t.equal(kernel.stdout, '8\tnil\tnil\tnil\t5\n', `the whole glob in the kernel (stderr: ${kernel.stderr.trim()})`);
    t.equal(run('user', whole, ['/bin/sh', '-c', calls], {}, true).stdout, kernel.stdout, 'as tracefs records them');
    const named = 'var c = {}\ntrace syscalls:sys_enter_getppid, syscalls:sys_enter_newuname, syscalls:sys_enter_cachestat { c[arg0] += 1 }\ntrace_end { print(c[110], c[63], c[451], c[39]) }';
    const result = run('kernel', named, ['/bin/sh', '-c', calls], {}, true);
    t.equal(result.stdout, '8\t1\t5\tnil\n', 'named system calls');
    t.match(result.stderr, /ktap: syscalls:sys_enter_getppid, syscalls:sys_enter_newuname, syscalls:sys_enter_cachestat: on the raw sys_enter tracepoint: 3 system calls, compared by the program\n/, 'on the raw tracepoint');
    t.match(result.stderr, /attached syscalls:sys_enter_getppid, syscalls:sys_enter_newuname, syscalls:sys_enter_cachestat \(3 events\)/, 'its events counted as tracefs would');
    t.match(kernel.stderr, /ktap: syscalls:sys_enter_\*: on the raw sys_enter tracepoint: \d+ system calls, in a bitmap map\n/, 'the whole glob: a bitmap');
  });

  // argN beyond an event's fields is nil (sys_enter_write has four): such a handler stays
  // in user space, where `arg4 == nil` holds (in the kernel it read as 0).
  t.test('args.NAME: integer fields by name, on perf events and on the raw system call path', async (t) => {
    const script = 'var c = {}\nvar r = {}\nvar e = {}\ntrace syscalls:sys_enter_write { c[args.fd] += args.count }\ntrace syscalls:sys_exit_write { r[args.ret] += 1 }\n' +
      'trace syscalls:sys_enter_* { e[args.__syscall_nr] += 1 }\nvar f = {}\ntrace sched:sched_process_exec { f[args.filename] = 1 }\n' +
      'var z = {}\ntrace syscalls:sys_enter_write { z[arg4 == nil] += 1 }\ntrace_end { print(c[1], c[2], r[1], e[1], z[true]) }';
    const kernel = run('auto', script, ['write', '5', '3']);
    t.equal(kernel.stdout, 'ooooo5\t3\t8\t8\t8\n', `stderr: ${kernel.stderr.trim()}`);
    t.equal(kernel.stderr.split('\n').filter((line) => /: kernel tier \(eBPF\)$/.test(line)).length, 3, 'the integer fields in the kernel');
    t.match(kernel.stderr, /sched:sched_process_exec: user tier \(line 8: args\.filename of sched:sched_process_exec is not an integer: it runs in user space\)/);
    t.match(kernel.stderr, /syscalls:sys_enter_write: user tier \(line 10: arg4 of syscalls:sys_enter_write is nil: it runs in user space\)/);
    t.equal(run('user', script, ['write', '5', '3']).stdout, kernel.stdout, 'as in user space');
  });

  t.test('linear() buckets in the kernel, and its range errors, as in user space', async (t) => {
    const script = 'var h = {}\ntrace syscalls:sys_enter_read /fd == 42/ { h[linear(args.count, 2, 9, 3)] += 1 }\ntrace_end { print(h[1], h[2], h[5], h[8], h[9]) }';
    const sizes = ['read-sizes', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '100'];
    const kernel = run('kernel', script, sizes);
    t.equal(kernel.stdout, '2\t3\t3\t1\t3\n', `below min, three buckets, from max on (stderr: ${kernel.stderr.trim()})`);
    t.equal(run('user', script, sizes).stdout, kernel.stdout, 'as in user space');
    const bad = 'var h = {}\ntrace syscalls:sys_enter_getppid {\n  h[linear(tid, 9, 2, 3)] += 1\n}';
    t.match(run('kernel', bad, ['getppid', '3']).stdout, /^error: \S+\/script\.kp:3: linear max must be above min$/m);
  });

  t.test('auto: a handler that cannot go to the kernel says why, the rest go', async (t) => {
    const result = run('auto', 'var c = {}\nvar x = 0\ntrace syscalls:sys_enter_getppid { c[pid] += 1 }\ntrace syscalls:sys_enter_write {\n  x += 1\n  printf("")\n}\ntrace_end { for (k, v in pairs(c)) { print(v) } }', ['getppid', '10']);
    t.equal(result.stdout, '10\n');
    t.match(result.stderr, /syscalls:sys_enter_getppid: kernel tier/);
    t.match(result.stderr, /syscalls:sys_enter_write: user tier \(line 6: printf runs in user space\)/);
  });

  t.test('--tier kernel: a handler that cannot go there is an error naming its line', async (t) => {
    const result = run('kernel', 'trace syscalls:sys_enter_getppid {\n  print(pid)\n}', ['getppid', '1']);
    t.equal(result.status, 1);
    t.match(result.stderr, /^error: --tier kernel: .*script\.kp:2: print runs in user space/m);
  });

  t.test('without BPF (koffi refused) everything runs in user space, with one -v line', async (t) => {
    const result = run('auto', 'var c = {}\ntrace syscalls:sys_enter_getppid { c[pid] += 1 }\ntrace_end { for (k, v in pairs(c)) { print(v) } }', ['getppid', '50'], { KTAP_NO_BPF: '1' });
    t.equal(result.stdout, '50\n');
    t.equal(result.stderr.split('\n').filter((line) => /kernel tier unavailable/.test(line)).length, 1);
  });

  t.test('runtime errors counted in the kernel are reported as the VM reports them', async (t) => {
    for (const [body, message] of [
      ['c[pid] = 1 / (tid - tid)', 'divide 0 arith operation'],
      ['c[pid] = 1 % (tid - tid)', 'mod 0 arith operation'],
      ['c[pid] = tid & c[0]', 'attempt to perform bitwise operation on a nil value'],
    ]) {
      const script = `var c = {}\ntrace syscalls:sys_enter_getppid {\n  ${body}\n}\ntrace_end { print("not run after an error") }`;
      const kernel = run('kernel', script, ['getppid', '5']);
      t.match(kernel.stdout, new RegExp(`^error: \\S+/script\\.kp:3: ${message}$`, 'm'), `${message}: where, as the VM says it`);
      const user = run('user', script, ['getppid', '5']);
      t.equal(kernel.stdout, user.stdout, `${message}: the same report in both tiers`);
      t.equal(kernel.status, user.status, `${message}: the same exit status`);
    }
  });

  // --max-table-entries sizes the maps: a table that fills its map is a table overflow, as
  // the user tier's is when its entries reach the budget (here the only table with entries).
  t.test('a full map in the kernel is a table overflow, as in user space', async (t) => {
    const file = join(directory, 'full.kp');
    writeFileSync(file, 'var c = {}\ntrace syscalls:sys_enter_getppid {\n  c[gettimeofday_ns()] += 1\n}\ntrace_end { print("not run after an error") }\n');
    const results = ['kernel', 'user'].map((tier) => spawnSync(process.execPath, [ktap, '-q', '-v', '--max-table-entries', '5', '--tier', tier, file, '--', workload, 'getppid', '20'], { encoding: 'utf8', timeout: 60_000 }));
    t.equal(results[0]!.stdout, `error: ${file}:3: table overflow (--max-table-entries 5)\n`, `kernel tier (stderr: ${results[0]!.stderr.trim()})`);
    t.match(results[0]!.stderr, /kernel tier \(eBPF\)/);
    t.equal(results[1]!.stdout, results[0]!.stdout, 'user tier');
    t.equal(results[0]!.status, results[1]!.status, 'the same exit status');
  });

  t.test('after SIGKILL no program of ours stays loaded', async (t) => {
    const file = join(directory, 'forever.kp');
    writeFileSync(file, 'var c = {}\ntrace syscalls:sys_enter_* { c[execname] += 1 }\n');
    const child = spawn(process.execPath, [ktap, '-v', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      let text = '';
      child.stdout.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        if (text.includes('Tracing...')) resolve();
      });
      child.on('exit', () => reject(new Error('ktap ended early')));
    });
    // The programs it holds, by id, from its file descriptors.
    const ids: number[] = []; // a program's link names it too: each id once
    for (const fd of readdirSync(`/proc/${child.pid}/fdinfo`)) {
      const match = /^prog_id:\s*(\d+)$/m.exec(readFileSync(`/proc/${child.pid}/fdinfo/${fd}`, 'utf8'));
      if (match !== null && !ids.includes(Number(match[1]))) ids.push(Number(match[1]));
    }
    const loaded = (): number[] => {
      const programs = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' })) as Array<{ id: number }>;
      return programs.map((program) => program.id).filter((id) => ids.includes(id));
    };
    t.ok(ids.length > 0 && loaded().length === ids.length, 'its programs are loaded while it runs');
    child.kill('SIGKILL');
    await new Promise((resolve) => child.on('exit', resolve));
    // The kernel frees them once their last reference is gone (after an RCU grace period).
    for (let wait = 0; wait < 50 && loaded().length > 0; wait++) await new Promise((resolve) => setTimeout(resolve, 100));
    t.same(loaded(), [], 'none is left once it is killed');
  });

  t.test('REPL: a kernel-tier handler attaches live, counts, shows its tier, detaches', async (t) => {
    const home = mkdtempSync(join(directory, 'home-'));
    const piped = new PipedKtap(['-v'], home);
    t.teardown(() => piped.close());
    const calls = Workload.for(t, buildWorkload(directory));
    piped.line('var c = {}');
    await piped.ask('trace syscalls:sys_enter_getppid { c[pid] += 1 }', /^\[1\] trace syscalls:sys_enter_getppid \(1 event\)$/m);
    t.match(piped.stderr, /syscalls:sys_enter_getppid: kernel tier \(eBPF\)/);
    await piped.ask('.probes', /^1 +trace syscalls:sys_enter_getppid +\d+ +\d+\.\d +kernel$/m);
    await calls.calls(500);
    t.equal(await valueBecomes(piped, `c[${calls.pid}]`, 500), 500, 'the table reads the map');
    await piped.ask('.detach 1', /^\[1\] detached$/m);
    await calls.calls(100);
    t.equal(await valueBecomes(piped, `c[${calls.pid}]`, 500), 500, 'nothing counts once detached');
    piped.line('.exit');
    t.equal(await piped.exited, 0);
  });
}
