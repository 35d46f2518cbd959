// Uprobes in the kernel tier (the uprobe PMU, one perf event per address): the same script
// under --tier kernel and --tier user gives the same tables for a workload of known calls —
// counts by probename, a sum of an argument, a return value's histogram, the probed and return
// addresses — nothing is written to uprobe_events while the kernel tier runs, and -v says
// which tier runs each handler and why.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bpfUnavailable } from './support';
import { skipFile } from '../support/skip';
import { TRACEFS, ktap, leftovers, tracingUnavailable, uprobesUnavailable } from '../support/tracing';
import { uprobePmuType } from '../../src/bpf/attach';
import { compile, scratchDirectory } from '../support/workloads';

// kup_scale(i % 10, 3) N times; then uprobe_events is copied to the file named by argv[2],
// while the probes are still attached.
const WORKLOAD = `
#include <stdio.h>
#include <stdlib.h>
__attribute__((noinline, noipa)) long kup_scale(long value, long factor) { return value * factor; }
int main(int argc, char **argv) {
  long count = atol(argv[1]), total = 0;
  for (long i = 0; i < count; i++) total += kup_scale(i % 10, 3);
  char command[512];
  snprintf(command, sizeof command, "cat ${TRACEFS}/uprobe_events > %s", argv[2]);
  return system(command) + (int)(total & 0);
}
`;

const unavailable = bpfUnavailable() ?? tracingUnavailable() ?? uprobesUnavailable()
  ?? (uprobePmuType() === undefined ? 'no uprobe PMU' : undefined);

if (unavailable !== undefined) {
  skipFile('uprobes in the kernel tier', unavailable);
} else {
  const directory = scratchDirectory(t, 'uprobe-tier');
  writeFileSync(join(directory, 'kupwork.c'), WORKLOAD);
  const workload = compile(directory, join(directory, 'kupwork.c'), 'kupwork');
  // Addresses differ between runs (ASLR) by whole pages: their offsets in the page do not.
  const script = `var n = {} var sum = {} var rets = {} var ips = {} var back = {}
trace probe:${workload}:kup_scale { n[probename] += 1 sum[probename] += arg1 + arg2 ips[arg0 % 4096] += 1 }
trace probe:${workload}:kup_scale%return { n[probename] += 1 sum[probename] += args.retval rets[arg2] += 1 back[arg1 % 4096] += 1 }
trace_end {
  for (k, v in pairs(n)) { printf("n %s %d\\n", k, v) }
  for (k, v in pairs(sum)) { printf("sum %s %d\\n", k, v) }
  for (k, v in pairs(rets)) { printf("ret %d %d\\n", k, v) }
  for (k, v in pairs(ips)) { printf("ip %d %d\\n", k, v) }
  for (k, v in pairs(back)) { printf("back %d %d\\n", k, v) }
}`;
  const CALLS = 2000;

  const run = (tier: string, text = script) => {
    const copy = join(directory, `uprobe_events.${tier}`);
    const result = spawnSync(process.execPath, [ktap, '-q', '-v', '--tier', tier, '-e', text, '--', workload, String(CALLS), copy], { encoding: 'utf8' });
    return { ...result, lines: result.stdout.split('\n').filter((line) => line !== '').sort(), during: readFileSync(copy, 'latin1') };
  };

  t.test('the same tables in both tiers; nothing in uprobe_events under the kernel tier', async (t) => {
    const kernel = run('kernel');
    t.equal(kernel.status, 0, kernel.stderr);
    t.match(kernel.stderr, /kup_scale: kernel tier \(eBPF\)/);
    t.match(kernel.stderr, /kup_scale%return: kernel tier \(eBPF\)/);
    t.notOk(kernel.during.includes(workload), 'uprobe_events names no probe of the workload while the kernel tier runs');
    t.strictSame(leftovers(kernel.pid), []);
    const user = run('user');
    t.equal(user.status, 0, user.stderr);
    t.ok(user.during.includes(workload), 'the user tier defines its uprobes in uprobe_events (the check can fail)');
    t.strictSame(kernel.lines, user.lines);
    // 2000 calls of kup_scale(i % 10, 3): each value 200 times.
    t.ok(kernel.lines.includes(`n kup_scale ${CALLS}`) && kernel.lines.includes(`n ret_kup_scale ${CALLS}`), kernel.stdout);
    t.ok(kernel.lines.includes(`sum kup_scale ${CALLS / 10 * 45 + CALLS * 3}`), kernel.stdout);
    t.ok(kernel.lines.includes(`sum ret_kup_scale ${CALLS / 10 * 45 * 3}`), kernel.stdout);
    for (let value = 0; value < 10; value++) t.ok(kernel.lines.includes(`ret ${value * 3} ${CALLS / 10}`), `kup_scale returned ${value * 3}`);
    t.equal(kernel.lines.filter((line) => line.startsWith('ip ')).length, 1, 'one probed address');
    t.equal(kernel.lines.filter((line) => line.startsWith('back ')).length, 1, 'one return address');
  });

  t.test('what a uprobe handler cannot read as the user tier does keeps it in user space, with the reason', async (t) => {
    const auto = spawnSync(process.execPath, [ktap, '-q', '-v', '-e',
      `var n = 0 var f = 0 trace probe:${workload}:kup_scale%return { n += arg0 } trace probe:${workload}:kup_scale /arg1 == 3/ { f += 1 } trace_end { print(n > 0, f) }`,
      '--', workload, '10', join(directory, 'uprobe_events.auto')], { encoding: 'utf8' });
    t.equal(auto.status, 0, auto.stderr);
    t.equal(auto.stdout, 'true\t1\n');
    t.match(auto.stderr, /kup_scale%return: user tier \(line 1: arg0 of a uretprobe is read in user space\)/);
    t.match(auto.stderr, /kup_scale \/arg1 == 3\/: user tier \(line 1: a uprobe's filter runs in user space\)/);
  });
}
