// The REPL on a fleet (test/fleet/harness.ts): `ktap -i --hosts a,b,c` with inputs on a pipe.
// Handlers attach on every host and say so per host; each host's workload (a binary named
// after the host, run over ssh) is counted there and the merged table is what inputs and
// .tables see; a host that dies is reported and the others go on; .detach detaches live on
// the hosts; EOF runs trace_end on the merged view and nothing is left in tracefs.

import t from 'tap';
import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { leftovers } from '../support/tracing';
import { waitFor } from '../support/wait';
import { shellQuote } from '../support/tmux';
import { CALLS, HOST_NAMES, TestFleet, descendants, fleetUnavailable, type Run } from './harness';

const reason = fleetUnavailable();
if (reason !== undefined) {
  t.test('the REPL on a fleet', { skip: reason }, () => undefined);
} else {
  let fleet: TestFleet;
  t.before(async () => {
    fleet = await TestFleet.start();
    // Every "host" is this machine: each agent sees every host's workload, so each one is
    // named after its host (work-a, …) and counted only by that host's agent.
    for (const name of HOST_NAMES) copyFileSync(fleet.workload, join(fleet.directory, `work-${name}`));
  });
  t.teardown(() => fleet.stop());

  /** Sends `input` until the output shows `pattern` (the merged view catches up every interval). */
  const askUntil = async (run: Run, input: string, pattern: RegExp, what: string): Promise<void> => {
    let asked = 0;
    await waitFor(() => {
      if (pattern.test(run.stdout)) return true;
      if (asked++ % 10 === 0) run.line(input);
      return undefined;
    }, what, 60_000);
  };
  const workloadOn = (index: number): Promise<number | null> =>
    fleet.onHost(index, `${shellQuote(join(fleet.directory, 'work-'))}"$KTAP_TEST_HOST" getppid "$KTAP_TEST_CALLS"`);

  t.test('inputs run on every host; merged tables; a host failure reported; live detach; trace_end at EOF', async (t) => {
    const run = fleet.run(['-i', '--hosts', fleet.hostList(), '--interval', '200']);
    t.teardown(() => run.signal('SIGKILL'));
    t.teardown(() => {
      if (!t.passing()) t.comment(`stdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
    });
    const mine = HOST_NAMES.map((name, index) => `(host() == "${fleet.label(index)}" && execname == "work-${name}")`).join(' || ');
    run.line('var s = {}');
    run.line('var t = {}');
    run.line('trace_end { print("end", s["work-a"], s["work-b"], t["work-a"]) }');
    run.line(`trace syscalls:sys_enter_getppid { if (${mine}) { s[execname] += 1 } }`);
    const attached = (id: number): RegExp[] => HOST_NAMES.map((_, index) =>
      new RegExp(`^\\[${fleet.labelPattern(index)}\\] \\[${id}\\] trace syscalls:sys_enter_getppid \\(1 event\\)$`, 'm'));
    await waitFor(() => attached(1).every((line) => line.test(run.stderr + run.stdout)) || undefined, 'handler 1 attached on every host', 60_000);
    const agents = HOST_NAMES.map((_, index) => fleet.agentsOf(index)[0]);
    t.ok(agents.every((pid) => pid !== undefined && leftovers(pid).length > 0), 'an agent traces under each sshd');

    t.same(await Promise.all(HOST_NAMES.map((_, index) => workloadOn(index))), [0, 0, 0], 'the workloads ran on their hosts');
    await askUntil(run, 'print("merged", s["work-a"], s["work-b"], s["work-c"])', new RegExp(`^merged\\t${CALLS.a}\\t${CALLS.b}\\t${CALLS.c}$`, 'm'),
      'the merged table to hold every host\'s count');
    run.line('.tables');
    await waitFor(() => /^s +3 entries$/m.test(run.stdout) || undefined, '.tables on the merged view');
    run.line('.probes');
    await waitFor(() => new RegExp(`^1 +trace syscalls:sys_enter_getppid +\\d+ +\\d+\\.\\d +hosts$`, 'm').test(run.stdout) || undefined, '.probes: the handler runs on the hosts');
    t.match(run.stdout, new RegExp(`^${fleet.labelPattern(2)} +\\d+ +0 +tracing$`, 'm'), '.probes: a row per host');

    // Host c's connection dies: one line, the others go on.
    for (const pid of descendants(fleet.servers[2]!.process.pid!, 'sshd')) process.kill(pid, 'SIGKILL');
    await waitFor(() => new RegExp(`^error: \\[${fleet.labelPattern(2)}\\] .+$`, 'm').test(run.stdout + run.stderr) || undefined, 'c reported failed', 30_000);

    // Detached on the hosts before the next workload: handler 2 counts it, handler 1 does not.
    run.line('.detach 1');
    run.line(`trace syscalls:sys_enter_getppid { if (${mine}) { t[execname] += 1 } }`);
    await waitFor(() => attached(2).slice(0, 2).every((line) => line.test(run.stderr + run.stdout)) || undefined, 'handler 2 attached on a and b', 60_000);
    t.equal(await workloadOn(0), 0, 'a\'s workload ran again');
    await askUntil(run, 'print("second", t["work-a"], s["work-a"])', new RegExp(`^second\\t${CALLS.a}\\t`, 'm'), 'handler 2\'s count of the second workload');
    t.match(run.stdout, new RegExp(`^second\\t${CALLS.a}\\t${CALLS.a}$`, 'm'), 'handler 1, detached, did not count it');

    run.end();
    t.equal(await run.exited, 1, 'EOF: exit 1, a host failed');
    t.match(run.stdout, new RegExp(`^end\\t${CALLS.a}\\t${CALLS.b}\\t${CALLS.a}$`, 'm'), 'trace_end ran on the merged view');
    const errors = (run.stdout + run.stderr).split('\n').filter((line) => line.startsWith('error:'));
    t.equal(errors.length, 1, `one error line: ${errors.join(' | ')}`);
    await waitFor(() => agents.every((pid) => !existsSync(`/proc/${pid}`)) || undefined, 'every agent to end');
    t.same(agents.flatMap((pid) => leftovers(pid!)), [], 'nothing left in tracefs on any host');
  });
}
