// `-- cmd` as users expect it (docs/workload.md): only descriptors 0-2, only the command's own
// events, one error line for a command that cannot start, its exit status, and the dry run.

import t from 'tap';
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { ktap, leftovers, root, tracingUnavailable } from '../support/tracing';
import { compile, scratchDirectory, WORKLOAD_C } from '../support/workloads';

interface Result {
  stdout: string;
  stderr: string;
  code: number | null;
  pid: number;
}

const reason = tracingUnavailable();
t.test('-- cmd', { skip: reason === undefined ? false : `tracefs unavailable: ${reason}` }, async (t) => {
  const directory = scratchDirectory(t, 'workload');
  const workload = compile(directory, WORKLOAD_C, 'workload');

  /** Runs ktap; `extra` are descriptors it inherits beyond 0-2 (index = descriptor number). */
  function run(args: string[], extra: Array<number | 'ignore'> = [], signal?: { name: NodeJS.Signals; after: RegExp }): Promise<Result> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [ktap, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe', ...extra] });
      let stdout = '';
      let stderr = '';
      let signalled = false;
      child.stdout!.on('data', (chunk: Buffer) => {
        stdout += chunk.toString('latin1');
        if (signal !== undefined && !signalled && signal.after.test(stdout)) {
          signalled = true;
          child.kill(signal.name);
        }
      });
      child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('latin1')));
      child.on('close', (code) => resolve({ stdout, stderr, code, pid: child.pid! }));
    });
  }

  const getppid = 'trace syscalls:sys_enter_getppid { }';

  t.test('the command gets descriptors 0-2 only, not ktap\'s nor those ktap inherited', async (t) => {
    const file = openSync(join(directory, 'inherited'), 'w');
    t.teardown(() => closeSync(file));
    const [plain, inherited, dry] = await Promise.all([
      run(['-q', '-e', getppid, '--', workload, 'fds']),
      // ktap started with descriptors 3 and 12 open (not close-on-exec): dash closes the
      // first, bash the one above 9.
      run(['-q', '-e', getppid, '--', workload, 'fds'], [file, ...Array<'ignore'>(8).fill('ignore'), file]),
      run(['-q', '-d', '-e', getppid, '--', workload, 'fds'], [file]),
    ]);
    t.equal(plain.stdout, '0 1 2\n');
    t.equal(plain.code, 0);
    t.equal(inherited.stdout, '0 1 2\n');
    t.equal(dry.stdout, '0 1 2\n', 'the dry run too');
  });

  t.test('only the command\'s own events: the gate that holds it makes no traced system call', async (t) => {
    const result = await run(['-q', '-e', 'var n = 0 trace syscalls:sys_enter_read /fd == 0/ { n += 1 } trace_end { print(n) }', '--', workload, 'read', '7']);
    t.equal(result.stdout, '7\n', 'exactly the reads the command made');
    t.equal(result.stderr, '');
    t.same(leftovers(result.pid), []);
  });

  t.test('a command that cannot start: one line, exit 1, nothing attached', async (t) => {
    const cases = [
      ['/nonexistent/cmd', "error: cannot run '/nonexistent/cmd': No such file or directory\n"],
      ['ktap-no-such-command', "error: cannot run 'ktap-no-such-command': command not found\n"],
      [directory, `error: cannot run '${directory}': Is a directory\n`],
    ] as const;
    const results = await Promise.all(cases.map(([command]) => run(['-e', `${getppid} trace_end { print("end") }`, '--', command])));
    cases.forEach(([command, message], index) => {
      const result = results[index]!;
      t.equal(result.stderr, message, command);
      t.equal(result.code, 1);
      t.equal(result.stdout, '', 'no banner, no trace_end');
      t.same(leftovers(result.pid), []);
    });
  });

  t.test('ktap exits with the command\'s status, 128+N for a signal N', async (t) => {
    const [failed, signalled, fine, compileError, ended] = await Promise.all([
      run(['-q', '-e', getppid, '--', 'sh', '-c', 'exit 3']),
      run(['-q', '-e', getppid, '--', 'sh', '-c', 'kill -USR1 $$']),
      run(['-q', '-e', getppid, '--', 'true']),
      // ktap's own statuses stand: a compile error comes before the command starts.
      run(['-q', '-e', 'trace {', '--', 'sh', '-c', 'exit 3']),
      // exit() ends the session first: ktap stops the command, and the status is ktap's.
      run(['-q', '-e', 'trace syscalls:sys_enter_getppid { exit() } trace_end { print("end") }', '--', 'sh', '-c', `${workload} getppid 1; exec sleep 30`]),
    ]);
    t.equal(failed.code, 3);
    t.equal(signalled.code, 128 + 10);
    t.equal(fine.code, 0);
    t.equal(compileError.code, 255);
    t.equal(ended.stdout, 'end\n');
    t.equal(ended.code, 0);
  });

  t.test('a script without probes still runs the command and ends with it', async (t) => {
    const result = await run(['-e', 'print("main") trace_end { print("end") }', '--', 'sh', '-c', 'echo ran; exit 4']);
    t.equal(result.stdout, 'main\nran\nend\n');
    t.equal(result.code, 4);
  });

  t.test('-d -- cmd ends as the live run ends: at the command\'s end, with trace_end', async (t) => {
    const script = `${getppid} trace_end { print("end") }`;
    const [live, dry] = await Promise.all([
      run(['-e', script, '--', 'sh', '-c', 'echo ran; exit 2']),
      run(['-d', '-e', script, '--', 'sh', '-c', 'echo ran; exit 2']),
    ]);
    t.equal(live.stdout, 'Tracing... Hit Ctrl-C to end.\nran\nend\n');
    t.equal(dry.stdout, live.stdout);
    t.equal(dry.code, 2);
    t.equal(dry.code, live.code);
  });

  t.test('the dry run\'s other endings are the live run\'s (SPEC §3.10)', async (t) => {
    const waiting = `${getppid} trace_end { print("end") }`;
    const [interrupted, terminated, ticked, failed] = await Promise.all([
      run(['-d', '-e', waiting], [], { name: 'SIGINT', after: /Tracing/ }),
      run(['-d', '-e', waiting], [], { name: 'SIGTERM', after: /Tracing/ }),
      run(['-d', '-e', `var n = 0 ${getppid} tick-50ms { n += 1 if (n == 3) { exit() } } trace_end { print("end", n) }`]),
      run(['-d', '-e', `${getppid} tick-50ms { var x = nil + 1 } trace_end { print("end") }`]),
    ]);
    t.equal(interrupted.stdout, 'Tracing... Hit Ctrl-C to end.\n\nend\n', 'SIGINT: a newline, then trace_end');
    t.equal(terminated.stdout, 'Tracing... Hit Ctrl-C to end.\nend\n', 'SIGTERM: trace_end');
    t.equal(ticked.stdout, 'Tracing... Hit Ctrl-C to end.\nend\t3\n', 'exit() in a tick: trace_end');
    t.equal(failed.stdout, 'Tracing... Hit Ctrl-C to end.\nerror: (command line):1: attempt to perform arithmetic on a nil value\n', 'a runtime error: no trace_end');
    for (const result of [interrupted, terminated, ticked, failed]) t.equal(result.code, 0);
  });
});
