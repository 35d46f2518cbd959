// The dashboard over a real SSH connection, as people watch it: an OpenSSH server on
// 127.0.0.1 started here with keys made here, `ssh -tt` in a tmux pane running
// `ktap --tui`; the dashboard renders through the remote pseudo-terminal and q ends it
// cleanly. The server is torn down after.

import t from 'tap';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clientOptions, makeKeys, sshUnavailable as sshdUnavailable, startSshd } from '../support/sshd';
import { ktap, leftovers, root } from '../support/tracing';
import { Pane, shellQuote, stopTmuxServer } from '../support/tmux';
import { waitFor } from '../support/wait';
import { dashboardUnavailable, paneRows } from './harness';
import { skipFile } from '../support/skip';
import { compile, WORKLOAD_C } from '../support/workloads';

function sshUnavailable(): string | undefined {
  return dashboardUnavailable() ?? sshdUnavailable();
}

/** The pid of a running process whose command line contains `marker`, if any. */
function processWith(marker: string): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const commandLine = readFileSync(`/proc/${entry}/cmdline`, 'latin1').split('\0');
      if (commandLine.some((word) => word.includes(marker)) && commandLine.some((word) => word.endsWith('bin/ktap'))) return Number(entry);
    } catch {
      // the process ended meanwhile
    }
  }
  return undefined;
}

const reason = sshUnavailable();
if (reason !== undefined) {
  skipFile('dashboard over SSH', reason);
} else {
  t.test('ktap --tui over ssh -tt on loopback renders and quits cleanly', async (t) => {
    const directory = mkdtempSync(join(tmpdir(), 'ktap-tui-ssh-'));
    t.teardown(() => {
      stopTmuxServer();
      rmSync(directory, { recursive: true, force: true });
    });
    const keys = makeKeys(directory);
    const sshd = await startSshd(directory, keys);
    t.teardown(() => sshd.stop());
    const port = sshd.port;

    const workload = compile(directory, WORKLOAD_C, 'sshload');
    const script = join(directory, 'over-ssh.kp');
    writeFileSync(script, [
      'var calls = {}',
      'trace syscalls:sys_enter_getppid { calls[execname] += 1 }',
      'trace_end { printf("over ssh: %d\\n", calls["sshload"]) }',
      '',
    ].join('\n'));
    const remote = `cd ${shellQuote(root)} && exec ${shellQuote(process.execPath)} ${shellQuote(ktap)} --tui --interval 250 ${shellQuote(script)} ` +
      `-- sh -c ${shellQuote(`${workload} getppid 2000; exec sleep 120`)}`;
    const pane = Pane.open(['ssh', '-tt', ...clientOptions(keys), '-p', String(port), '-o', 'BatchMode=yes', 'root@127.0.0.1', remote], { width: 80, height: 24 });
    t.teardown(() => pane.close());

    // Bars are blocks, or '#' where the remote side has no UTF-8 locale (ssh passes none here).
    const screen = await pane.expect((text) => paneRows(text, ' calls ').some((row) => /^sshload\s+\|[█#]+\s+2000$/.test(row)) &&
      /q quit/.test(text.split('\n').at(-1) ?? ''), 'the dashboard over ssh with sshload 2000', 30_000);
    const remotePid = processWith(script);
    t.ok(remotePid !== undefined, 'ktap runs on the server side of the connection');
    t.ok(pane.state().alternate, 'the remote dashboard is on the alternate screen');
    t.ok(paneRows(screen, ' Per CPU ').length > 1, 'per-CPU pane');
    t.match(screen.split('\n').at(-1), /^\d+:\d\d ev \S+ lost \d+ vm \S+\/s rss \d+M +q quit/, 'status line');
    t.ok(screen.split('\n').every((line) => line.length <= 80), '80 columns');

    pane.keys('q');
    t.equal(await pane.exited(), 0, 'ssh (and ktap) exit 0');
    t.match(pane.history(), /^over ssh: 2000$/m, 'trace_end output on the normal screen');
    t.notOk(pane.state().alternate, 'the terminal is back on the normal screen');
    t.ok(pane.state().cursorVisible, 'cursor visible');
    await waitFor(() => processWith(script) === undefined || undefined, 'the remote ktap to end');
    t.same(leftovers(remotePid), [], 'nothing left in tracefs');
  });
}
