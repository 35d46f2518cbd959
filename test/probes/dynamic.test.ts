// Dynamic probes: definition strings (pure), and against the real kernel uprobes on a test
// program's functions and on libc, an SDT marker with its semaphore, and no probe left behind.

import t from 'tap';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sdtFetchArg } from '../../src/probes/dynamic';
import { defaultFetchArgs, definitionLine, eventName, uprobePlace } from '../../src/probes/uprobe';
import { skipFile } from '../support/skip';
import { ktap, tracingUnavailable, uprobesUnavailable } from '../support/tracing';
import { compile, scratchDirectory } from '../support/workloads';


t.test('definition lines', async (t) => {
  t.equal(definitionLine('ktap_1', { event: 'malloc', isReturn: false, place: uprobePlace('/lib/libc.so.6', 0x9a0e0n), fetchArgs: 'size=%di' }),
    'p:ktap_1/malloc /lib/libc.so.6:0x9a0e0 size=%di');
  t.equal(definitionLine('ktap_1', { event: 'ret_f', isReturn: true, place: uprobePlace('/bin/x', 16n), fetchArgs: '' }),
    'r:ktap_1/ret_f /bin/x:0x10');
  t.equal(uprobePlace('/bin/x', 0x1149n, 0x4010n), '/bin/x:0x1149(0x4010)', 'an SDT semaphore is the reference counter');
  t.equal(definitionLine('ktap_7', { event: 'vfs_read', isReturn: false, place: 'vfs_read', fetchArgs: 'count=%dx' }),
    'p:ktap_7/vfs_read vfs_read count=%dx', 'a kprobe');
  t.equal(eventName('foo.bar@plt'), 'foo_bar_plt');
  t.equal(eventName('9lives'), '_9lives');
  if (process.arch === 'x64') {
    t.equal(defaultFetchArgs(false, new Set()), 'arg1=%di arg2=%si arg3=%dx arg4=%cx arg5=%r8 arg6=%r9');
    t.equal(defaultFetchArgs(false, new Set([2])), 'arg1=%di arg2=+0(%si):ustring arg3=%dx arg4=%cx arg5=%r8 arg6=%r9');
    t.equal(defaultFetchArgs(true, new Set()), 'arg2=$retval');
  }
  t.equal(sdtFetchArg({ size: 4, signed: true, float: false, spec: '%edi' }, 1), 'arg1=%di:s32');
  t.equal(sdtFetchArg({ size: 8, signed: false, float: false, spec: '-16(%rbp)' }, 2), 'arg2=-16(%bp):u64');
  t.equal(sdtFetchArg({ size: 8, signed: false, float: false, spec: '%rsi' }, 2, true), 'arg2=+0(%si):ustring');
  t.equal(sdtFetchArg({ size: 4, signed: true, float: false, spec: '$5' }, 3), 'arg3=\\5:s32');
  t.equal(sdtFetchArg({ size: 8, signed: false, float: true, spec: '%xmm0' }, 1), '', 'floating point cannot be fetched');
});

const reason = tracingUnavailable() ?? uprobesUnavailable();
if (reason !== undefined) {
  skipFile('uprobes unavailable', reason);
} else {
  const directory = scratchDirectory(t, 'dynamic');
  const target = compile(directory, join(__dirname, 'dynamic-target.c'), 'dynamic-target');

  const run = (script: string, ...command: string[]): { stdout: string; stderr: string; status: number | null; pid: number } => {
    const result = spawnSync(process.execPath, [ktap, '-q', '-e', script, '--', ...command], { encoding: 'utf8' });
    return { stdout: result.stdout, stderr: result.stderr, status: result.status, pid: result.pid ?? 0 };
  };
  const leftover = (pid: number): string[] =>
    readFileSync('/sys/kernel/tracing/uprobe_events', 'latin1').split('\n').filter((line) => line.includes(`ktap_${pid}`));

  t.test('uprobes count calls exactly and read arguments, strings and return values', async (t) => {
    const result = run(
      'var n = 0 var last = 0 var total = 0 ' +
      `trace probe:${target}:scale { n += 1 last = arg1 } ` +
      `trace probe:${target}:scale%return { total += arg2 } ` +
      `trace probe:${target}:greet { print(probename, user_string(arg1)) } ` +
      'trace_end { print(n, last, total) }',
      target, 'calls', '1000');
    t.equal(result.status, 0, result.stderr);
    t.equal(result.stdout, 'greet\tworld\n1000\t999\t1498500\n', 'count, arg1, the sum of return values, a string read in the kernel');
    t.same(leftover(result.pid), [], 'uprobe definitions removed');
  });

  t.test('user_string(args.arg1) is fetched as a string by the kernel, as user_string(arg1) is', async (t) => {
    const result = run(`trace probe:${target}:greet { print(user_string(args.arg1), args.arg1) }`, target, 'calls', '3');
    t.equal(result.status, 0, result.stderr);
    t.equal(result.stdout, 'world\tworld\n', 'the field itself is the fetched string (not a pointer)');
  });

  t.test('a glob over a shared library: libc malloc from a test program', async (t) => {
    const result = run('var n = 0 trace probe:/lib/x86_64-linux-gnu/libc.so.6:mallo[c] { n += 1 } trace_end { print(n >= 5000) }',
      target, 'malloc', '5000');
    t.equal(result.stdout, 'true\n', result.stderr);
  });

  t.test('an SDT marker fires with its arguments; its semaphore is set only while traced', async (t) => {
    const traced = run(`var n = 0 var text = "" trace sdt:${target}:ktaptest:tick { n += 1 text = user_string(arg2) } trace_end { print(n, text) }`,
      target, 'marker', '200');
    t.equal(traced.stdout, 'semaphore set 200 times\n200\tmarker\n', traced.stderr);
    t.equal(execFileSync(target, ['marker', '10'], { encoding: 'utf8' }), 'semaphore set 0 times\n', 'untraced: the semaphore stays 0');
    t.same(leftover(traced.pid), []);
  });

  t.test('a stripped binary is probed through the symbols of its debug-link file', async (t) => {
    const stripped = join(directory, 'stripped-target');
    execFileSync('cp', [target, stripped]);
    execFileSync('objcopy', ['--only-keep-debug', stripped, `${stripped}.debug`]);
    execFileSync('strip', ['--strip-all', stripped]);
    execFileSync('objcopy', [`--add-gnu-debuglink=${stripped}.debug`, stripped], { cwd: directory });
    const result = run(`var n = 0 trace probe:${stripped}:scale { n += 1 } trace_end { print(n) }`, stripped, 'calls', '25');
    t.equal(result.stdout, '25\n', result.stderr);
  });

  t.test('uprobes are removed after Ctrl-C, and after SIGKILL by the next run', async (t) => {
    const start = (): { child: ReturnType<typeof spawn>; attached: Promise<void> } => {
      // The user tier: it defines the uprobe in uprobe_events (the kernel tier writes nothing there).
      const child = spawn(process.execPath, [ktap, '--tier', 'user', '-e', `trace probe:${target}:scale { }`], { stdio: ['ignore', 'pipe', 'pipe'] });
      const attached = new Promise<void>((resolve) => child.stdout!.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('Tracing...')) resolve();
      }));
      return { child, attached };
    };
    const exited = (child: ReturnType<typeof spawn>): Promise<void> => new Promise((resolve) => child.on('exit', () => resolve()));
    const interrupted = start();
    await interrupted.attached;
    t.equal(leftover(interrupted.child.pid!).length, 1, 'defined while running');
    interrupted.child.kill('SIGINT');
    await exited(interrupted.child);
    t.same(leftover(interrupted.child.pid!), [], 'removed after Ctrl-C');
    const killed = start();
    await killed.attached;
    killed.child.kill('SIGKILL');
    await exited(killed.child);
    t.equal(leftover(killed.child.pid!).length, 1, 'a killed run leaves its definition');
    run('var n = 0 trace syscalls:sys_enter_getppid { n += 1 }', 'true');
    t.same(leftover(killed.child.pid!), [], 'the next run removed it');
  });

  t.test('errors name what is missing', async (t) => {
    const symbol = run(`trace probe:${target}:no_such_function { }`, 'true');
    t.equal(symbol.status, 1);
    t.equal(symbol.stderr, `error: cannot find symbol 'no_such_function' in binary '${target}'\n`);
    const marker = run(`trace sdt:${target}:nope { }`, 'true');
    t.equal(marker.stderr, `error: cannot find SDT marker 'nope' in binary '${target}'\n`);
    const notElf = run('trace probe:/etc/passwd:main { }', 'true');
    t.equal(notElf.status, 1);
    t.match(notElf.stderr, /^error: not an ELF file/);
  });
}
