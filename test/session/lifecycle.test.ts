// A run's life against the real kernel: signals at any moment of attaching, SIGKILL (the
// guardian), a reader that goes away, long attaches, a slow removal handed to the guardian,
// refused probes, -C/-p, and ktap not tracing itself. Each test looks only at what its own
// ktap processes created.

import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { makeRandom } from '../seeded-random';
import { TRACEFS, guardianOf, ktap, leftovers, root, tracingUnavailable } from '../support/tracing';
import { skipFile } from '../support/skip';

/** Waits until CONDITION holds, checking every 10 ms, for at most MS; returns whether it held. */
async function waitFor(condition: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}

interface Run {
  readonly child: ChildProcess;
  readonly pid: number;
  stdout: string;
  stderr: string;
  readonly exited: Promise<number | null>;
}

function start(args: string[]): Run {
  const child = spawn(process.execPath, [ktap, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const run: Run = {
    child,
    pid: child.pid!,
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
  };
  child.stdout!.on('data', (chunk: Buffer) => (run.stdout += chunk.toString('latin1')));
  child.stderr!.on('data', (chunk: Buffer) => (run.stderr += chunk.toString('latin1')));
  return run;
}

/** The libc this machine's programs map (the test process's own). */
function libcPath(): string | undefined {
  const maps = readFileSync('/proc/self/maps', 'latin1');
  return /\s(\/\S*\/libc\.so\.6)$/m.exec(maps)?.[1];
}

const reason = tracingUnavailable();
if (reason !== undefined) {
  skipFile('tracefs unavailable', reason);
} else {
  const instanceOf = (pid: number): boolean => readdirSync(join(TRACEFS, 'instances')).some((name) => name.startsWith(`ktap-${pid}-`));

  t.test('SIGINT, SIGTERM, SIGHUP at random moments of attaching leave nothing behind', async (t) => {
    const random = makeRandom(11);
    const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
    for (let round = 0; round < 9; round++) {
      const signal = signals[round % signals.length]!;
      // The tracefs path (--tier user): its instance is what a signal could leave behind.
      const run = start(['--tier', 'user', '-e', 'trace syscalls:sys_enter_* { }']);
      // The moment the instance exists, attaching is under way: the signal lands in it.
      await waitFor(() => instanceOf(run.pid) || run.child.exitCode !== null, 10_000);
      await new Promise((resolve) => setTimeout(resolve, random(40)));
      run.child.kill(signal);
      const code = await run.exited;
      t.equal(code, 0, `${signal} round ${round}: ended by ktap, not killed by the signal`);
      t.same(leftovers(run.pid), [], `${signal} round ${round}: nothing left (${run.stderr.trim() || 'no stderr'})`);
      t.notMatch(run.stderr, /internal error|\n\s+at /, `${signal} round ${round}: no stack trace`);
    }
  });

  t.test('SIGKILL: the guardian removes the instance and the probes at once, with no further run', async (t) => {
    const libc = libcPath();
    const probe = libc === undefined ? 'sched:sched_wakeup' : `probe:${libc}:ctermid`;
    const run = start(['--tier', 'user', '-e', `trace sched:sched_switch { } trace ${probe} { }`]);
    await waitFor(() => run.stdout.includes('Tracing...'), 30_000);
    t.ok(leftovers(run.pid).length >= 1, `attached: ${leftovers(run.pid).join(', ')}`);
    const guardian = guardianOf(run.pid);
    t.ok(guardian !== undefined, 'the run has a guardian');
    run.child.kill('SIGKILL');
    await run.exited;
    // Other runs on the machine remove leftovers of dead pids too: the guardian must be the one.
    t.ok(await waitFor(() => leftovers(run.pid).length === 0, 5_000), 'nothing left within a few seconds');
    t.ok(guardian !== undefined && await waitFor(() => !existsSync(`/proc/${guardian}`), 5_000), 'and the guardian is gone too');

    // Killed in the middle of attaching: the guardian knew what to remove from the start.
    const early = start(['--tier', 'user', '-e', 'trace syscalls:sys_enter_* { } trace sched:* { }']);
    await waitFor(() => instanceOf(early.pid) || early.child.exitCode !== null, 10_000);
    early.child.kill('SIGKILL');
    await early.exited;
    t.ok(await waitFor(() => leftovers(early.pid).length === 0, 5_000), 'nothing left after a kill mid-attach');
  });

  t.test('a reader that goes away ends ktap quietly', async (t) => {
    /** Runs ktap with its stdout read for LINES lines (0: not at all), then closed, as `| head` does. */
    const closedAfter = async (lines: number, args: string[]): Promise<{ code: number | null; stderr: string; pid: number }> => {
      const child = spawn(process.execPath, [ktap, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('latin1')));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (status) => resolve(status)));
      if (lines === 0) child.stdout!.destroy();
      else {
        let text = '';
        child.stdout!.on('data', (chunk: Buffer) => {
          text += chunk.toString('latin1');
          if (text.split('\n').length > lines) child.stdout!.destroy();
        });
      }
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const code = await exited;
      clearTimeout(timer);
      return { code, stderr, pid: child.pid! };
    };
    const events = await closedAfter(0, ['-le']);
    t.equal(events.code, 0, '-le into a closed pipe: exit 0');
    t.equal(events.stderr, '', '-le into a closed pipe: nothing on stderr');
    const libc = libcPath();
    if (libc !== undefined) {
      const functions = await closedAfter(0, ['-lf', libc]);
      t.equal(functions.code, 0, '-lf into a closed pipe: exit 0');
      t.equal(functions.stderr, '', '-lf into a closed pipe: nothing on stderr');
    }
    const tracing = await closedAfter(1, ['-s', 'sched:sched_switch']);
    t.equal(tracing.code, 0, 'a tracing run into head -1 ends (not killed) with exit 0');
    t.notMatch(tracing.stderr, /internal error|\n\s+at /, 'no stack trace');
    t.same(leftovers(tracing.pid), [], 'and cleans up');
  });

  t.test('a signal during a long attach (every function of libc) ends the run and leaves nothing', async (t) => {
    const libc = libcPath();
    if (libc === undefined) {
      t.skip('no libc.so.6 mapped in this process', () => {});
      return;
    }
    const run = start(['-e', `trace probe:${libc}:* { }`]);
    const group = new RegExp(`^[pr]:ktap_${run.pid}/`, 'm');
    await waitFor(() => group.test(readFileSync(join(TRACEFS, 'uprobe_events'), 'latin1')) || run.child.exitCode !== null, 60_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const signalled = Date.now();
    run.child.kill('SIGINT');
    const exited = await Promise.race([run.exited.then(() => true), new Promise((resolve) => setTimeout(() => resolve(false), 15_000))]);
    t.ok(exited, `ktap exited after the signal (${Date.now() - signalled} ms)`);
    if (!exited) run.child.kill('SIGKILL');
    t.ok(await waitFor(() => leftovers(run.pid).length === 0, 60_000), `nothing left (${run.stderr.trim() || 'no stderr'})`);
  });

  t.test('SIGINT after the banner of a large uprobe glob: the guardian takes over the removal, nothing is left', async (t) => {
    const libc = libcPath();
    if (libc === undefined) {
      t.skip('no libc.so.6 mapped in this process', () => {});
      return;
    }
    // ~60 uprobes, malloc and free among them (every process traps into those): disabling
    // them takes the kernel ~1.5 s, longer than ktap may take to exit, so the guardian does.
    // The user tier: its uprobes are in uprobe_events (the kernel tier's leave nothing to remove).
    const run = start(['--tier', 'user', '-e', `trace probe:${libc}:*alloc* { } trace probe:${libc}:*free { } trace_end { print("end") }`]);
    await waitFor(() => run.stdout.includes('Tracing...') || run.child.exitCode !== null, 30_000);
    const guardian = guardianOf(run.pid);
    t.ok(guardian !== undefined, 'the run has a guardian');
    // Events flow for a moment: the hand-off orders the probes by how often they fired.
    await new Promise((resolve) => setTimeout(resolve, 300));
    run.child.kill('SIGINT');
    t.equal(await run.exited, 0, 'exit 0, as for any Ctrl-C');
    t.equal(run.stdout, 'Tracing... Hit Ctrl-C to end.\n\nend\n', 'the banner, the newline of Ctrl-C, trace_end');
    t.match(run.stderr, /^ktap: the guardian removes the \d+ enabled probes in the background, ~\d+ s/m, 'one line says the guardian removes them');
    t.notMatch(run.stderr, /warning|internal error|\n\s+at /, 'no warning, no stack trace');

    // Right away another run: its stale cleanup leaves the dead run to the guardian at work.
    const next = start(['-q', '-e', 'trace syscalls:sys_enter_getppid { } tick-100ms { exit() }']);
    t.equal(await next.exited, 0, 'a run started right after ends normally');
    t.equal(next.stderr, '', 'with nothing on stderr');
    t.same(leftovers(next.pid), [], 'and leaves nothing');
    t.ok(await waitFor(() => leftovers(run.pid).length === 0, 30_000), `nothing of the first run left (${leftovers(run.pid).length} entries)`);
    t.ok(guardian !== undefined && await waitFor(() => !existsSync(`/proc/${guardian}`), 5_000), 'and its guardian is gone');
  });

  t.test('a glob with a function the kernel refuses: the run goes on, one line counts the refused', async (t) => {
    const libc = libcPath();
    if (libc === undefined) {
      t.skip('no libc.so.6 mapped in this process', () => {});
      return;
    }
    // x86-64 uprobes refuse some instructions (pthread_spin_lock starts with `lock`, ENOTSUPP).
    const run = start(['-v', '-q', '-e', `trace probe:${libc}:pthread_spin_* { } tick-200ms { exit() }`]);
    const code = await run.exited;
    if (code === 0 && !run.stderr.includes('refused')) {
      t.skip(`the kernel refused none of this libc's pthread_spin_* (${run.stderr.trim()})`, () => {});
      return;
    }
    t.equal(code, 0, 'the run goes on');
    t.match(run.stderr, /^ktap: probe:\S+:pthread_spin_\*: the kernel refused \d+ probes?, traced without/m, 'one line counts them');
    t.match(run.stderr, /^ktap: {3}pthread_spin_\w+: .+$/m, '-v lists each with the reason');
    t.notMatch(run.stderr, /unknown error|ktap_\d+:/, 'no internal name, no unknown error');
    t.same(leftovers(run.pid), [], 'nothing left');
  });

  t.test('-C and -p are checked: one line, exit 1', async (t) => {
    const script = 'trace sched:sched_switch { } tick-100ms { exit() }';
    const cpu = start(['-C', '4095', '-e', script]);
    t.equal(await cpu.exited, 1);
    t.match(cpu.stderr, /^error: -C 4095: no such CPU online \(online CPUs: [0-9,-]+\)\n$/);
    let missing = 999_999_999;
    while (existsSync(`/proc/${missing}`)) missing--;
    const pid = start(['-p', String(missing), '-e', script]);
    t.equal(await pid.exited, 1);
    t.equal(pid.stderr, `error: -p ${missing}: no such process\n`);
    // The dry run checks them as the live run does.
    const dryCpu = start(['-d', '-C', '4095', '-e', script]);
    t.equal(await dryCpu.exited, 1, '-d -C');
    t.match(dryCpu.stderr, /^error: -C 4095: no such CPU online \(online CPUs: [0-9,-]+\)\n$/);
    const dryPid = start(['-d', '-p', String(missing), '-e', script]);
    t.equal(await dryPid.exited, 1, '-d -p');
    t.equal(dryPid.stderr, `error: -p ${missing}: no such process\n`);
  });

  t.test('ktap does not trace itself unless --trace-self', async (t) => {
    const script = 'var n = {} trace raw_syscalls:sys_enter { n[pid] += 1 } tick-300ms { exit() } ' +
      'trace_end { for (k, v in pairs(n)) { printf("%d %d\\n", k, v) } }';
    const countOf = (run: Run): number => Number(new RegExp(`^${run.pid} (\\d+)$`, 'm').exec(run.stdout)?.[1] ?? 0);
    const plain = start(['-q', '-e', script]);
    t.equal(await plain.exited, 0);
    t.equal(countOf(plain), 0, "ktap's own syscalls are not counted");
    t.ok(plain.stdout.trim().split('\n').length > 0, 'other processes are');
    const self = start(['-q', '--trace-self', '-e', script]);
    t.equal(await self.exited, 0);
    t.ok(countOf(self) > 0, `--trace-self counts them (${countOf(self)})`);
  });
}
