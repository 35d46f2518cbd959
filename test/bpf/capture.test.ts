// Capture at the event against the real kernel: strings of processes that exit at once, execve's
// argv, records the ring buffer had no room for counted exactly, and profile samples at a rate
// above HZ whose stacks start in the sampled code.

import t from 'tap';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attachTracepoint, tracepointId } from '../../src/bpf/attach';
import { RECORD_AT, captureLayout, createLostCounter, profileCapture, slotBytes, slotStack, tracepointCapture, type CaptureSpec } from '../../src/bpf/capture';
import { BpfMap, sumPerCpu } from '../../src/bpf/maps';
import { BpfRingBuffer } from '../../src/bpf/ringbuf';
import { attachSampler } from '../../src/bpf/sampler';
import { KernelSymbols } from '../../src/probes/kallsyms';
import { bpfUnavailable } from './support';

const TRACEFS = '/sys/kernel/tracing';
const reason = bpfUnavailable();
if (reason !== undefined) {
  t.comment(`SKIP capture needs BPF: ${reason}`);
} else {
  const directory = mkdtempSync(join(tmpdir(), 'ktap-capture-'));
  t.teardown(() => rmSync(directory, { recursive: true, force: true }));
  const workload = join(directory, 'workload');
  execFileSync('cc', ['-O1', '-fno-omit-frame-pointer', '-o', workload, join(__dirname, '..', 'session', 'workload.c')]);

  t.test('user_string of openat: every one of 20 short-lived cat runs', async (t) => {
    const files = Array.from({ length: 20 }, (_, index) => join(directory, `file-${index}`));
    for (const file of files) writeFileSync(file, 'x');
    const ring = BpfRingBuffer.create(1 << 20);
    const lost = createLostCounter();
    // sys_enter_openat: filename is the pointer at offset 24 of a 48-byte record.
    const spec: CaptureSpec = { eventId: tracepointId(TRACEFS, 'syscalls', 'sys_enter_openat'), recordBytes: 48, userStrings: [24], kernelStack: false, userStack: false };
    const program = tracepointCapture(spec, { ring: ring.map, lost });
    const attachment = attachTracepoint(program, TRACEFS, 'syscalls', 'sys_enter_openat');
    t.teardown(() => {
      attachment.detach();
      program.close();
      ring.close();
      lost.close();
    });
    const layout = captureLayout(spec);
    const seen = new Set<string>();
    // Every process's opens are captured: drain after each run so a busy machine cannot fill the ring.
    const drain = (pid: number) =>
      ring.drain((bytes, offset) => {
        const name = slotBytes(bytes.page, bytes.view, offset, layout.strings[0]!)?.toString('latin1');
        if (bytes.view.getInt32(offset + RECORD_AT + 4, true) === pid && name !== undefined && name.startsWith(directory)) seen.add(name);
      });
    for (const file of files) drain(spawnSync('cat', [file]).pid!);
    attachment.detach();
    t.equal(sumPerCpu(lost, lost.lookup(Buffer.alloc(4))!), 0n, 'nothing lost');
    t.same([...seen].sort(), [...files].sort(), 'all 20 file names, read while each cat ran');
  });

  t.test('execve argv', async (t) => {
    const ring = BpfRingBuffer.create(1 << 20);
    const lost = createLostCounter();
    // sys_enter_execve: filename at 16, argv at 24, a 40-byte record.
    const spec: CaptureSpec = { eventId: tracepointId(TRACEFS, 'syscalls', 'sys_enter_execve'), recordBytes: 40, userStrings: [16], argv: 24, kernelStack: false, userStack: false };
    const program = tracepointCapture(spec, { ring: ring.map, lost });
    const attachment = attachTracepoint(program, TRACEFS, 'syscalls', 'sys_enter_execve');
    t.teardown(() => {
      attachment.detach();
      program.close();
      ring.close();
      lost.close();
    });
    const marker = `ktap-argv-${process.pid}`;
    spawnSync('/bin/echo', [marker, 'two words', '3']);
    attachment.detach();
    const layout = captureLayout(spec);
    let found: string[] | undefined;
    ring.drain((bytes, offset) => {
      const argv = layout.argv.map((slot) => slotBytes(bytes.page, bytes.view, offset, slot)?.toString('latin1'));
      if (argv[1] === marker) found = argv.filter((value): value is string => value !== undefined);
    });
    t.same(found, ['/bin/echo', marker, 'two words', '3'], 'argv as the process passed it');
  });

  t.test('a full ring buffer: records delivered + counted lost = events', async (t) => {
    const ring = BpfRingBuffer.create(4096);
    const lost = createLostCounter();
    const tgids = BpfMap.create({ type: 'hash', keySize: 4, valueSize: 1, maxEntries: 16, name: 'ktap_tgids' });
    const calls = 3000;
    const child = spawn(workload, ['wait-getppid', String(calls)], { stdio: ['pipe', 'ignore', 'inherit'] });
    const key = Buffer.alloc(4);
    key.writeUInt32LE(child.pid!);
    tgids.update(key, Buffer.from([1]));
    const spec: CaptureSpec = { eventId: tracepointId(TRACEFS, 'syscalls', 'sys_enter_getppid'), recordBytes: 16, userStrings: [], kernelStack: false, userStack: false };
    const program = tracepointCapture(spec, { ring: ring.map, lost, tgids });
    const attachment = attachTracepoint(program, TRACEFS, 'syscalls', 'sys_enter_getppid');
    t.teardown(() => {
      attachment.detach();
      program.close();
      ring.close();
      lost.close();
      tgids.close();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.stdin!.end('go\n');
    t.equal(await exited, 0, 'the workload ran');
    attachment.detach();
    let delivered = 0;
    ring.drain(() => delivered++);
    const counted = Number(sumPerCpu(lost, lost.lookup(Buffer.alloc(4))!));
    t.ok(counted > 0, `the 4 KiB ring overflowed (${counted} lost)`);
    t.equal(delivered + counted, calls, `${delivered} delivered + ${counted} lost = ${calls} calls`);
  });

  t.test('profile at 999 Hz: samples above HZ, stacks start in the sampled code', async (t) => {
    const child = spawn(workload, ['spin', '4000'], { stdio: 'ignore' });
    t.teardown(() => child.kill('SIGKILL'));
    const ring = BpfRingBuffer.create(1 << 20);
    const lost = createLostCounter();
    const tgids = BpfMap.create({ type: 'hash', keySize: 4, valueSize: 1, maxEntries: 16, name: 'ktap_tgids' });
    const key = Buffer.alloc(4);
    key.writeUInt32LE(child.pid!);
    tgids.update(key, Buffer.from([1]));
    const { program, layout } = profileCapture(true, true, { ring: ring.map, lost, tgids });
    const attachments = attachSampler(program, 999);
    t.teardown(() => {
      for (const attachment of attachments) attachment.detach();
      program.close();
      ring.close();
      lost.close();
      tgids.close();
    });
    const cpuBefore = cpuSeconds(child.pid!);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const cpuAfter = cpuSeconds(child.pid!);
    for (const attachment of attachments) attachment.detach();
    const text = executableRange(child.pid!, workload);
    let samples = 0;
    let others = 0;
    let inText = 0;
    const symbols = KernelSymbols.load();
    const samplerFrames: string[] = [];
    ring.drain((bytes, offset) => {
      samples++;
      if (bytes.view.getUint32(offset + RECORD_AT + 4, true) !== child.pid) others++;
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
