// profile-N in the kernel tier: the same sampling script under --tier kernel and --tier user
// (a perf CPU clock at N Hz either way) gives consistent tables — the busy workload's name
// dominates, samples per second of its CPU time near N, the per-CPU counts add up — stack()
// keys end in the sampled code, and -v, -b and --tier kernel say which tier runs it.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bpfUnavailable } from './support';
import { skipFile } from '../support/skip';
import { ktap } from '../support/tracing';
import { compile, scratchDirectory, WORKLOAD_C } from '../support/workloads';

const unavailable = bpfUnavailable();

if (unavailable !== undefined) {
  skipFile('profile-N in the kernel tier', unavailable);
} else {
  const directory = scratchDirectory(t, 'profile-tier');
  // A name of its own, so that its samples cannot be another process's.
  const workload = compile(directory, WORKLOAD_C, 'profspin');
  const script = join(directory, 'profile.kp');
  writeFileSync(script, `var names = {}
var cpus = {}
var n = 0
profile-99hz { names[execname] += 1 cpus[cpu] += 1 n += 1 }
trace_end {
  var sum = 0
  for (k, v in pairs(cpus)) { sum += v }
  printf("samples %d cpus %d spin %d\\n", n, sum, names["profspin"])
}
`);

  /** The script under TIER while the workload spins 1.5 s; what it printed and the workload's CPU seconds. */
  const profile = (tier: string) => {
    // GNU time says how much CPU the spin really had on this (possibly busy) machine.
    const result = spawnSync(process.execPath, [ktap, '-v', '--tier', tier, script, '--', '/usr/bin/time', '-f', 'cpu %U %S', workload, 'spin', '1500'], {
      encoding: 'utf8', timeout: 60_000,
    });
    const [, samples, perCpu, spin] = /samples (\d+) cpus (\d+) spin (\d+)/.exec(result.stdout)?.map(Number) ?? [];
    const [, user, system] = /cpu ([\d.]+) ([\d.]+)/.exec(result.stderr)?.map(Number) ?? [];
    return { result, samples: samples!, perCpu: perCpu!, spin: spin!, cpuSeconds: user! + system! };
  };

  t.test('the same table in both tiers', async (t) => {
    const kernel = profile('kernel');
    const user = profile('user');
    t.equal(kernel.result.status, 0, kernel.result.stderr);
    t.equal(user.result.status, 0, user.result.stderr);
    t.match(kernel.result.stderr, /ktap: profile-99hz: kernel tier \(eBPF\)/, '-v names the tier');
    t.match(user.result.stderr, /captured at the event by BPF: profile-99hz \(sampled by perf\)/);
    for (const [tier, run] of [['kernel', kernel], ['user', user]] as const) {
      t.equal(run.perCpu, run.samples, `${tier}: the per-CPU counts add up to the samples`);
      t.ok(run.spin >= run.samples * 0.9, `${tier}: ${run.spin} of ${run.samples} samples are of the spinning workload`);
      // Sampling noise and the sampler's frequency mode settling: within a third of N Hz.
      const rate = run.spin / run.cpuSeconds;
      t.ok(rate > 66 && rate < 132, `${tier}: ${run.spin} samples in ${run.cpuSeconds.toFixed(2)} s of its CPU time: ${rate.toFixed(0)} Hz`);
    }
  });

  t.test('stack() keys: a stack map, read back as stack() shows it, ending in the sampled code', async (t) => {
    const file = join(directory, 'stacks.kp');
    writeFileSync(file, `var s = {}
profile-999hz { s[stack()] += 1 }
trace_end {
  for (k, v in pairs(s)) { if (k != "") { printf("%s%d\\n--\\n", k, v) } }
  var before = s[""] != nil
  s[""] = nil
  printf("user-mode samples %s, then %s\\n", before, s[""])
}
`);
    const result = spawnSync(process.execPath, [ktap, '-q', '-v', '--tier', 'kernel', file, '--', workload, 'getppid', '300000'], { encoding: 'utf8', timeout: 60_000 });
    t.equal(result.status, 0, result.stderr);
    t.match(result.stderr, /ktap: profile-999hz: kernel tier \(eBPF\)/);
    t.match(result.stdout, /user-mode samples true, then nil\n$/, 'the samples of user space are the key "", removed from user space');
    const stacks = result.stdout.split('--\n').slice(0, -1).map((entry) => entry.split('\n').slice(0, -2));
    t.ok(stacks.some((frames) => frames.some((frame) => frame.startsWith('__x64_sys_getppid+0x'))), `a stack in the workload's system call (${stacks.length} stacks)`);
    const frames = stacks.flat();
    t.same(frames.filter((frame) => !/^[\w.]+\+0x[0-9a-f]+\/0x[0-9a-f]+( \[\w+\])?$/.test(frame)), [], 'frames named as the user tier names them');
    t.same(frames.filter((frame) => SAMPLER.test(frame)), [], 'no frame of the sampler itself (perf hrtimer, BPF)');
    t.ok(stacks.every((lines) => lines.length <= 10), 'at most 10 frames, as stack() shows');
  });

  // A stack map of one entry (--max-table-entries sizes it): every other stack collides. Such
  // samples are skipped and counted, reported once at the end; the script runs on.
  t.test('stacks the stack map cannot hold: samples dropped and counted, not an error', async (t) => {
    const file = join(directory, 'dropped.kp');
    writeFileSync(file, 'var n = 0\nprofile-999hz { var k = stack() n += 1 }\ntrace_end { printf("kept %d\\n", n) }\n');
    const result = spawnSync(process.execPath, [ktap, '-q', '--tier', 'kernel', '--max-table-entries', '1', file, '--', workload, 'getppid', '300000'], { encoding: 'utf8', timeout: 60_000 });
    t.equal(result.status, 0, result.stderr);
    t.match(result.stdout, /^kept \d+\n$/, 'trace_end runs: no error ended the script');
    t.notMatch(result.stdout + result.stderr, /table overflow/);
    const dropped = /ktap: (\d+) profile samples dropped: their kernel stacks did not fit the stack map \(1 entries, set by --max-table-entries\)/.exec(result.stderr);
    t.ok(dropped !== null && Number(dropped[1]) > 0, `the dropped samples reported (stderr: ${result.stderr.trim()})`);
  });

  t.test('-b and --tier kernel', async (t) => {
    const file = join(directory, 'both.kp');
    writeFileSync(file, 'var s = {}\nvar n = 0\nprofile-99hz { s[tid] += 1 }\nprofile-10ms { printf("%d\\n", tid) }\nprofile-1s { if (arg0 == nil) { n += 1 } }\n');
    const listing = spawnSync(process.execPath, [ktap, '-b', file], { encoding: 'utf8' });
    t.match(listing.stdout, /tiers \(--tier auto\):\n {2}profile-99hz: kernel tier \(eBPF\)\n {2}profile-10ms: user tier \(line 4: printf runs in user space\)\n/);
    t.match(listing.stdout, '  profile-1s: user tier (line 5: arg0 of a profile sample is nil: it runs in user space)\n', 'nil arguments stay in user space');
    const tracepoint = join(directory, 'tracepoint-stack.kp');
    writeFileSync(tracepoint, 'var s = {}\ntrace syscalls:sys_enter_getppid { s[stack()] += 1 }\n');
    t.match(spawnSync(process.execPath, [ktap, '-b', tracepoint], { encoding: 'utf8' }).stdout,
      'trace syscalls:sys_enter_getppid: user tier (line 2: stack() runs in the kernel for profile-N samples only)');
    const refused = spawnSync(process.execPath, [ktap, '--tier', 'kernel', file], { encoding: 'utf8' });
    t.equal(refused.status, 1);
    t.equal(refused.stderr, `error: --tier kernel: ${file}:4: printf runs in user space (profile-10ms)\n`);
  });
}

/** Functions of the sampling machinery itself: a stack taken from the sampler would hold them. */
const SAMPLER = /^(perf_swevent_hrtimer|__perf_event_overflow|perf_event_overflow|bpf_overflow_handler|bpf_get_stackid\w*|__hrtimer_run_queues|hrtimer_interrupt)\+/;
