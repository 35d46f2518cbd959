// The dashboard of a fleet (test/fleet/harness.ts): `ktap --tui --hosts a,b,c` in a tmux
// pane shows the merged histogram and a per-host pane live; q ends every agent and
// trace_end prints the merged histogram on the normal screen.

import t from 'tap';
import { ktap } from '../support/tracing';
import { Pane, stopTmuxServer } from '../support/tmux';
import { dashboardUnavailable, paneRows } from '../tui/harness';
import { CALLS, HOST_NAMES, TestFleet, fleetUnavailable } from './harness';

const reason = fleetUnavailable() ?? dashboardUnavailable();
if (reason !== undefined) {
  t.test('fleet dashboard', { skip: reason }, () => undefined);
} else {
  let fleet: TestFleet;
  t.before(async () => {
    fleet = await TestFleet.start();
  });
  t.teardown(async () => {
    stopTmuxServer();
    await fleet.stop();
  });

  t.test('--tui shows the merged histogram and each host live', async (t) => {
    const pane = Pane.open([process.execPath, ktap, '--tui', '--interval', '250', '--hosts', fleet.hostList(),
      '-e', 'var s = {} trace syscalls:sys_enter_getppid { s[execname] += 1 } trace_end { print_hist(s) }',
      '--', ...fleet.perHostCommand('exec sleep 60')], { width: 100, height: 30, env: [`KTAP_SSH_COMMAND=${fleet.sshCommand}`] });
    t.teardown(() => pane.close());
    // HOST ev/s total lost state; the total counts every getppid of the host's workload (its shell's too).
    const hostShown = (rows: string[], index: number): boolean => rows.some((row) => {
      const match = new RegExp(`^\\S*:${fleet.servers[index]!.port}\\s+\\S+\\s+(\\d+)\\s+0 tracing$`).exec(row);
      return match !== null && Number(match[1]) >= CALLS[HOST_NAMES[index]!]!;
    });
    const screen = await pane.expect((text) => paneRows(text, ' s ').some((row) => /^workload\s+\|[█#]+\s+6000$/.test(row)) &&
      HOST_NAMES.every((_, index) => hostShown(paneRows(text, ' Per host '), index)), 'the merged histogram and three hosts tracing', 60_000);
    t.ok(paneRows(screen, ' Per host ')[0]!.startsWith('HOST'), 'the per-host pane');
    t.match(screen.split('\n').at(-1), /^\d+:\d\d ev \S+ lost 0 /, 'status line');
    pane.keys('q');
    t.equal(await pane.exited(30_000), 0, 'q: exit 0');
    t.match(pane.history(), /^\s+workload \|@+\s*6000\s*$/m, 'trace_end prints the merged histogram on the normal screen');
  });
}
