// `.dash` in the REPL (tmux): the dashboard opens on the running session and shows its
// tables and probes live; q comes back to a working prompt with the session intact.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ktap, leftovers, root } from '../support/tracing';
import { Pane, stopTmuxServer } from '../support/tmux';
import { sleep, waitFor } from '../support/wait';
import { dashboardUnavailable, paneRows } from './harness';
import { skipFile } from '../support/skip';

const reason = dashboardUnavailable();
if (reason !== undefined) {
  skipFile('REPL .dash tests', reason);
} else {
  const directory = mkdtempSync(join(tmpdir(), 'ktap-tui-repl-'));
  // A name of its own, so that other tests' workloads running meanwhile are not counted.
  const workload = join(directory, 'dashload');
  spawnSync('cc', ['-O1', '-o', workload, join(root, 'test', 'session', 'workload.c')], { stdio: 'inherit' });
  t.teardown(() => {
    stopTmuxServer();
    rmSync(directory, { recursive: true, force: true });
  });
  const calls = (count: number): void => {
    spawnSync(workload, ['getppid', String(count)], { stdio: 'ignore' });
  };

  t.test('.dash opens on the live session; q returns to a working prompt', async (t) => {
    const home = mkdtempSync(join(directory, 'home-'));
    const stty = join(home, 'stty');
    const pane = Pane.open([process.execPath, ktap, '-i'], { width: 100, height: 30, cwd: home, env: [`HOME=${home}`], sttyFile: stty });
    t.teardown(() => pane.close());
    const pid = await pane.childPid();
    const atPrompt = (text: string): boolean => text.split('\n').at(-1) === 'ktap>';
    await pane.expect(atPrompt, 'the prompt');

    pane.line('var calls = {}');
    // The kernel passes only the workload's calls: other tests' load cannot crowd them out.
    pane.line('trace syscalls:sys_enter_getppid /comm == "dashload"/ { calls[execname] += 1 }');
    await pane.expect('[1] trace syscalls:sys_enter_getppid /comm == "dashload"/ (1 event)');
    await pane.expect(atPrompt, 'the prompt');
    calls(700);

    pane.line('.dash');
    let screen = await pane.expect((text) => paneRows(text, ' calls ').some((row) => /^dashload\s+\|█+\s+700$/.test(row)), 'the dashboard with dashload 700');
    t.ok(pane.state().alternate, 'on the alternate screen');
    t.ok(paneRows(screen, ' Events/s, last minute ').some((row) => row.startsWith('syscalls:sys_enter_getppid')), 'the probe has a rate row');
    t.match(screen.split('\n').at(-1), /q quit/, 'status line with the keys');

    // Events keep flowing into the session while the dashboard is up.
    calls(300);
    screen = await pane.expect((text) => paneRows(text, ' calls ').some((row) => /^dashload\s+\|█+\s+1000$/.test(row)), 'dashload 1000');

    pane.keys('q');
    screen = await pane.expect(atPrompt, 'the prompt again');
    t.notOk(pane.state().alternate, 'back on the normal screen');
    t.ok(pane.state().cursorVisible, 'cursor visible');
    t.notMatch(screen, /Per CPU/, 'the dashboard is gone');

    let queries = 0;
    /** Prints the count until it is `expected` (events are read asynchronously). */
    const countBecomes = async (expected: number, what: string): Promise<void> => {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const tag = `q${++queries}`;
        pane.line(`print("${tag}", calls["dashload"])`);
        const screen = await pane.expect(new RegExp(`^${tag}\\s+\\d+$`, 'm'), `the answer to ${tag}`);
        const value = Number(new RegExp(`^${tag}\\s+(\\d+)$`, 'm').exec(screen)![1]);
        if (value === expected || Date.now() > deadline) {
          t.equal(value, expected, what);
          return;
        }
        await sleep(200);
      }
    };
    await countBecomes(1000, 'the session intact: the table counted on');
    calls(25);
    await countBecomes(1025, 'the probe still attached after the dashboard');

    // Typed text still reaches the line editor (raw mode given back): completion and editing work.
    pane.type('print("typed" .. "ok")');
    pane.keys('Enter');
    await pane.expect(/^typedok$/m, 'line editing works');

    pane.line('.exit');
    t.equal(await pane.exited(), 0, '.exit exits 0');
    await waitFor(() => existsSync(stty + '.after'), 'the shell to record the terminal modes');
    t.same(leftovers(pid), [], 'nothing left in tracefs');
  });
}
