// The REPL through a real pseudo-terminal (tmux): prompts, a live session with probes that
// count a workload's calls exactly, output above the line being typed, completion, history,
// Ctrl-C and Ctrl-D, a failing handler — and nothing left in tracefs or tmux afterwards.

import t, { type Test } from 'tap';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TerminalKtap, Workload, attachedLine, buildWorkload, burnsCpu, getppidOf, valueBecomes } from './harness';
import { leftovers, tracingUnavailable } from '../support/tracing';
import { stopTmuxServer, tmuxSessions } from '../support/tmux';
import { sleep, waitFor } from '../support/wait';
import { skipFile } from '../support/skip';
import { bpfUnavailable } from '../bpf/support';

/** Where a handler with a plain pid filter runs: the kernel tier, where BPF works. */
const FILTER_TIER = bpfUnavailable() === undefined ? 'kernel' : 'user';

const reason = tracingUnavailable();
if (reason !== undefined) {
  skipFile('tracefs unavailable', reason);
} else {
  const directory = mkdtempSync(join(tmpdir(), 'ktap-repl-tty-'));
  const workloadBinary = buildWorkload(directory);
  t.teardown(() => {
    stopTmuxServer();
    rmSync(directory, { recursive: true, force: true });
  });

  let homes = 0;
  /** A fresh HOME (so the history is the test's own). */
  const freshHome = (): string => mkdtempSync(join(directory, `home-${++homes}-`));

  /** Starts ktap in tmux; the session and workloads are removed when the test ends. */
  const open = async (t: Test, args: string[] = [], home = freshHome()): Promise<TerminalKtap> => {
    const term = await TerminalKtap.start(args, home);
    t.teardown(() => term.close());
    await term.expect('ktap interactive session');
    await term.prompt();
    return term;
  };
  const workload = (t: Test): Workload => Workload.for(t, workloadBinary);


  /** Ctrl-D: ktap exits 0 and leaves no tracefs instance. */
  const quit = async (t: Test, term: TerminalKtap): Promise<void> => {
    term.keys('C-d');
    t.equal(await term.exited(), 0, 'Ctrl-D exits 0');
    t.same(leftovers(term.pid), [], 'no tracefs instance left');
  };

  t.test('prompt, continuation for an open block, parenthesis and long string', async (t) => {
    const term = await open(t);
    term.line('var t = {');
    await term.expect(/^ktap> var t = \{\n\.\.\.\.>$/m, 'continuation after {');
    term.line('}');
    await term.prompt();
    term.line('print(1,');
    await term.expect(/^ktap> print\(1,\n\.\.\.\.>$/m, 'continuation after (');
    term.line('2)');
    await term.expect(/^\.\.\.\.> 2\)\n1\s+2\nktap>$/m, 'the call completed');
    term.line('var s = [[first');
    await term.expect(/^ktap> var s = \[\[first\n\.\.\.\.>$/m, 'continuation in [[');
    term.line('second]]');
    await term.prompt();
    term.line('s');
    await term.expect(/^ktap> s\nfirst\nsecond\nktap>$/m, 'the long string kept its newline');
    term.line('1 +');
    await term.expect(/^ktap> 1 \+\n\.\.\.\.>$/m, 'continuation after an operator');
    term.line('2');
    await term.expect(/^\.\.\.\.> 2\n3\nktap>$/m, 'the expression completed');
    // A brace inside a string does not open anything: the parser decides, not a count of braces.
    term.line('print("{")');
    await term.expect(/^ktap> print\("\{"\)\n\{\nktap>$/m, 'no continuation for a brace in a string');
    t.notOk(/\x1b/.test(term.screen()), 'no stray escape sequences on the screen');
    await quit(t, term);
  });

  t.test('a counter table shared between inputs and a probe; detach stops the counting', async (t) => {
    const term = await open(t);
    const child = workload(t);
    term.line('var counts = {} counts["getppid"] = 0');
    await term.prompt();
    term.line(`${getppidOf(child.pid)} { counts["getppid"] += 1 }`);
    await term.expect(attachedLine(1, child.pid), 'the attach line');
    await term.prompt();
    await child.calls(100);
    t.equal(await valueBecomes(term, 'counts["getppid"]', 100), 100, 'the count read back at the prompt');
    term.line('counts["by hand"] = 7');
    await term.prompt();
    await child.calls(25);
    t.equal(await valueBecomes(term, 'counts["getppid"] + counts["by hand"]', 132), 132, 'handler and prompt share the table');
    term.line('.detach 1');
    await term.expect(/^\[1\] detached$/m);
    // A second probe proves events still flow; the detached one must not see them.
    term.line(`var after = 0 ${getppidOf(child.pid)} { after += 1 }`);
    await term.expect(attachedLine(2, child.pid));
    // The same kernel filter again, after the event was disabled: another process's calls stay out.
    await workload(t).calls(500);
    await child.calls(50);
    t.equal(await valueBecomes(term, 'after', 50), 50, 'the new probe counted the workload only');
    t.equal(await valueBecomes(term, 'counts["getppid"]', 125), 125, 'the detached probe counted nothing more');
    await quit(t, term);
  });

  t.test('handler output appears above the line being typed, which arrives intact', async (t) => {
    const term = await open(t);
    const child = workload(t);
    term.line(`var shown = 0 ${getppidOf(child.pid)} { shown += 1 printf("event %d\\n", shown) }`);
    await term.expect(attachedLine(1, child.pid));
    await term.prompt();
    term.type('print("typed');
    await term.expect(/^ktap> print\("typed$/m, 'the partial line');
    await child.calls(5);
    await term.expect(/^event 5$/m, 'the handler output');
    await term.expect(/^event 5\nktap> print\("typed$/m, 'the partial line redrawn below the output');
    // Thousands of lines while typing: output keeps going above, the line stays whole.
    term.type(' in');
    await child.calls(3000);
    await term.expect(/^event 3005$/m, 'a burst of output', 15_000);
    term.type(' parts")');
    term.keys('Enter');
    await term.expect(/^typed in parts$/m, 'the typed line ran intact');
    await term.prompt();
    const lines = term.screen().split('\n');
    const typed = lines.findIndex((line) => line === 'ktap> print("typed in parts")');
    t.ok(typed > 0, 'the finished line shows once, whole');
    t.equal(lines.filter((line) => line.includes('print("typed')).length, 1, 'no half-lines left behind');
    t.ok(lines.indexOf('event 3005') < typed, 'the output is above the line');
    t.equal(lines[typed + 1], 'typed in parts', 'its result right below it');
    const events = lines.filter((line) => /^event \d+$/.test(line)).map((line) => Number(line.slice(6)));
    t.same(events.slice(-3), [3003, 3004, 3005], 'output lines are whole and in order');
    await quit(t, term);
  });

  t.test('Tab completes keywords, library members, dot-commands, variables and event names', async (t) => {
    const term = await open(t);
    const completes = async (typed: string, expected: string): Promise<void> => {
      term.type(typed);
      term.keys('Tab');
      await term.expect(new RegExp(`^ktap> ${escape(expected)}$`, 'm'), `${typed}<Tab> → ${expected}`);
      t.equal(term.cursorLine().trimEnd(), `ktap> ${expected}`, `${typed}<Tab>`);
      term.keys('C-u');
      await waitForPrompt(term);
    };
    await completes('prin', 'print');
    await completes('ansi.se', 'ansi.set_color');
    await completes('.pro', '.probes');
    await completes('trace syscalls:sys_enter_getpp', 'trace syscalls:sys_enter_getppid');
    await completes('trace sched:sched_swi', 'trace sched:sched_switch');
    await completes('whi', 'while');
    term.line('var my_counter = 1');
    await term.prompt();
    await completes('my_c', 'my_counter');
    // Two Tabs on an ambiguous prefix list the candidates.
    for (const [typed, candidate] of [['ansi.set_color', /ansi\.set_color2/], ['trace sched:sched_sw', /sched:sched_switch/]] as const) {
      term.type(typed);
      term.keys('Tab');
      await sleep(100);
      term.keys('Tab');
      await term.expect(candidate, `the candidates of ${typed}`);
      await term.expect(new RegExp(`^ktap> ${escape(typed)}$`, 'm'), 'the line kept below the list');
      term.keys('C-u');
      await waitForPrompt(term);
    }
    await quit(t, term);
  });

  t.test('history: ~/.ktap_history with mode 0600, deduplicated, bounded, recalled next time', async (t) => {
    const home = freshHome();
    let term = await open(t, [], home);
    for (const input of ['1 + 1', 'var h = 40', '1 + 1', 'h + 2', '1 + 1']) {
      term.line(input);
      await term.prompt();
    }
    await quit(t, term);
    const path = join(home, '.ktap_history');
    t.equal(statSync(path).mode & 0o777, 0o600, 'created with mode 0600');
    t.same(readFileSync(path, 'utf8').split('\n').filter((line) => line !== ''), ['var h = 40', 'h + 2', '1 + 1'], 'deduplicated, oldest first');
    term = await open(t, [], home);
    term.keys('Up');
    await term.expect(/^ktap> 1 \+ 1$/m, 'the newest entry recalled');
    term.keys('Up');
    await term.expect(/^ktap> h \+ 2$/m, 'then the one before');
    term.keys('C-u');
    await waitForPrompt(term);
    await quit(t, term);

    // A long, world-readable file is cut to the limit and made private again.
    writeFileSync(path, Array.from({ length: 1500 }, (_, index) => `${index} + 0\n`).join(''));
    chmodSync(path, 0o644);
    term = await open(t, [], home);
    term.line('"newest"');
    await term.expect(/^newest$/m);
    await quit(t, term);
    const lines = readFileSync(path, 'utf8').split('\n').filter((line) => line !== '');
    t.equal(lines.length, 1000, 'bounded to 1000 entries');
    t.equal(lines.at(-1), '"newest"', 'the newest kept');
    t.equal(lines[0], '501 + 0', 'the oldest dropped');
    t.equal(statSync(path).mode & 0o777, 0o600, 'mode 0600 again');
  });

  t.test('Ctrl-C interrupts a runaway loop, clears a line, never detaches probes', async (t) => {
    const term = await open(t, ['--max-instructions', '0']);
    const child = workload(t);
    term.line(`var n = 0 ${getppidOf(child.pid)} { n += 1 }`);
    await term.expect(attachedLine(1, child.pid));
    await term.prompt();
    term.line('while (true) { }');
    await burnsCpu(term.pid, 300);
    t.not(term.screen().split('\n').at(-1), 'ktap>', 'the loop is still running (no limit)');
    term.keys('C-c');
    await term.expect(/^ktap> while \(true\) \{ \}\n(\^C)?error: interrupted\nktap>$/m, 'interrupted, back at the prompt');
    term.line('1 + 2');
    await term.expect(/^ktap> 1 \+ 2\n3\nktap>$/m, 'the session still works');
    // Ctrl-C on a half-typed line or an open block throws it away.
    term.type('this is not code');
    term.keys('C-c');
    await term.prompt();
    term.line('var open = {');
    await term.expect(/^\.\.\.\.>$/m);
    term.keys('C-c');
    await term.prompt();
    term.line('"still fine"');
    await term.expect(/^ktap> "still fine"\nstill fine\nktap>$/m, 'nothing of the cleared inputs remains');
    // The probe survived every Ctrl-C.
    await child.calls(40);
    t.equal(await valueBecomes(term, 'n', 40), 40, 'the probe still counts');
    term.line('.probes');
    await term.expect(new RegExp(String.raw`^1 +trace syscalls:sys_enter_getppid \/common_pid == \d+\/ +40 +[\d.]+ +${FILTER_TIER}$`, 'm'), '.probes still lists it, with its count');
    await quit(t, term);
  });

  t.test('a failing handler is reported once with its id and detached; the others keep running', async (t) => {
    const term = await open(t);
    const child = workload(t);
    term.line('var zero = 0');
    // The good handler counts the workload's returns from getppid; the failing one runs on
    // the first getppid call of any process (there is always the workload's).
    term.line(`var good = 0 ${getppidOf(child.pid, 'sys_exit_getppid')} { good += 1 }`);
    await term.expect(attachedLine(1, child.pid, 'sys_exit_getppid'));
    term.line('trace syscalls:sys_enter_getppid { var x = 1 / zero }');
    await term.expect(/^\[2\] trace syscalls:sys_enter_getppid \(1 event\)$/m);
    await child.calls(200);
    await term.expect(/^\[2\] syscalls:sys_enter_getppid: error: divide 0 arith operation at \(input \d+\):1; detached$/m, 'the report');
    t.equal(await valueBecomes(term, 'good', 200), 200, 'the other handler saw every call');
    await child.calls(100);
    t.equal(await valueBecomes(term, 'good', 300), 300, 'and keeps running');
    t.equal(term.screen().split('\n').filter((line) => line.includes('error:')).length, 1, 'reported once');
    term.line('.probes');
    await term.expect(new RegExp(String.raw`^1 +trace syscalls:sys_exit_getppid \/common_pid == \d+\/ +300 +[\d.]+ +${FILTER_TIER}$`, 'm'), '.probes lists the good one');
    t.notMatch(term.screen(), /^2 +trace/m, 'the failed handler is gone from .probes');
    await quit(t, term);
  });

  // These two keep handlers in the user tier: what they check is the tracefs instance.
  t.test('Ctrl-D runs trace_end handlers, detaches everything and removes the instance', async (t) => {
    const term = await open(t, ['--tier', 'user']);
    const child = workload(t);
    term.line(`var calls = 0 ${getppidOf(child.pid)} { calls += 1 }`);
    await term.expect(attachedLine(1, child.pid));
    term.line('tick-1s { }');
    await term.expect(/^\[2\] tick-1s$/m);
    term.line('trace_end { printf("trace_end saw %d calls\\n", calls) }');
    await term.prompt();
    await child.calls(10);
    t.equal(await valueBecomes(term, 'calls', 10), 10);
    t.same(leftovers(term.pid).length, 1, 'one instance while the session runs');
    await quit(t, term);
    t.match(term.screen(), /^trace_end saw 10 calls$/m, 'trace_end ran');
  });

  t.test('closing the terminal (SIGHUP) still detaches and removes the instance', async (t) => {
    const term = await open(t, ['--tier', 'user']);
    const child = workload(t);
    term.line(`${getppidOf(child.pid)} { } tick-1s { }`);
    await term.expect(/^\[2\] tick-1s$/m);
    t.equal(leftovers(term.pid).length, 1, 'an instance while attached');
    term.close();
    await waitFor(() => !running(term.pid), 'ktap to end after the hangup');
    t.same(leftovers(term.pid), [], 'no tracefs instance left');
  });

  t.test('no tmux session is left behind', async (t) => {
    t.same(tmuxSessions(), []);
  });
}

/** Whether the process exists and is not a zombie. */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function waitForPrompt(term: TerminalKtap): Promise<void> {
  for (let tries = 0; tries < 100 && term.cursorLine().trimEnd() !== 'ktap>'; tries++) await sleep(40);
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
