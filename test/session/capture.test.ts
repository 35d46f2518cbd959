// Capture at the event through the real ktap: user_string of a short-lived process's filename
// (with and without a /filter/), join(args.argv) of short-lived processes' execve,
// profile-999hz above HZ with stacks of the sampled code, -v saying what BPF captures, and
// the fallback (KTAP_NO_BPF) saying why it does not.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bpfUnavailable } from '../bpf/support';
import { ktap, root, tracingUnavailable } from '../support/tracing';
import { compile, scratchDirectory, WORKLOAD_C } from '../support/workloads';

const reason = tracingUnavailable() ?? bpfUnavailable();
t.test('capture at the event', { skip: reason }, async (t) => {
  const directory = scratchDirectory(t, 'capture-cli');
  const workload = compile(directory, WORKLOAD_C, 'workload', ['-fno-omit-frame-pointer']);
  const run = (args: string[], env: NodeJS.ProcessEnv = process.env) =>
    spawnSync(process.execPath, [ktap, ...args], { cwd: root, encoding: 'latin1', env, timeout: 120_000 });

  t.test('user_string(filename) of 20 cat runs that exit at once', async (t) => {
    const files = Array.from({ length: 20 }, (_, index) => join(directory, `file-${index}`));
    for (const file of files) writeFileSync(file, 'x');
    const script = `trace syscalls:sys_enter_openat { if (execname == "cat") { print(user_string(arg2)) } }`;
    const result = run(['-v', '-e', script, '--', 'sh', '-c', files.map((file) => `cat ${file} >/dev/null`).join('; ')]);
    t.equal(result.status, 0, result.stderr);
    const printed = new Set(result.stdout.split('\n'));
    t.same(files.filter((file) => !printed.has(file)), [], 'every file name, copied while its cat ran');
    t.match(result.stderr, /captured at the event by BPF: syscalls:sys_enter_openat/, '-v says what BPF captures');
  });

  t.test('user_string(args.filename): the field by name is captured the same way', async (t) => {
    const files = Array.from({ length: 10 }, (_, index) => join(directory, `named-${index}`));
    for (const file of files) writeFileSync(file, 'x');
    const script = `trace syscalls:sys_enter_openat { if (execname == "cat") { print(user_string(args.filename)) } }`;
    const result = run(['-v', '-e', script, '--', 'sh', '-c', files.map((file) => `cat ${file} >/dev/null`).join('; ')]);
    t.equal(result.status, 0, result.stderr);
    const printed = new Set(result.stdout.split('\n'));
    t.same(files.filter((file) => !printed.has(file)), [], 'every file name, copied while its cat ran');
    t.match(result.stderr, /captured at the event by BPF: syscalls:sys_enter_openat/);
  });

  t.test('a /filter/ is compiled into the capture program: all 20 names', async (t) => {
    const files = Array.from({ length: 20 }, (_, index) => join(directory, `filtered-${index}`));
    for (const file of files) writeFileSync(file, 'x');
    const workload = ['--', 'sh', '-c', files.map((file) => `cat ${file} >/dev/null`).join('; ')];
    const result = run(['-v', '-e', 'trace syscalls:sys_enter_openat /comm == "cat"/ { print(user_string(args.filename)) }', ...workload]);
    t.equal(result.status, 0, result.stderr);
    const printed = new Set(result.stdout.split('\n'));
    t.same(files.filter((file) => !printed.has(file)), [], 'every file name, copied while its cat ran');
    t.match(result.stderr, /captured at the event by BPF: syscalls:sys_enter_openat/);
    // A filter the program cannot compile stays the instance's, and -v says why.
    const kept = run(['-v', '-e', 'trace syscalls:sys_enter_openat /comm ~ "ca*"/ { print(user_string(args.filename)) }', ...workload]);
    t.equal(kept.status, 0, kept.stderr);
    t.match(kept.stderr, /ktap: syscalls:sys_enter_openat not captured at the event \('comm ~ "ca\*"' is matched by the kernel's filter\): user_string and join read process memory/);
  });

  t.test('join(args.argv) of 20 processes that exit at once', async (t) => {
    const runs = Array.from({ length: 20 }, (_, index) => ['/bin/true', `argv-${index}`, `two words ${index}`, '']);
    const script = `trace syscalls:sys_enter_execve { print(join(args.argv, "|")) }`;
    const result = run(['-v', '-e', script, '--', 'sh', '-c', runs.map((argv) => argv.map((arg) => `'${arg}'`).join(' ')).join('; ')]);
    t.equal(result.status, 0, result.stderr);
    const printed = new Set(result.stdout.split('\n'));
    t.same(runs.map((argv) => argv.join('|')).filter((line) => !printed.has(line)), [], 'every argv, copied at the execve');
    t.match(result.stderr, /captured at the event by BPF: syscalls:sys_enter_execve/);
  });

  t.test('profile-999hz: above HZ, ustack() in the sampled code', async (t) => {
    const script = `var n = 0 var stacks = {}
profile-999hz { n += 1 stacks[ustack(1)] += 1 }
trace_end { printf("samples %d\\n", n) for (k, v in pairs(stacks)) { printf("%s|%d\\n", k, v) } }`;
    // GNU time says how much CPU the spin really had on this (possibly busy) machine.
    const result = run(['-e', script, '--', '/usr/bin/time', '-f', 'cpu %U %S', workload, 'spin', '1500']);
    t.equal(result.status, 0, result.stderr);
    const samples = Number(/samples (\d+)/.exec(result.stdout)?.[1]);
    const [, user, system] = /cpu ([\d.]+) ([\d.]+)/.exec(result.stderr) ?? [];
    const rate = samples / (Number(user) + Number(system));
    t.ok(rate > 500, `${samples} samples in ${user}+${system} s of CPU: ${rate.toFixed(0)} Hz, above HZ=250`);
    // ustack(1) is the innermost frame and a newline: `spin_hot+0x1a (/tmp/…/workload)\n`.
    const inSpin = [...result.stdout.matchAll(/^([^\n|]*)\n\|(\d+)$/gm)].filter((match) => match[1]!.startsWith('spin_hot+')).reduce((sum, match) => sum + Number(match[2]), 0);
    t.ok(inSpin > samples / 2, `${inSpin} of ${samples} user stacks start in spin_hot`);
  });

  t.test('without BPF: the tracefs path, and -v says why', async (t) => {
    const result = run(['-v', '-e', 'var n = 0 profile-10ms { n += 1 } trace_end { print(n > 0) }', '--', workload, 'spin', '300'], { ...process.env, KTAP_NO_BPF: '1' });
    t.equal(result.status, 0, result.stderr);
    t.match(result.stdout, /true/);
    t.match(result.stderr, /BPF capture unavailable \(koffi not loadable: KTAP_NO_BPF is set\)/);
  });
});
