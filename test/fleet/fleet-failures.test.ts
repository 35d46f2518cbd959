// Hosts that fail (test/fleet/harness.ts): a wrong key and a closed port, a garbled or
// oversized agent message, a host that hangs — one line each, the others go on, the
// coordinator never crashes and nothing is left in tracefs.

import t from 'tap';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeKeys, startSshd } from '../support/sshd';
import { leftovers, root } from '../support/tracing';
import { waitFor } from '../support/wait';
import { CALLS, COUNTING, TestFleet, fleetUnavailable } from './harness';

const reason = fleetUnavailable();
if (reason !== undefined) {
  t.test('fleet failures over ssh', { skip: reason }, () => undefined);
} else {
  let fleet: TestFleet;
  t.before(async () => {
    fleet = await TestFleet.start();
  });
  t.teardown(() => fleet.stop());

  t.test('a wrong key and an unreachable host: one line each, the good host goes on', async (t) => {
    // This server accepts only a key the client does not have.
    const otherDirectory = mkdtempSync(join(fleet.directory, 'other-'));
    const locked = await startSshd(otherDirectory, makeKeys(otherDirectory, 'other'), '127.0.0.5');
    t.teardown(() => locked.stop());
    const lockedLabel = `root@127.0.0.5:${locked.port}`;
    const run = fleet.run(['--hosts', `${fleet.label(0)},${lockedLabel},127.0.0.6:1`, '--connect-timeout', '5', '-e', COUNTING, '--', ...fleet.perHostCommand()]);
    t.equal(await run.exited, 1, 'exit status 1');
    const errors = run.stderr.split('\n').filter((line) => line.startsWith('error:'));
    t.equal(errors.length, 2, `two error lines: ${run.stderr}`);
    t.match(errors.find((line) => line.includes(lockedLabel)), /^error: \[root@127\.0\.0\.5:\d+\] root@127\.0\.0\.5: Permission denied \(publickey\)\.$/, 'the wrong key says so');
    t.match(errors.find((line) => line.includes('127.0.0.6:1')), /^error: \[127\.0\.0\.6:1\] ssh: connect to host 127\.0\.0\.6 port 1: Connection refused$/, 'the closed port says so');
    t.match(run.stdout, /^\s+workload \|@+\s*1000\s*$/m, 'the good host was traced');
  });

  t.test('a host without root and one without tracefs: one line each, the other host goes on', async (t) => {
    // The agents run from a copy of the bundle any user can read; the host's name picks how:
    // b as nobody, c in a mount namespace where tracefs is hidden and cannot be mounted.
    const place = mkdtempSync(join(tmpdir(), 'ktap-fleet-agent-'));
    t.teardown(() => rmSync(place, { recursive: true, force: true }));
    chmodSync(place, 0o755);
    const bundle = join(place, 'ktap.js');
    copyFileSync(join(root, 'dist', 'ktap.js'), bundle);
    mkdirSync(join(place, 'nomount'));
    writeFileSync(join(place, 'nomount', 'mount'), '#!/bin/sh\necho "mount: only root can do that" >&2\nexit 32\n', { mode: 0o755 });
    const wrapper = join(place, 'agent.sh');
    writeFileSync(wrapper, [
      'case "$KTAP_TEST_HOST" in',
      `b) exec setpriv --reuid=65534 --regid=65534 --clear-groups node ${bundle} "$@" ;;`,
      `c) exec unshare -m sh -c 'mount -t tmpfs none /sys/kernel/tracing && mount -t tmpfs none /sys/kernel/debug && PATH=${place}/nomount:$PATH exec node ${bundle} "$@"' agent "$@" ;;`,
      `*) exec node ${bundle} "$@" ;;`,
      'esac',
      '',
    ].join('\n'));
    const run = fleet.run(['--hosts', fleet.hostList(), '--remote-ktap', `sh ${wrapper}`, '-e', COUNTING, '--', ...fleet.perHostCommand()]);
    t.equal(await run.exited, 1, 'exit status 1');
    const errors = run.stderr.split('\n').filter((line) => line.startsWith('error:'));
    t.equal(errors.length, 2, `two error lines: ${run.stderr}`);
    t.match(errors.find((line) => line.includes(fleet.label(1))), new RegExp(`^error: \\[${fleet.labelPattern(1)}\\] tracing needs root`), 'no root says so');
    t.match(errors.find((line) => line.includes(fleet.label(2))), new RegExp(`^error: \\[${fleet.labelPattern(2)}\\] cannot find or mount tracefs: `), 'no tracefs says so');
    t.match(run.stdout, new RegExp(`^\\s+workload \\|@+\\s*${CALLS.a}\\s*$`, 'm'), 'the good host was traced exactly');
  });

  t.test('a garbled or oversized agent message fails its host, not the coordinator', async (t) => {
    const garbled = fleet.run(['--hosts', fleet.label(0), '--remote-ktap', `echo '{"type":"hello"' #`, '-e', 'print(1)']);
    const oversized = fleet.run(['--hosts', fleet.label(1), '--remote-ktap', `head -c 9000000 /dev/zero | tr '\\0' x; sleep 30 #`, '-e', 'print(1)']);
    t.equal(await garbled.exited, 1);
    t.match(garbled.stderr, /^error: \[root@127\.0\.0\.2:\d+\] bad message from the agent: not a JSON line: .*$/m);
    t.equal(await oversized.exited, 1);
    t.match(oversized.stderr, /^error: \[root@127\.0\.0\.3:\d+\] a message over the size limit$/m);
    t.notMatch(garbled.stderr + oversized.stderr, /internal error/);
  });

  t.test('a host that hangs is failed after its silence; it cleans up once it runs again', async (t) => {
    // The workload's last line can arrive before the update that carries its calls (updates go
    // every interval, output at once): a tick on the coordinator says when the merged view has
    // them, and only then is the host stopped. (`told` is a number: the hosts' 0s sum to 0.)
    const script = `${COUNTING}\nvar told = 0\ntick-100ms { if (told == 0 && s["workload"] == ${CALLS.a}) { print("merged") told = 1 } }`;
    const run = fleet.run(['--hosts', fleet.label(0), '--interval', '200', '-e', script, '--', ...fleet.perHostCommand('exec sleep 60')]);
    await waitFor(() => /^merged$/m.test(run.stdout) || undefined, 'the workload\'s calls in the merged view', 60_000);
    const [agent] = fleet.agentsOf(0);
    process.kill(agent!, 'SIGSTOP');
    try {
      await waitFor(() => new RegExp(`^error: \\[${fleet.labelPattern(0)}\\] no message for \\d+ s: the host or its connection hangs$`, 'm').test(run.stderr) || undefined,
        'the hang reported', 40_000);
    } finally {
      process.kill(agent!, 'SIGCONT');
    }
    t.equal(await run.exited, 1, 'exit status 1');
    t.match(run.stdout, /^\s+workload \|@+\s*1000\s*$/m, 'what came before the hang is merged');
    await waitFor(() => !existsSync(`/proc/${agent}`) || undefined, 'the agent to end once its channel is gone');
    t.same(leftovers(agent), [], 'nothing left in tracefs');
  });
}
