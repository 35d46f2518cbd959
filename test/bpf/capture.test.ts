// Capture at the event against the real kernel: strings of processes that exit at once, execve's
// argv, records the ring buffer had no room for counted exactly, a process and its descendants
// only, and profile samples at a rate above HZ whose stacks start in the sampled code.

import t from 'tap';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ARGV_MAX, RECORD_AT, slotBytes, slotStack, slotStrings } from '../../src/bpf/capture';
import { CaptureSource } from '../../src/bpf/capture-source';
import { recordPid } from '../../src/probes/fields';
import { KernelSymbols } from '../../src/probes/kallsyms';
import { bpfUnavailable } from './support';
import { skipFile } from '../support/skip';
import { compile, scratchDirectory, WORKLOAD_C } from '../support/workloads';

const TRACEFS = '/sys/kernel/tracing';
const reason = bpfUnavailable();
if (reason !== undefined) {
  skipFile('capture needs BPF', reason);
} else {
  const directory = scratchDirectory(t, 'capture');
  const workload = compile(directory, WORKLOAD_C, 'workload', ['-fno-omit-frame-pointer']);

  const openat = { recordBytes: 48, userStrings: [24], argvs: [], kernelStack: false, userStack: false };

  t.test('user_string of openat: every one of 20 short-lived cat runs', async (t) => {
    const files = Array.from({ length: 20 }, (_, index) => join(directory, `file-${index}`));
    for (const file of files) writeFileSync(file, 'x');
    const capture = new CaptureSource({ tracefsRoot: TRACEFS });
    t.teardown(() => capture.close());
    // sys_enter_openat: filename is the pointer at offset 24 of a 48-byte record.
    const { source, layout } = capture.addTracepoint('syscalls', 'sys_enter_openat', openat);
    const seen = new Set<string>();
    // Every process's opens are captured: drain after each run so a busy machine cannot fill the ring.
    const drain = (pid: number) =>
      capture.drain((from, bytes, offset) => {
        const name = slotBytes(bytes.page, bytes.view, offset, layout.strings[0]!)?.toString('latin1');
        if (from === source && recordPid(bytes, offset + RECORD_AT) === pid && name?.startsWith(directory)) seen.add(name);
      });
    for (const file of files) drain(spawnSync('cat', [file]).pid!);
    capture.detach();
    t.equal(capture.lost(), 0, 'nothing lost');
    t.same([...seen].sort(), [...files].sort(), 'all 20 file names, read while each cat ran');
  });

  t.test('execve argv', async (t) => {
    const capture = new CaptureSource({ tracefsRoot: TRACEFS });
    t.teardown(() => capture.close());
    // sys_enter_execve: filename at 16, argv at 24, a 40-byte record.
    const { layout } = capture.addTracepoint('syscalls', 'sys_enter_execve', { recordBytes: 40, userStrings: [16], argvs: [24], kernelStack: false, userStack: false });
    const marker = `ktap-argv-${process.pid}`;
    const long = Array.from({ length: ARGV_MAX + 1 }, (_, index) => `a${index}`);
    spawnSync('/bin/echo', [marker, 'two words', '', '3']);
    spawnSync('/bin/echo', [`${marker}-long`, ...long]);
    capture.detach();
    const found = new Map<string, { strings: string[]; more: boolean }>();
    capture.drain((_, bytes, offset) => {
      const { strings, more } = slotStrings(bytes.page, bytes.view, offset, layout.argvs[0]!);
      if (strings[1]?.toString('latin1').startsWith(marker)) found.set(strings[1].toString('latin1'), { strings: strings.map((bytes) => bytes.toString('latin1')), more });
    });
    t.same(found.get(marker), { strings: ['/bin/echo', marker, 'two words', '', '3'], more: false }, 'argv as the process passed it');
    t.same(found.get(`${marker}-long`), { strings: ['/bin/echo', `${marker}-long`, ...long.slice(0, ARGV_MAX - 2)], more: true }, `the first ${ARGV_MAX}, and that more followed`);
  });

  t.test('a full ring buffer: records delivered + counted lost = events', async (t) => {
    const calls = 3000;
    const child = spawn(workload, ['wait-getppid', String(calls)], { stdio: ['pipe', 'ignore', 'inherit'] });
    const capture = new CaptureSource({ tracefsRoot: TRACEFS, pids: [child.pid!], ringBytes: 4096 });
    t.teardown(() => capture.close());
    capture.addTracepoint('syscalls', 'sys_enter_getppid', { recordBytes: 16, userStrings: [], argvs: [], kernelStack: false, userStack: false });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.stdin!.end('go\n');
    t.equal(await exited, 0, 'the workload ran');
    capture.detach();
    const delivered = capture.drain(() => {});
    const lost = capture.lost();
    t.ok(lost > 0, `the 4 KiB ring overflowed (${lost} lost)`);
    t.equal(delivered + lost, calls, `${delivered} delivered + ${lost} lost = ${calls} calls`);
    t.equal(capture.lostPerCpu().reduce((sum, count) => sum + count, 0), lost, 'lost per CPU adds up');
  });

  t.test('only the traced process and its descendants', async (t) => {
    const mine = join(directory, 'mine');
    const other = join(directory, 'other');
    writeFileSync(mine, 'x');
    writeFileSync(other, 'x');
    // The shell waits for a line, then runs two cats of its own (its children, then grandchildren).
    const shell = spawn('sh', ['-c', `read line; cat ${mine}; sh -c 'cat ${mine}'`], { stdio: ['pipe', 'ignore', 'inherit'] });
    const capture = new CaptureSource({ tracefsRoot: TRACEFS, pids: [shell.pid!] });
    t.teardown(() => capture.close());
    const { layout } = capture.addTracepoint('syscalls', 'sys_enter_openat', openat);
    const exited = new Promise((resolve) => shell.once('exit', resolve));
    shell.stdin!.end('go\n');
    spawnSync('cat', [other]);
    await exited;
    capture.detach();
    const names: string[] = [];
    capture.drain((_, bytes, offset) => {
      const name = slotBytes(bytes.page, bytes.view, offset, layout.strings[0]!)?.toString('latin1');
      if (name === mine || name === other) names.push(name);
    });
    t.same(names, [mine, mine], 'the child and the grandchild, not the other process');
  });

  t.test('profile at 999 Hz: samples above HZ, stacks start in the sampled code', async (t) => {
    const child = spawn(workload, ['spin', '4000'], { stdio: 'ignore' });
    t.teardown(() => child.kill('SIGKILL'));
    const capture = new CaptureSource({ tracefsRoot: TRACEFS, pids: [child.pid!] });
    t.teardown(() => capture.close());
    const { layout } = capture.addSampler(999, true, true);
    const cpuBefore = cpuSeconds(child.pid!);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const cpuAfter = cpuSeconds(child.pid!);
    capture.detach();
    const text = executableRange(child.pid!, workload);
    const symbols = KernelSymbols.load();
    const samplerFrames: string[] = [];
    let samples = 0;
    let others = 0;
    let inText = 0;
    capture.drain((_, bytes, offset) => {
      samples++;
      if (recordPid(bytes, offset + RECORD_AT) !== child.pid) others++;
      const user = slotStack(bytes.view, offset, layout.userStack);
      if (user.length > 0 && user[0]! >= text[0] && user[0]! < text[1]) inText++;
      for (const address of slotStack(bytes.view, offset, layout.kernelStack)) {
        const name = symbols.name(address) ?? '';
        if (SAMPLER.test(name)) samplerFrames.push(name);
      }
    });
    t.equal(others, 0, 'every sample is of the filtered process');
    const rate = samples / (cpuAfter - cpuBefore);
    t.ok(rate > 500, `${samples} samples in ${(cpuAfter - cpuBefore).toFixed(2)} s of the workload's CPU time: ${rate.toFixed(0)} Hz, above HZ=250`);
    // The rest start in the vDSO's clock_gettime, which the spinning loop also calls.
    t.ok(inText >= samples * 0.8, `${inText} of ${samples} user stacks start in the spinning binary`);
    t.same(samplerFrames, [], 'no kernel stack holds the sampler\'s own frames (perf hrtimer, BPF)');
  });
}

/** Functions of the sampling machinery itself: a stack taken from the sampler would hold them. */
const SAMPLER = /^(perf_swevent_hrtimer|__perf_event_overflow|perf_event_overflow|bpf_overflow_handler|bpf_get_stack|__hrtimer_run_queues|hrtimer_interrupt)$/;

/** User + system CPU seconds of PID (/proc/PID/stat fields 14 and 15, in clock ticks). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'latin1').split(') ')[1]!.split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'latin1' }));
}

/** [start, end) of the executable mapping of BINARY in PID. */
function executableRange(pid: number, binary: string): [bigint, bigint] {
  for (const line of readFileSync(`/proc/${pid}/maps`, 'latin1').split('\n')) {
    const [range, perms] = line.split(' ');
    if (perms?.includes('x') && line.endsWith(binary)) {
      const [start, end] = range!.split('-');
      return [BigInt(`0x${start}`), BigInt(`0x${end}`)];
    }
  }
  throw new Error(`no executable mapping of ${binary} in ${pid}`);
}
