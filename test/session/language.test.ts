// The language's event forms against the real kernel (docs/language.md): args.NAME of
// syscall events from a workload we control, print_log2 of its read sizes, -lv, and the
// error for a field no event has.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile, scratchDirectory, WORKLOAD_C } from '../support/workloads';

const root = join(__dirname, '..', '..');
const ktap = join(root, 'bin', 'ktap');

function ktapRun(args: string[]): { stdout: string; stderr: string; status: number | null } {
  const result = spawnSync(process.execPath, [ktap, ...args], { cwd: root, encoding: 'latin1', timeout: 120_000 });
  return { stdout: result.stdout, stderr: result.stderr, status: result.status };
}

function unavailableReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'not running as root';
  const probe = ktapRun(['-le', 'syscalls:sys_enter_read']);
  if (probe.status !== 0 || probe.stdout.trim() !== 'syscalls:sys_enter_read') return probe.stderr.trim() || 'no syscalls:sys_enter_read event';
  return undefined;
}

/** The bucket print_log2 files a size under, computed here independently of ktap. */
function bucketLabel(size: number): string {
  if (size === 0) return '[0]';
  if (size === 1) return '[1]';
  const low = 2 ** Math.floor(Math.log2(size));
  const short = (value: number): string => (value >= 1024 && value % 1024 === 0 ? `${value / 1024}K` : String(value));
  return `[${short(low)}, ${short(low * 2)})`;
}

const reason = unavailableReason();
if (reason !== undefined) {
  t.test('the language on the real kernel', { skip: `tracefs syscall events unavailable: ${reason}` }, async () => {});
} else {
  const directory = scratchDirectory(t, 'language');
  const workload = compile(directory, WORKLOAD_C, 'workload');

  t.test('args.filename of openat: the files the workload opened', async (t) => {
    const files = ['alpha.txt', 'beta.txt', 'gamma.txt'].map((name) => join(directory, name));
    for (const file of files) writeFileSync(file, 'x');
    const result = ktapRun(['-q', '-e',
      'trace syscalls:sys_enter_openat { if (execname == "workload") { printf("%s %d\\n", user_string(args.filename), args.flags) } }',
      '--', workload, 'open', '500', ...files]);
    t.equal(result.status, 0, result.stderr);
    const opened = result.stdout.split('\n').filter((line) => line.startsWith(directory));
    t.same(opened, files.map((file) => `${file} 0`), 'each file by name, with its flags (O_RDONLY)');
  });

  const sizes = [1, 3, 100, 700, 4096, 5000, 5000, 70000, 0];
  const readArgs = ['--', workload, 'read-sizes', ...sizes.map(String)];

  t.test('args.count of read equals the sizes the workload read; args.ret on exit', async (t) => {
    const result = ktapRun(['-q', '-e',
      'trace syscalls:sys_enter_read /fd == 42/ { printf("count %d fd %d\\n", args.count, args.fd) } ' +
      'trace syscalls:sys_exit_read { if (execname == "workload" && args.ret > 0) { printf("ret %d\\n", args.ret) } }', ...readArgs]);
    t.equal(result.status, 0, result.stderr);
    const lines = result.stdout.split('\n');
    t.same(lines.filter((line) => line.startsWith('count')), sizes.map((size) => `count ${size} fd 42`));
    const returned = lines.filter((line) => line.startsWith('ret')).map((line) => Number(line.slice(4)));
    for (const size of sizes.filter((size) => size > 0)) t.ok(returned.includes(size), `a read returned ${size}`);
  });

  t.test('print_log2 of the read sizes matches the workload\'s own histogram', async (t) => {
    const result = ktapRun(['-q', '-e',
      'var h = {} trace syscalls:sys_enter_read /fd == 42/ { h[log2(args.count)] += 1 } trace_end { print_log2(h) }', ...readArgs]);
    t.equal(result.status, 0, result.stderr);
    const printed = new Map(result.stdout.trim().split('\n').map((line) => {
      const match = /^(\S.*?)\s+(\d+) \|/.exec(line);
      return [match?.[1] ?? line, Number(match?.[2])] as const;
    }));
    const expected = new Map<string, number>();
    for (const size of sizes) expected.set(bucketLabel(size), (expected.get(bucketLabel(size)) ?? 0) + 1);
    for (const [label, count] of expected) t.equal(printed.get(label), count, `bucket ${label}`);
    const total = [...printed.values()].reduce((sum, count) => sum + count, 0);
    t.equal(total, sizes.length, 'every other bucket printed is an empty one');
    t.match(result.stdout, /^\[0\] +1 \|/, 'from the lowest bucket');
    t.match(result.stdout, /\[64K, 128K\) +1 \|@+\s*\|\n$/, 'to the highest');
  });

  t.test('uprobes: args.arg1 without fetch arguments, a named one, and args.retval on %return', async (t) => {
    const result = ktapRun(['-q', '-e',
      `var seen = {} trace probe:${workload}:spin_hot { seen["arg1", args.arg1] += 1 } ` +
      `trace probe:${workload}:spin_hot n=%di { seen["named", args.n] += 1 } ` +
      `trace probe:${workload}:spin_hot%return { seen["retval", args.retval] += 1 } ` +
      'trace_end { for (k in pairs(seen)) { print(k[1], k[2]) } }', '--', workload, 'spin', '30']);
    t.equal(result.status, 0, result.stderr);
    // spin_hot(100000) returns the sum 0 + 1 + … + 99999.
    t.same(result.stdout.trim().split('\n').sort(), ['arg1\t100000', 'named\t100000', 'retval\t4999950000']);
  });

  t.test('-T with --json: each object of a handler run carries the event time', async (t) => {
    const result = ktapRun(['-q', '-T', '--json', '-e', 'trace syscalls:sys_enter_getppid { if (execname == "workload") { print(args.__syscall_nr > 0) } }',
      '--', workload, 'getppid', '2']);
    t.equal(result.status, 0, result.stderr);
    const lines = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as { type: string; time: string; time_ns: number; values: unknown[] });
    t.equal(lines.length, 2);
    for (const line of lines) {
      t.equal(line.type, 'print');
      t.same(line.values, [true]);
      t.match(line.time, /^\d+\.\d{6}$/);
      t.equal(line.time, `${Math.floor(line.time_ns / 1e9)}.${String(Math.floor(line.time_ns / 1000) % 1_000_000).padStart(6, '0')}`, 'time is time_ns in seconds.microseconds');
    }
    t.ok(lines[1]!.time_ns >= lines[0]!.time_ns, 'in time order');
  });

  t.test('-lv lists the fields of syscalls:sys_enter_read', async (t) => {
    const result = ktapRun(['-lv', 'syscalls:sys_enter_read']);
    t.equal(result.status, 0);
    const lines = result.stdout.trim().split('\n');
    t.equal(lines[0], 'syscalls:sys_enter_read');
    t.match(lines[1], /^ +arg0 +int __syscall_nr +args\.__syscall_nr$/);
    t.match(lines[2], /^ +arg1 +unsigned int fd +args\.fd$/);
    t.match(lines[3], /^ +arg2 +char \* buf +args\.buf$/);
    t.match(lines[4], /^ +arg3 +size_t count +args\.count$/);
  });

  t.test('a field no matched event has: an error naming it and the real fields', async (t) => {
    const result = ktapRun(['-q', '-e', 'trace syscalls:sys_enter_read { print(args.cnt) }']);
    t.equal(result.status, 1);
    t.equal(result.stdout, '');
    t.equal(result.stderr, "error: args.cnt in 'syscalls:sys_enter_read': syscalls:sys_enter_read has no field 'cnt'; the fields are: __syscall_nr, fd, buf, count\n");
    const some = ktapRun(['-q', '-e',
      'var n = {} trace syscalls:sys_enter_read, syscalls:sys_exit_read /common_pid == 1/ { n[args.count == nil] += 1 } tick-200ms { exit() }']);
    t.equal(some.status, 0, 'a field only some of the events have is fine (nil for the others)');
  });
}
