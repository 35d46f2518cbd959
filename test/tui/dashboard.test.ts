// The dashboard in a real terminal (tmux): a script counting syscalls by execname while a
// workload makes a known number of getppid() calls; the histogram, per-CPU and status rows;
// p, Tab, number keys, s, resizes to 200×50 and 80×24; and every way out (q, Ctrl-C, exit(),
// the end of `-- cmd`, a runtime error) gives the terminal back with trace_end printed after.

import t, { type Test } from 'tap';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { ktap, leftovers, root } from '../support/tracing';
import { Pane, stopTmuxServer } from '../support/tmux';
import { waitFor } from '../support/wait';
import { dashboardUnavailable, paneRows } from './harness';
import { skipFile } from '../support/skip';

t.test('--tui with stdout not a terminal: one line, exit 1', async (t) => {
  const result = spawnSync(process.execPath, [ktap, '--tui', '-e', 'tick-1s { }'], { cwd: root, encoding: 'utf8' });
  t.equal(result.status, 1);
  t.equal(result.stdout, '');
  t.match(result.stderr, /^error: --tui needs a terminal, and stdout is not one[^\n]*\n$/);
});

const reason = dashboardUnavailable();
if (reason !== undefined) {
  skipFile('dashboard terminal tests', reason);
} else {
  const directory = mkdtempSync(join(tmpdir(), 'ktap-tui-'));
  // A name of its own, so that other tests' workloads running meanwhile are not counted.
  const workload = join(directory, 'tuiload');
  spawnSync('cc', ['-O1', '-o', workload, join(root, 'test', 'session', 'workload.c')], { stdio: 'inherit' });
  t.teardown(() => {
    stopTmuxServer();
    rmSync(directory, { recursive: true, force: true });
  });

  let runs = 0;
  /** ktap with `args` in a pane; the pane is removed when the test ends. */
  const start = (t: Test, args: readonly string[], size: { width: number; height: number; env?: string[] } = { width: 80, height: 24 }): { pane: Pane; stty: string; cwd: string } => {
    const cwd = mkdtempSync(join(directory, `run-${++runs}-`));
    const stty = join(cwd, 'stty');
    const pane = Pane.open([process.execPath, ktap, ...args], { ...size, cwd, sttyFile: stty });
    t.teardown(() => pane.close());
    return { pane, stty, cwd };
  };
  const script = (name: string, source: string): string => {
    const path = join(directory, name);
    writeFileSync(path, source);
    return path;
  };

  /** The terminal is as it was before ktap: normal screen, cursor shown, same tty modes. */
  const restored = async (t: Test, pane: Pane, stty: string): Promise<void> => {
    await waitFor(() => existsSync(stty + '.after'), 'the shell to record the terminal modes');
    const state = pane.state();
    t.notOk(state.alternate, 'back on the normal screen');
    t.ok(state.cursorVisible, 'cursor visible');
    t.equal(readFileSync(stty + '.after', 'utf8'), readFileSync(stty + '.before', 'utf8'), 'terminal modes as before (raw mode off)');
  };
  const statusLine = (screen: string): string => screen.split('\n').at(-1) ?? '';

  const counting = script('count.kp', [
    'var calls = {}',
    'var syscalls = {}',
    'var ticks = 0',
    'trace syscalls:sys_enter_getppid { calls[execname] += 1 }',
    'trace syscalls:sys_enter_* { syscalls[execname] += 1 }',
    'tick-200ms { ticks += 1 printf("tick %d\\n", ticks) }',
    'trace_end { printf("getppid by tuiload: %d\\n", calls["tuiload"]) }',
    '',
  ].join('\n'));

  t.test('histogram, per-CPU and status rows; p, Tab, resize, s, q', async (t) => {
    const { pane, stty, cwd } = start(t, ['--tui', '--interval', '250', counting, '--', 'sh', '-c', `${workload} getppid 5000; exec sleep 120`]);
    const pid = await pane.childPid();

    // The busiest table is shown first; 1 picks `calls`, where the workload's count is exact.
    await pane.expect('q quit', 'the status line');
    pane.keys('1');
    const perCpuRows = (text: string): string[] => paneRows(text, ' Per CPU ').slice(1).filter((row) => /^\d/.test(row));
    let screen = await pane.expect((text) => paneRows(text, ' calls ').some((row) => /^tuiload\s+\|█+\s+5000$/.test(row)) &&
      perCpuRows(text).length === cpus().length && /^\d+:\d\d ev [1-9]/.test(statusLine(text)) && /q quit/.test(statusLine(text)),
    'tuiload 5000 in calls, the CPUs and the key list');
    t.match(screen.split('\n')[0], /^(┌─|lq) calls \(1\/2\) [─q]+[┐k](┌─|lq) Per CPU [─q]+[┐k]$/, 'histogram and per-CPU panes side by side');
    const histogram = paneRows(screen, ' calls ');
    t.match(histogram[0], /^tuiload\s+\|█+\s+5000$/, 'the workload first: a bar and its exact count');
    t.ok(histogram.slice(1).every((row) => !row.startsWith('tuiload')), 'one row per execname');

    const cpuRows = paneRows(screen, ' Per CPU ');
    t.match(cpuRows[0], /^CPU\s+ev\/s\s+total\s+lost\s+time$/, 'per-CPU header');
    const perCpu = cpuRows.slice(1).filter((row) => row.trim() !== '');
    t.equal(perCpu.length, cpus().length, 'one row per CPU');
    for (const row of perCpu) t.match(row, /^\d+\s+[\d.]+[kMG]?\s+[\d.]+[kMG]?\s+\d+\s+\d+%$/, `per-CPU row '${row.trim()}'`);
    const totals = perCpu.map((row) => row.trim().split(/\s+/)[2]!).map((text) => parseFloat(text) * ({ k: 1e3, M: 1e6, G: 1e9 }[text.slice(-1)] ?? 1));
    t.ok(totals.reduce((sum, total) => sum + total, 0) >= 5000, 'events counted: the 5000 getppid records and more');

    const rates = paneRows(screen, ' Events/s, last minute ');
    t.ok(rates.some((row) => row.startsWith('syscalls:sys_enter_getppid')), 'a rate row for the getppid probe');
    t.ok(rates.some((row) => row.startsWith('tick-200ms') && /\d+\/s$/.test(row)), 'a rate row for the tick, with its rate');
    t.match(paneRows(screen, ' Output ').join('\n'), /tick \d+/, 'script output in the log');
    t.match(statusLine(screen), /^\d+:\d\d ev [\d.]+[kMG]? lost \d+ vm [\d.]+[kMG]?\/s rss \d+M +q quit p pause Tab r \+\/- 250ms \? s$/, 'status line');
    t.ok(screen.split('\n').every((line) => line.length <= 80), 'nothing wider than 80 columns');

    pane.keys('p');
    screen = await pane.expect((text) => statusLine(text).startsWith('PAUSED '), 'PAUSED');
    t.match(statusLine(screen), /p resume/);
    pane.keys('p');
    await pane.expect((text) => !statusLine(text).startsWith('PAUSED') && /p pause/.test(statusLine(text)), 'resumed');

    pane.keys('Tab');
    screen = await pane.expect((text) => text.split('\n')[0]!.includes(' syscalls (2/2) '), 'Tab shows the other table');
    t.ok(paneRows(screen, ' syscalls ').some((row) => /^tuiload\s+\|█+\s+[\d.]+k?$/.test(row)), 'syscalls by execname includes the workload');

    pane.resize(200, 50);
    screen = await pane.expect((text) => text.split('\n')[0]!.length === 200 && /Tab table/.test(statusLine(text)), '200×50 layout');
    t.equal(pane.state().width, 200);
    t.equal(screen.split('\n').length, 50, '50 rows used');
    t.ok(paneRows(screen, ' Per CPU ').length >= cpus().length + 1, 'per-CPU pane at 200×50');
    t.match(statusLine(screen), /q quit  p pause  Tab table  r reset  \+\/- 250ms  \? help  s save$/, 'the long key list at 200 columns');
    await pane.expect(/[\u2801-\u28ff]/, 'the line chart of the rates (braille dots) at 200×50');

    pane.resize(80, 24);
    screen = await pane.expect((text) => text.split('\n')[0]!.length === 80 && text.split('\n').length === 24, '80×24 layout again');
    t.ok(screen.split('\n').every((line) => line.length <= 80), 'back to 80 columns');
    t.notMatch(screen, /[\u2801-\u28ff]/, 'no chart at 80×24: sparklines only');

    pane.keys('s');
    const saved = await pane.expect(/saved (ktap-dashboard-\S+\.txt)/, 'the saved note');
    const file = /saved (ktap-dashboard-\S+\.txt)/.exec(saved)![1]!;
    const text = readFileSync(join(cwd, file), 'utf8');
    t.match(text.split('\n')[0], /^┌─ syscalls \(2\/2\) ─+┐┌─ Per CPU ─+┐$/, 'the saved screen is the dashboard as text');
    t.equal(text.trimEnd().split('\n').length, 24, 'all 24 rows');
    t.notMatch(text, /\x1b/, 'no escape sequences');
    t.same(readdirSync(cwd).filter((name) => name.startsWith('ktap-dashboard-')), [file]);

    pane.keys('q');
    t.equal(await pane.exited(), 0, 'q exits 0');
    screen = pane.screen();
    t.match(pane.history(), /^getppid by tuiload: 5000$/m, 'trace_end output on the normal screen');
    t.notMatch(screen, /Per CPU/, 'the dashboard is gone');
    await restored(t, pane, stty);
    t.same(leftovers(pid), [], 'nothing left in tracefs');
  });

  t.test('a -- cmd workload writes into the output log, not over the dashboard', async (t) => {
    const { pane, stty } = start(t, ['--tui', '--interval', '200', '-e', 'var calls = {} trace syscalls:sys_enter_getppid { calls[execname] += 1 }',
      '--', 'sh', '-c', 'echo hello from the workload; echo and its stderr >&2; exec sleep 60']);
    const screen = await pane.expect((text) => paneRows(text, ' Output ').some((row) => row.startsWith('and its stderr')), 'the workload output in the log');
    t.ok(paneRows(screen, ' Output ').includes('hello from the workload'), 'stdout too');
    t.match(screen.split('\n')[0], /^(┌─|lq) calls /, 'the frame intact at the top');
    pane.keys('q');
    t.equal(await pane.exited(), 0);
    await restored(t, pane, stty);
  });

  t.test('--tui on a dumb terminal: one line, exit 1', async (t) => {
    const { pane } = start(t, ['--tui', '-e', 'tick-1s { }'], { width: 80, height: 24, env: ['TERM=dumb'] });
    t.equal(await pane.exited(), 1);
    t.match(pane.history(), /^error: --tui needs a terminal that can move its cursor, and TERM is dumb$/m);
  });

  const ending = (name: string, args: readonly string[], act: (pane: Pane) => void, expected: RegExp): void => {
    t.test(`terminal restored after ${name}`, async (t) => {
      const { pane, stty } = start(t, args);
      const pid = await pane.childPid();
      await pane.expect('q quit', 'the dashboard');
      act(pane);
      t.equal(await pane.exited(), 0, 'exit status 0');
      t.match(pane.history(), expected, 'the end output on the normal screen');
      t.notMatch(pane.history(), /not run|Per CPU/, 'no trace_end after an error; the dashboard is gone');
      await restored(t, pane, stty);
      t.same(leftovers(pid), [], 'nothing left in tracefs');
    });
  };
  const probe = 'trace syscalls:sys_enter_getppid { calls[execname] += 1 }';

  ending('Ctrl-C', ['--tui', '-e', `var calls = {} ${probe} trace_end { print("ended by Ctrl-C") }`],
    (pane) => pane.keys('C-c'), /^ended by Ctrl-C$/m);
  ending('exit() in a handler', ['--tui', '--interval', '200', '-e', `var calls = {} var n = 0 ${probe} tick-300ms { n += 1 if (n == 6) { exit() } } trace_end { print("ended by exit", n) }`],
    () => undefined, /^ended by exit\s+6$/m);
  ending('the end of -- cmd', ['--tui', '-e', `var calls = {} ${probe} trace_end { print("workload calls", calls["tuiload"]) }`, '--', 'sh', '-c', `sleep 2; ${workload} getppid 300`],
    () => undefined, /^workload calls\s+300$/m);
  ending('a runtime error', ['--tui', '-e', `var calls = {} var n = 0 ${probe} tick-300ms { n += 1 if (n == 6) { var none = nil none.x = 1 } } trace_end { print("not run") }`],
    () => undefined, /^error: set key to non-table$/m);
}
