// The REPL with a pipe on stdin (SPEC-product §3): the same semantics as at a terminal, without
// prompt, colours or history, so it can be scripted — inputs fed one by one with pauses, a live
// probe counting a workload exactly, dot-commands, .save/.load/-i, errors, and clean endings.

import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PipedKtap, Workload, attachedLine, buildWorkload, burnsCpu, getppidOf, ktapEnvironment, valueBecomes } from './harness';
import { ktap, leftovers, root, tracingUnavailable } from '../support/tracing';
import { skipFile } from '../support/skip';
import { bpfUnavailable } from '../bpf/support';

/** Where a handler with a plain pid filter runs: the kernel tier, where BPF works. */
const FILTER_TIER = bpfUnavailable() === undefined ? 'kernel' : 'user';

const reason = tracingUnavailable();
if (reason !== undefined) {
  skipFile('tracefs unavailable', reason);
} else {
  const directory = mkdtempSync(join(tmpdir(), 'ktap-repl-pipe-'));
  const workloadBinary = buildWorkload(directory);
  const home = mkdtempSync(join(directory, 'home-'));
  t.teardown(() => rmSync(directory, { recursive: true, force: true }));

  const open = (t: Test, args: string[] = []): PipedKtap => {
    const piped = new PipedKtap(args, home);
    t.teardown(() => piped.close());
    return piped;
  };
  const workload = (t: Test): Workload => Workload.for(t, workloadBinary);


  /**
   * EOF: exit 0, no instance left, nothing on stderr — but the lost-events report when the
   * session traced every process's getppid (other tests may flood it meanwhile).
   */
  const endOfInput = async (t: Test, piped: PipedKtap, options: { othersTraced?: boolean } = {}): Promise<void> => {
    t.equal(await piped.end(), 0, 'EOF exits 0');
    t.same(leftovers(piped.pid), [], 'no tracefs instance left');
    const stderr = options.othersTraced ? piped.stderr.replace(/^ktap: \d+ events lost .*\n/m, '') : piped.stderr;
    t.equal(stderr, '', 'nothing on stderr');
  };

  t.test('inputs one by one: no prompt, no colours, continuation by the parser, values shown', async (t) => {
    const piped = open(t);
    piped.line('var t = {');
    piped.line('}');
    piped.line('print(1,');
    await piped.ask('2)', '1\t2\n');
    piped.line('var s = [[first');
    piped.line('second]]');
    await piped.ask('s', 'first\nsecond\n');
    piped.line('1 +');
    await piped.ask('2', '3\n');
    await piped.ask('print("{")', '{\n');
    piped.line('t[1] = "one"');
    await piped.ask('t[1]', 'one\n');
    piped.line('nil');
    await endOfInput(t, piped);
    t.equal(piped.stdout, '1\t2\nfirst\nsecond\n3\n{\none\n', 'only the values: no prompt, no banner');
    t.notOk(existsSync(join(home, '.ktap_history')), 'no history written from a pipe');
  });

  t.test('a counter table shared with a probe; the count read back; detach stops it', async (t) => {
    const piped = open(t);
    const child = workload(t);
    piped.line('var counts = {} counts["getppid"] = 0');
    await piped.ask(`${getppidOf(child.pid)} { counts["getppid"] += 1 }`, attachedLine(1, child.pid));
    await child.calls(100);
    t.equal(await valueBecomes(piped, 'counts["getppid"]', 100), 100, 'the count read back');
    piped.line('counts["by hand"] = 7');
    await child.calls(25);
    t.equal(await valueBecomes(piped, 'counts["getppid"] + counts["by hand"]', 132), 132, 'handler and input share the table');
    await piped.ask('.detach 1', /^\[1\] detached$/m);
    await piped.ask(`var after = 0 ${getppidOf(child.pid)} { after += 1 }`, attachedLine(2, child.pid));
    // The same kernel filter again, after the event was disabled: another process's calls stay out.
    await workload(t).calls(500);
    await child.calls(50);
    t.equal(await valueBecomes(piped, 'after', 50), 50, 'the new probe counted the workload only');
    t.equal(await valueBecomes(piped, 'counts["getppid"]', 125), 125, 'the detached probe counted nothing more');
    t.notMatch(piped.stdout, /\x1b/, 'no colours');
    await endOfInput(t, piped);
  });

  t.test('handler output arrives while no input comes, between whole inputs', async (t) => {
    const piped = open(t);
    const child = workload(t);
    await piped.ask(`var shown = 0 ${getppidOf(child.pid)} { shown += 1 printf("event %d\\n", shown) }`, attachedLine(1, child.pid));
    await child.calls(2000);
    await piped.expect(/^event 2000$/m);
    await piped.ask('print("an input")', /^an input$/m);
    const events = piped.stdout.split('\n').filter((line) => line.startsWith('event '));
    t.same(events, Array.from({ length: 2000 }, (_, index) => `event ${index + 1}`), 'every line whole and in order');
    await endOfInput(t, piped);
  });

  t.test('a failing handler is reported once with its id and line, detached; the others keep running', async (t) => {
    const piped = open(t);
    const child = workload(t);
    piped.line('var zero = 0');
    // The good handler counts the workload's returns from getppid; the failing one runs on
    // the first getppid call of any process (there is always the workload's).
    await piped.ask(`var good = 0 ${getppidOf(child.pid, 'sys_exit_getppid')} { good += 1 }`, attachedLine(1, child.pid, 'sys_exit_getppid'));
    await piped.ask('trace syscalls:sys_enter_getppid {\n  var x = 1 / zero\n}', /^\[2\] trace syscalls:sys_enter_getppid \(1 event\)$/m);
    await child.calls(200);
    await piped.expect(/^\[2\] syscalls:sys_enter_getppid: error: divide 0 arith operation at \(input 3\):2; detached$/m);
    t.equal(await valueBecomes(piped, 'good', 200), 200, 'the other handler saw every call');
    await child.calls(100);
    t.equal(await valueBecomes(piped, 'good', 300), 300, 'and keeps running');
    t.equal(piped.stdout.split('\n').filter((line) => line.includes('error')).length, 1, 'reported once');
    await piped.ask('.probes', /events lost: \d+/);
    t.match(piped.stdout, new RegExp(String.raw`^1 +trace syscalls:sys_exit_getppid \/common_pid == \d+\/ +300 +[\d.]+ +${FILTER_TIER}$`, 'm'), 'the good one, with its count and tier');
    t.notMatch(piped.stdout, /^2 +trace/m, 'the failed handler is gone');
    await endOfInput(t, piped, { othersTraced: true });
  });

  t.test('errors never end the session: syntax, runtime, unknown event, unknown command', async (t) => {
    const piped = open(t);
    piped.line('var kept = 41');
    await piped.ask('var = 3', /^syntax error: \(input 2\):1: .*$/m);
    await piped.ask('var zero = 0 var r = 1 / zero', /^error: \(input 3\):1: divide 0 arith operation$/m);
    await piped.ask('trace nosuch:event_here { }', /^error: unknown event 'nosuch:event_here'$/m);
    await piped.ask('.nope', /^unknown command \.nope; \.help lists them$/m);
    await piped.ask('.detach 99', /^no attached handler with id 99$/m);
    await piped.ask('kept + 1', /^42$/m);
    await piped.ask('.probes', /\(nothing attached\)/);
    // A failing input leaves no half-registered handler behind.
    await piped.ask('tick-1s { } var boom = nil + 1', /^error: .*$/m);
    await piped.ask('.probes', /\(nothing attached\)/);
    await endOfInput(t, piped);
    t.notMatch(piped.stdout, /^\s+at /m, 'no stack trace');
  });

  t.test('Ctrl-C (SIGINT) interrupts a runaway loop; the session goes on', async (t) => {
    const piped = open(t, ['--max-instructions', '0']);
    await piped.ask('var before = 1 print("ready")', /^ready$/m);
    piped.line('while (true) { }');
    await burnsCpu(piped.pid, 300);
    piped.child.kill('SIGINT');
    await piped.expect(/^error: interrupted$/m);
    await piped.ask('before + 1', /^2$/m);
    t.equal(piped.child.exitCode, null, 'still running');
    await endOfInput(t, piped);
  });

  t.test('SIGINT or SIGTERM at rest ends the session cleanly, trace_end included', async (t) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      const piped = open(t, ['--tier', 'user']); // the tracefs path, whose instance is checked
      await piped.ask('trace syscalls:sys_enter_getppid { } trace_end { print("trace_end ran") }', /^\[1\] /m);
      t.equal(leftovers(piped.pid).length, 1, 'an instance while attached');
      piped.child.kill(signal);
      t.equal(await piped.exited, 0, `${signal} exits 0`);
      t.match(piped.stdout, /^trace_end ran$/m);
      t.same(leftovers(piped.pid), [], 'no tracefs instance left');
    }
  });

  t.test('EOF: trace_end runs, everything detached, exit 0; also .exit and exit()', async (t) => {
    const child = workload(t);
    for (const ending of ['', '.exit', 'exit()']) {
      const piped = open(t);
      await piped.ask(`var calls = 0 ${getppidOf(child.pid)} { calls += 1 }`, attachedLine(1, child.pid));
      await piped.ask('tick-1s { }', /^\[2\] tick-1s$/m);
      piped.line('trace_end { printf("trace_end saw %d calls\\n", calls) }');
      await child.calls(10);
      t.equal(await valueBecomes(piped, 'calls', 10), 10);
      if (ending !== '') {
        piped.line(ending);
        t.equal(await piped.exited, 0, `${ending} exits 0`);
      }
      await endOfInput(t, piped);
      t.match(piped.stdout, /^trace_end saw 10 calls\n$/m, `trace_end ran last (${ending || 'EOF'})`);
    }
  });

  t.test('.stop detaches everything and runs trace_end; the session continues', async (t) => {
    const piped = open(t);
    await piped.ask(`${getppidOf(process.pid)} { } tick-100ms { }`, /^\[2\] tick-100ms$/m);
    piped.line('trace_end { print("ended once") }');
    await piped.ask('.stop', /^ended once$/m);
    await piped.ask('.probes', /\(nothing attached\)/);
    await piped.ask('"alive"', /^alive$/m);
    await piped.ask('tick-100ms { }', /^\[3\] tick-100ms$/m);
    await piped.ask('.detach all', /^\[3\] detached$/m);
    await endOfInput(t, piped);
    t.equal(piped.stdout.split('\n').filter((line) => line === 'ended once').length, 1, 'trace_end did not run again at EOF');
  });

  t.test('.tables, .bytecode, .probes columns, .events, .help', async (t) => {
    const piped = open(t);
    piped.line('var small = {} small[1] = 1');
    piped.line('var big = {} for (i = 1, 30) { big[i] = i }');
    piped.line('var number = 5');
    await piped.ask('.tables', /^big +30 entries$/m);
    t.match(piped.stdout, /^small +1 entry$/m);
    t.notMatch(piped.stdout, /^number/m, 'only tables');
    await piped.ask('number * 2', /^10$/m);
    await piped.ask('.bytecode', /^ +\d+ +\[1\] +RETURN +r\d+$/m);
    t.match(piped.stdout, /^function 'main' <\(input 4\):0,1>/m, 'listing of the last input');
    t.match(piped.stdout, /^ +\d+ +\[1\] +GETUPVAL +r\d+ +U\d+ +; number$/m, 'with the session variable named');
    t.match(piped.stdout, /^ +\d+ +\[1\] +MUL /m);
    await piped.ask(`${getppidOf(process.pid)} { }`, /^\[1\] /m);
    await piped.ask('tick-1s { }', /^\[2\] /m);
    const probes = await piped.ask('.probes', /^id +definition +events +events\/s +tier\n(.*)\n(.*)\nevents lost: (\d+)$/m) as RegExpExecArray;
    t.match(probes[1], new RegExp(String.raw`^1 +trace syscalls:sys_enter_getppid \/common_pid == \d+\/ +\d+ +\d+\.\d +${FILTER_TIER}$`));
    t.match(probes[2], /^2 +tick-1s +\d+ +\d+\.\d +user$/);
    await piped.ask('.events syscalls:sys_enter_getpp*', /^syscalls:sys_enter_getppid$/m);
    await piped.ask('.events nosuch:*', /^no matching events$/m);
    const help = await piped.ask('.help', /^\.help[\s\S]*\.exit .*$/m) as RegExpExecArray;
    for (const command of ['.probes', '.detach', '.stop', '.tables', '.bytecode', '.events', '.load', '.save', '.clear', '.exit']) {
      t.match(help[0], new RegExp(`^\\${command}\\b`, 'm'), `.help lists ${command}`);
    }
    await endOfInput(t, piped);
  });

  t.test('.save writes a script that ktap FILE runs; .load and -i FILE run files as inputs', async (t) => {
    const saved = join(directory, 'saved.kp');
    const piped = open(t);
    piped.line('var n = 0');
    piped.line('var seen = {}');
    piped.line('seen["start"] = 1');
    piped.line('trace syscalls:sys_enter_getppid {\n  n += 1\n}');
    await piped.ask('trace syscalls:sys_enter_getpid { }', /^\[2\] /m);
    await piped.ask('.detach 2', /^\[2\] detached$/m);
    piped.line('n');
    // A call is an expression too, but what it does belongs to the session's script.
    piped.line('function mark(key) { seen[key] = 2 }');
    piped.line('mark("by a call")');
    piped.line('trace_end { printf("n = %d, start = %d, call = %d\\n", n, seen["start"], seen["by a call"]) }');
    await piped.ask(`.save ${saved}`, /^saved 7 inputs to .*saved\.kp$/m);
    await endOfInput(t, piped, { othersTraced: true });
    const script = readFileSync(saved, 'latin1');
    t.notMatch(script, /getpid \{/, 'the detached input is left out');
    t.notMatch(script, /^n$/m, 'a bare expression is left out');
    // The saved script counts exactly the calls of a command it traces.
    const result = await run(['-q', saved, '--', workloadBinary], '37\n');
    t.equal(result.stdout, 'ok 37\nn = 37, start = 1, call = 2\n', 'ktap FILE runs the saved session (the command writes ok 37)');
    t.equal(result.stderr, '');
    t.equal(result.code, 0);

    const helper = join(directory, 'helper.kp');
    writeFileSync(helper, 'var loaded = {}\nfunction twice(x) {\n  return x * 2\n}\nloaded["twice"] = twice(21)\nprint("loaded")\n');
    const loading = open(t);
    await loading.ask(`.load ${helper}`, /^loaded$/m);
    await loading.ask('loaded["twice"] + twice(1)', /^44$/m);
    await loading.ask(`.load ${join(directory, 'missing.kp')}`, /^error: cannot open .*missing\.kp: .*$/m);
    writeFileSync(join(directory, 'open.kp'), 'var unfinished = {\n');
    await loading.ask(`.load ${join(directory, 'open.kp')}`, /^syntax error: .*open\.kp.*$/m);
    await loading.ask('twice(5)', /^10$/m);
    await endOfInput(t, loading);

    const first = open(t, ['-i', helper]);
    await first.expect(/^loaded$/m);
    await first.ask('loaded["twice"]', /^42$/m);
    await endOfInput(t, first);
    t.equal(first.stdout, 'loaded\n42\n');
  });

  /** ktap run to completion with `input` on its stdin. */
  function run(args: string[], input: string): Promise<{ stdout: string; stderr: string; code: number | null }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [ktap, ...args], { cwd: root, env: ktapEnvironment(home) });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('latin1')));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('latin1')));
      child.on('exit', (code) => resolve({ stdout, stderr, code }));
      child.stdin.end(input);
    });
  }
}
