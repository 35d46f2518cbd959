// The fleet over real OpenSSH (test/fleet/harness.ts): three sshd "hosts" on 127.0.0.2-4,
// each running a workload of a known size through `ktap --hosts … -- cmd`. Merged and
// per-host counts, trace_end on the merged view, --json, a host killed mid-run, then
// Ctrl-C — and nothing left in tracefs on any "host".

import t from 'tap';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { leftovers } from '../support/tracing';
import { waitFor } from '../support/wait';
import { shellQuote } from '../support/tmux';
import { CALLS, COUNTING, HOST_NAMES, TestFleet, descendants, fleetUnavailable } from './harness';

const reason = fleetUnavailable();
if (reason !== undefined) {
  t.test('fleet over ssh', { skip: reason }, () => undefined);
} else {
  let fleet: TestFleet;
  t.before(async () => {
    fleet = await TestFleet.start();
  });
  t.teardown(() => fleet.stop());

  t.test('three hosts: one merged histogram, exact per-host keys, the bundle cached by hash', async (t) => {
    const run = fleet.run(['--hosts', fleet.hostList(), '--interval', '200', '-e', COUNTING, '--', ...fleet.perHostCommand()]);
    t.equal(await run.exited, 0, `exit 0 (stderr: ${run.stderr})`);
    t.match(run.stdout, /^\s+workload \|@+\s*6000\s*$/m, 'the merged histogram sums the three hosts: 1000 + 2000 + 3000');
    t.equal((run.stdout.match(/Distribution/g) ?? []).length, 1, 'one histogram');
    for (const [index, name] of HOST_NAMES.entries()) {
      t.match(run.stdout, new RegExp(`^${fleet.labelPattern(index)}=${CALLS[name]}$`, 'm'), `host() key of ${name}: ${CALLS[name]}`);
      t.match(run.stdout, new RegExp(`^\\[${fleet.labelPattern(index)}\\] done ${name}$`, 'm'), `workload output of ${name} carries its host`);
      const cache = join(fleet.cacheOf(name), 'ktap');
      t.match(existsSync(cache) ? readdirSync(cache) : [], [/^ktap-[0-9a-f]{16}\.js$/], `the bundle is cached on ${name} by its hash`);
    }
  });

  t.test('--json lines carry their host', async (t) => {
    const run = fleet.run(['--hosts', fleet.label(0), '--json', '-q', '-e', 'print("hi", host())']);
    t.equal(await run.exited, 0, `exit 0 (stderr: ${run.stderr})`);
    t.same(run.stdout.trim().split('\n').map((line) => JSON.parse(line) as unknown), [{ host: fleet.label(0), type: 'print', values: ['hi', fleet.label(0)] }]);
  });

  t.test('a host killed mid-run is reported and the others count exactly; Ctrl-C then ends every agent; nothing is left', async (t) => {
    const run = fleet.run(['--hosts', fleet.hostList(), '--interval', '200', '-e', COUNTING, '--', ...fleet.perHostCommand('exec sleep 60')]);
    await waitFor(() => HOST_NAMES.every((name) => run.stdout.includes(`] done ${name}`)) || undefined, 'every workload to finish', 60_000);
    const agents = HOST_NAMES.map((_, index) => fleet.agentsOf(index)[0]);
    t.ok(agents.every((pid) => pid !== undefined), 'an agent runs under each sshd');
    t.ok(agents.every((pid) => leftovers(pid).length > 0), 'each agent traces in an instance of its own');
    // The connection to b dies: its sshd session processes are killed.
    for (const pid of descendants(fleet.servers[1]!.process.pid!, 'sshd')) process.kill(pid, 'SIGKILL');
    await waitFor(() => new RegExp(`^error: \\[${fleet.labelPattern(1)}\\] .+$`, 'm').test(run.stderr) || undefined, 'b reported failed', 30_000);
    run.signal('SIGINT');
    t.equal(await run.exited, 1, 'exit status 1: a host failed');
    t.equal(run.stderr.split('\n').filter((line) => line.startsWith('error:')).length, 1, `one error line (${run.stderr})`);
    t.match(run.stdout, new RegExp(`^${fleet.labelPattern(0)}=1000$`, 'm'), 'a: 1000');
    t.match(run.stdout, new RegExp(`^${fleet.labelPattern(2)}=3000$`, 'm'), 'c: 3000');
    t.equal((run.stdout.match(/Distribution/g) ?? []).length, 1, 'trace_end printed the merged histogram after Ctrl-C');
    await waitFor(() => agents.every((pid) => !existsSync(`/proc/${pid}`)) || undefined, 'every agent to end');
    t.same(agents.flatMap((pid) => leftovers(pid)), [], 'nothing left in tracefs on any host');
  });

  t.test('-C, -T and -d hold on every host; -p and --metrics are refused in one line', async (t) => {
    const workload = shellQuote(fleet.workload);
    const counting = 'var n = 0 trace syscalls:sys_enter_getppid { if (execname == "workload") { n += 1 } } trace_end { print(n) }';
    const [oneCpu, stamped, dryGood, dryBad] = [
      // -C 1: the calls made on CPU 0 are not traced, those on CPU 1 are.
      fleet.run(['--hosts', fleet.label(0), '-q', '-C', '1', '-e', counting, '--', 'sh', '-c', `taskset -c 0 ${workload} getppid 100; taskset -c 1 ${workload} getppid 10`]),
      fleet.run(['--hosts', fleet.label(1), '-q', '-T', '-e', 'trace syscalls:sys_enter_getppid { if (execname == "workload") { print("call") exit() } }', '--', fleet.workload, 'getppid', '1']),
      fleet.run(['--hosts', fleet.label(2), '-q', '-d', '-v', '-e', 'trace syscalls:sys_enter_getppid { }', '--', 'true']),
      fleet.run(['--hosts', fleet.label(0), '-q', '-d', '-e', 'trace syscalls:sys_enter_getppid { } trace syscalls:sys_enter_nosuch { }', '--', 'true']),
    ];
    t.equal(await oneCpu.exited, 0, `-C: exit 0 (${oneCpu.stderr})`);
    t.equal(oneCpu.stdout, '10\n', '-C 1 on the host: only the calls made on CPU 1');
    t.equal(await stamped.exited, 0, `-T: exit 0 (${stamped.stderr})`);
    t.match(stamped.stdout, new RegExp(`^\\[${fleet.labelPattern(1)}\\] \\d+\\.\\d{6} call\n$`), '-T: the host\'s event output starts with its timestamp');
    t.equal(await dryGood.exited, 0, `-d: exit 0 (${dryGood.stderr})`);
    t.match(dryGood.stderr, new RegExp(`^\\[${fleet.labelPattern(2)}\\] ktap: would attach syscalls:sys_enter_getppid`, 'm'), '-d -v: the host says what it would attach');
    t.equal(await dryBad.exited, 1, '-d with an event the host lacks: exit 1');
    t.match(dryBad.stderr, new RegExp(`^error: \\[${fleet.labelPattern(0)}\\] unknown event 'syscalls:sys_enter_nosuch'`, 'm'), '-d: the host that lacks the event, in one line');
    const pid = fleet.run(['--hosts', fleet.label(0), '-p', '1', '-e', 'print(1)']);
    t.equal(await pid.exited, 1);
    t.equal(pid.stderr, "error: conflicting options: -p names a process of one machine; with --hosts use -- cmd (see 'ktap -h')\n");
    const metrics = fleet.run(['--hosts', fleet.label(0), '--metrics', '0', '-e', 'print(1)']);
    t.equal(await metrics.exited, 1);
    t.match(metrics.stderr, /^error: conflicting options: cannot combine --metrics and --hosts; [^\n]*\n$/);
  });

  t.test('bad --hosts input: one line naming what is wrong', async (t) => {
    const hostsFile = join(fleet.directory, 'hosts');
    writeFileSync(hostsFile, `# fleet\n${fleet.label(0)}\nroot@bad host\n`);
    const fromFile = fleet.run(['--hosts-file', hostsFile, '-e', 'print(1)']);
    t.equal(await fromFile.exited, 1);
    t.equal(fromFile.stderr, `error: ${hostsFile}:3: 'root@bad host' is not [user@]host[:port]\n`);
    const twice = fleet.run(['--hosts', 'a,a', '-e', 'print(1)']);
    t.equal(await twice.exited, 1);
    t.equal(twice.stderr, "error: host 'a' is listed twice\n");
  });
}
