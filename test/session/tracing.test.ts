// The tracing engine against the real kernel: exact counts from a workload we control,
// kernel filters, -p and -- cmd, every way of ending, lost events, and nothing left behind.

import t from 'tap';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { guardianOf, ktap, leftovers, root, tracingUnavailable } from '../support/tracing';
import { skipFile } from '../support/skip';
import { compile, scratchDirectory, WORKLOAD_C } from '../support/workloads';

const reason = tracingUnavailable();
if (reason !== undefined) {
  skipFile('tracefs unavailable', reason);
} else {
  const directory = scratchDirectory(t, 'tracing');
  const workload = compile(directory, WORKLOAD_C, 'workload');

  interface Run {
    child: ChildProcess;
    stdout: string;
    stderr: string;
    /** Resolves when the banner has been printed (everything attached). */
    attached: Promise<void>;
    exited: Promise<number | null>;
  }

  function start(args: string[], options: { stdin?: 'pipe' } = {}): Run {
    const child = spawn(process.execPath, [ktap, ...args], { cwd: root, stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'] });
    const run: Run = { child, stdout: '', stderr: '', attached: Promise.resolve(), exited: Promise.resolve(null) };
    run.attached = new Promise((resolve) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        run.stdout += chunk.toString('latin1');
        if (run.stdout.includes('Tracing... Hit Ctrl-C to end.')) resolve();
      });
    });
    child.stderr!.on('data', (chunk: Buffer) => (run.stderr += chunk.toString('latin1')));
    run.exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
    return run;
  }

  async function finished(args: string[]): Promise<{ stdout: string; stderr: string; code: number | null; pid: number | undefined }> {
    const run = start(args);
    const code = await run.exited;
    return { stdout: run.stdout, stderr: run.stderr, code, pid: run.child.pid };
  }

  const count = 'var n = 0 trace syscalls:sys_enter_getppid { n += 1 } trace_end { print(n) }';

  t.test('-- cmd: the count equals the calls the workload made', async (t) => {
    const result = await finished(['-q', '-e', count, '--', workload, 'getppid', '5000']);
    t.equal(result.stdout, '5000\n');
    t.equal(result.stderr, '');
    t.equal(result.code, 0);
    t.same(leftovers(result.pid), [], 'instance removed after a normal end');
  });

  t.test('a kernel filter passes exactly the matching calls', async (t) => {
    const output = join(directory, 'filter.out');
    const result = await finished(['-q', '-o', output, '-e',
      'var n = 0 trace syscalls:sys_enter_write /fd == 2/ { n += 1 } trace_end { print(n) }', '--', workload, 'write', '300', '700']);
    t.equal(result.code, 0);
    t.equal(readFileSync(output, 'latin1'), '700\n');
  });

  t.test('arguments, execname and pid of the events', async (t) => {
    const result = await finished(['-q', '-e',
      'var seen = {} trace syscalls:sys_enter_write /fd == 2/ { seen[execname .. " " .. arg1 .. " " .. arg3] += 1 } ' +
      'trace syscalls:sys_exit_write /ret == 1/ { seen["ret " .. arg1] += 1 } ' +
      'trace_end { for (k, v in pairs(seen)) { print(k, v) } }', '--', workload, 'write', '0', '4']);
    t.equal(result.code, 0);
    t.match(result.stdout, /^workload 2 1\t4$/m, 'arg1 is fd, arg3 is count');
    t.match(result.stdout, /^ret 1\t4$/m, 'exit events carry the return value');
  });

  t.test('-C traces only that CPU; -T prefixes output with the event time', async (t) => {
    const pinned = ['--', 'taskset', '-c', '1', workload, 'getppid', '300'];
    const other = await finished(['-q', '-C', '0', '-e', count, ...pinned]);
    t.equal(other.stdout, '0\n', 'nothing from CPU 1 when tracing CPU 0');
    const same = await finished(['-q', '-C', '1', '-e', count, ...pinned]);
    t.equal(same.stdout, '300\n');
    const stamped = await finished(['-q', '-T', '-e', 'trace syscalls:sys_enter_getppid { print(cpu) }', '--', workload, 'getppid', '2']);
    t.match(stamped.stdout, /^ *\d+\.\d{6} \d+\n *\d+\.\d{6} \d+\n$/);
  });

  t.test('-p traces only that process', async (t) => {
    const target = spawn(workload, ['wait-getppid', '3000'], { stdio: ['pipe', 'ignore', 'ignore'] });
    const run = start(['-p', String(target.pid), '-e', count]);
    await run.attached;
    execFileSync(workload, ['getppid', '2000']);
    target.stdin!.end('go\n');
    await new Promise((resolve) => target.on('exit', resolve));
    await new Promise((resolve) => setTimeout(resolve, 100));
    run.child.kill('SIGINT');
    t.equal(await run.exited, 0);
    t.equal(run.stdout, 'Tracing... Hit Ctrl-C to end.\n\n3000\n', 'banner, the SIGINT newline, then trace_end');
    t.same(leftovers(run.child.pid), [], 'instance removed after Ctrl-C');
  });

  t.test('SIGTERM runs trace_end and removes the instance', async (t) => {
    const run = start(['-e', 'trace sched:sched_switch { } trace_end { print("end") }']);
    await run.attached;
    run.child.kill('SIGTERM');
    t.equal(await run.exited, 0);
    t.equal(run.stdout, 'Tracing... Hit Ctrl-C to end.\nend\n');
    t.same(leftovers(run.child.pid), []);
  });

  t.test('exit() in a handler ends the run and trace_end still runs', async (t) => {
    const result = await finished(['-q', '-e',
      'trace syscalls:sys_enter_getppid { exit() } trace_end { print("end") }', '--', workload, 'getppid', '10']);
    t.equal(result.stdout, 'end\n');
    t.equal(result.code, 0);
    t.same(leftovers(result.pid), []);
  });

  t.test('a runtime error in a handler ends the run without trace_end', async (t) => {
    const result = await finished(['-q', '-e',
      'trace syscalls:sys_enter_getppid { var x = 1 / 0 } trace_end { print("end") }', '--', workload, 'getppid', '10']);
    t.equal(result.stdout, 'error: (command line):1: divide 0 arith operation\n');
    t.equal(result.code, 0);
    t.same(leftovers(result.pid), [], 'instance removed after a runtime error');
  });

  t.test('a run killed with its guardian is cleaned up by the next run, even one that traces nothing', async (t) => {
    // The tracefs path (a kernel-tier handler leaves nothing to clean up: its fds go with it).
    const run = start(['--tier', 'user', '-e', 'trace sched:sched_switch { }']);
    await run.attached;
    const guardian = guardianOf(run.child.pid!);
    t.ok(guardian !== undefined, 'the run has a guardian');
    if (guardian !== undefined) process.kill(guardian, 'SIGKILL');
    run.child.kill('SIGKILL');
    await run.exited;
    t.equal(leftovers(run.child.pid).length, 1, 'the killed run left its instance');
    const next = await finished(['-e', 'print(1)']);
    t.equal(next.stdout, '1\n');
    t.same(leftovers(run.child.pid), [], 'the next run removed it');
  });

  t.test('a slow handler under an event storm reports lost events', async (t) => {
    const result = await finished(['-q', '--buffer-kb', '16', '-e',
      'var n = 0 trace syscalls:sys_enter_getppid { for (i = 1, 300) { } n += 1 } trace_end { print(n) }',
      '--max-event-instructions', '0', '--', workload, 'getppid', '300000']);
    t.equal(result.code, 0);
    const delivered = Number(result.stdout.trim());
    const lost = Number(/ktap: (\d+) events lost/.exec(result.stderr)?.[1] ?? 0);
    t.ok(lost > 0, `lost events are reported (${result.stderr.trim()})`);
    t.ok(delivered < 300000, `fewer than all were delivered (${delivered})`);
  });

  t.test('errors outside the VM: exit status 1 and one line', async (t) => {
    const unknown = await finished(['-e', 'trace sched:sched_swich { }']);
    t.equal(unknown.code, 1);
    t.equal(unknown.stderr, "error: unknown event 'sched:sched_swich'; did you mean 'sched:sched_switch'?\n");
    const filter = await finished(['-e', 'trace syscalls:sys_enter_write /nosuchfield == 1/ { }']);
    t.equal(filter.code, 1);
    t.match(filter.stderr, /^error: kernel rejected filter 'nosuchfield == 1' for syscalls:sys_enter_write: .+\n$/);
    t.same(leftovers(filter.pid), [], 'nothing left after a refused filter');
  });

  t.test('-d resolves without attaching; -v lists what would be attached', async (t) => {
    const run = start(['-d', '-v', '-e', 'trace sched:sched_switch, sched:sched_wakeup /common_pid == 1/ { }']);
    await run.attached;
    t.same(leftovers(run.child.pid), [], 'no instance in a dry run');
    run.child.kill('SIGINT');
    await run.exited;
    t.match(run.stderr, /would attach sched:sched_switch, sched:sched_wakeup \/common_pid == 1\/: sched:sched_switch sched:sched_wakeup with filter 'common_pid == 1'/);
  });

  t.test('not root: one clear line and exit status 1', async (t) => {
    // Without tap's loaders (NODE_OPTIONS, re-added to every spawn it sees): they would try
    // to write tap's files as nobody.
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== 'NODE_OPTIONS' && !/^_?TAP/.test(name)));
    const result = spawnSync('env', ['-u', 'NODE_OPTIONS', 'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups',
      process.execPath, ktap, '-e', 'trace sched:sched_switch { }'], { cwd: '/', encoding: 'utf8', env });
    if (result.error !== undefined || (/cannot|denied/i.test(result.stderr) && !/tracing needs root/.test(result.stderr))) {
      t.pass('as nobody', { skip: `cannot run ktap as nobody here: ${result.error?.message ?? result.stderr.trim()}` });
      return;
    }
    t.equal(result.status, 1);
    t.equal(result.stderr, 'error: tracing needs root (or CAP_SYS_ADMIN/CAP_PERFMON with access to tracefs); run ktap as root\n');
  });

  t.test('stack() and ustack(): symbolized stacks recorded with the events; print_folded', async (t) => {
    const kernel = await finished(['-q', '-e',
      'var s = {} trace syscalls:sys_enter_getppid { s[stack()] += 1 } trace_end { for (k, v in pairs(s)) { printf("%d\\n%s", v, k) } }',
      '--', workload, 'getppid', '5']);
    t.match(kernel.stdout, /^5\n(.+\+0x[0-9a-f]+\/0x[0-9a-f]+\n)+$/, 'one stack, frames SYM+0xOFF/0xSIZE');
    t.match(kernel.stdout, /do_syscall_64/);
    const user = await finished(['-q', '-e',
      'var s = {} profile-10ms { if (execname == "workload") { s[ustack()] += 1 } } trace_end { print_folded(s) }',
      '--', workload, 'spin', '600']);
    const lines = user.stdout.trim().split('\n');
    t.ok(lines.every((line) => /^\S+ \d+$/.test(line)), `folded lines parse: ${user.stdout}`);
    const hot = lines.filter((line) => /spin_hot/.test(line)).reduce((sum, line) => sum + Number(line.split(' ')[1]), 0);
    t.ok(hot > 20, `the hot function is sampled by name (${hot} samples)`);
  });

  t.test('profile-N samples the interrupted task', async (t) => {
    const result = await finished(['-q', '-e',
      'var s = {} profile-10ms { s[execname] += 1 } trace_end { print(s["workload"] != nil && s["workload"] > 20) }',
      '--', workload, 'spin', '800']);
    t.equal(result.stdout, 'true\n', 'the busy workload is sampled (≈ 80 samples expected)');
  });
}
