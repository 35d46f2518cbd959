// The kernel tier's foundation against the real kernel: the assembler's encoding, maps
// (plain, per-CPU, batched reads), program loading with the verifier's log, and attachment
// to a perf tracepoint and a raw tracepoint counting a workload's getppid calls exactly.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { Session as InspectorSession } from 'node:inspector';
import { Assembler, FP, Helper } from '../../src/bpf/asm';
import { attachRawTracepoint, attachTracepoint } from '../../src/bpf/attach';
import { BpfMap, possibleCpus, sumPerCpu } from '../../src/bpf/maps';
import { BpfProgram, VerifierError } from '../../src/bpf/program';
import { bpfUnavailable } from './support';
import { skipFile } from '../support/skip';
import { compile, scratchDirectory, WORKLOAD_C } from '../support/workloads';

t.test('assembler: slots, two-slot ld_imm64, jump offsets in slots, lines', async (t) => {
  const a = new Assembler();
  const end = a.label('end');
  a.line = 3;
  a.movImm(0, 1);
  a.jumpImm('jeq', 0, 1, end);
  a.line = 4;
  a.movImm(1, 0x1_0000_0000n);
  a.place(end);
  a.exit();
  const { code, lines } = a.finish();
  t.equal(code.length, 5 * 8, 'mov, jeq, ld_imm64 (two slots), exit');
  t.equal(code[8], 0x15, 'jeq imm opcode');
  t.equal(code.readInt16LE(8 + 2), 2, 'the jump skips both slots of ld_imm64');
  t.equal(code[16], 0x18, 'ld_imm64 opcode');
  t.equal(code.readUInt32LE(16 + 4), 0, 'low half');
  t.equal(code.readUInt32LE(24 + 4), 1, 'high half in the second slot');
  t.same([...lines], [3, 3, 4, 4, 4], 'a line per slot');
  const unplaced = new Assembler();
  unplaced.goto(unplaced.label('nowhere'));
  t.throws(() => unplaced.finish(), /never placed/);
});

const reason = bpfUnavailable();
if (reason !== undefined) {
  skipFile('BPF unavailable', reason);
} else {
  t.test('maps: update, lookup, delete, iterate, batch', async (t) => {
    const map = BpfMap.create({ type: 'hash', keySize: 8, valueSize: 8, maxEntries: 4096, name: 'ktap_test' });
    t.teardown(() => map.close());
    const key = (n: number) => {
      const b = Buffer.alloc(8);
      b.writeBigInt64LE(BigInt(n));
      return b;
    };
    for (let n = 0; n < 3000; n++) map.update(key(n), key(n * 2));
    t.equal(map.lookup(key(7))?.readBigInt64LE(), 14n);
    t.equal(map.lookup(key(-1)), undefined, 'absent key');
    t.ok(map.delete(key(7)));
    t.notOk(map.delete(key(7)), 'deleting again says it was not there');
    const entries = map.entries(256);
    t.equal(entries.length, 2999, 'batched read over several chunks sees every entry once');
    t.ok(entries.every(([k, v]) => v.readBigInt64LE() === k.readBigInt64LE() * 2n));
    t.equal(map.keys().length, 2999, 'key iteration agrees');
    map.clear();
    t.equal(map.entries().length, 0);
  });

  t.test('per-CPU maps: one copy per possible CPU, 8-byte aligned', async (t) => {
    const map = BpfMap.create({ type: 'percpuArray', keySize: 4, valueSize: 4, maxEntries: 2 });
    t.teardown(() => map.close());
    t.equal(map.cpuStride, 8);
    t.equal(map.valueBytes, 8 * possibleCpus());
    const value = Buffer.alloc(map.valueBytes);
    for (let cpu = 0; cpu < possibleCpus(); cpu++) value.writeBigInt64LE(BigInt(cpu + 1), cpu * 8);
    map.update(Buffer.alloc(4), value);
    const cpus = BigInt(possibleCpus());
    t.equal(sumPerCpu(map, map.lookup(Buffer.alloc(4))!), (cpus * (cpus + 1n)) / 2n);
  });

  t.test('the verifier log names the instruction it refused', async (t) => {
    const map = BpfMap.create({ type: 'hash', keySize: 8, valueSize: 8, maxEntries: 1 });
    t.teardown(() => map.close());
    const a = new Assembler();
    a.storeImm('DW', FP, -8, 0);
    a.mapLookup(map.fd, -8);
    a.load('DW', 0, 0, 0); // no NULL check: refused here, slot 6
    a.exit();
    const error = t.throws(() => BpfProgram.load({ type: 'tracepoint', code: a.finish().code })) as unknown;
    t.ok(error instanceof VerifierError);
    t.equal((error as VerifierError).slot, 6);
    t.match((error as VerifierError).lastLines().join('\n'), /invalid mem access|map_value_or_null/);
  });

  // A signal pending while the verifier runs stops it with EAGAIN. The CPU profiler's ticks
  // (every 100 µs here) are such signals: without trying again, about one load in six failed.
  t.test('programs load while signals keep arriving', async (t) => {
    const a = new Assembler();
    for (let index = 0; index < 100; index++) a.movImm(0, index);
    a.exit();
    const code = a.finish().code;
    const profiler = new InspectorSession();
    profiler.connect();
    t.teardown(() => profiler.disconnect());
    profiler.post('Profiler.enable');
    profiler.post('Profiler.setSamplingInterval', { interval: 100 });
    profiler.post('Profiler.start');
    const failures: string[] = [];
    for (let load = 0; load < 200; load++) {
      try {
        BpfProgram.load({ type: 'tracepoint', code }).close();
      } catch (error) {
        failures.push((error as Error).message);
      }
    }
    profiler.post('Profiler.stop');
    t.same(failures, [], 'every load accepted');
  });

  t.test('attached programs count a workload exactly: perf tracepoint and raw tracepoint', async (t) => {
    const directory = scratchDirectory(t, 'bpf');
    const workload = compile(directory, WORKLOAD_C, 'workload');
    const counts = BpfMap.create({ type: 'percpuHash', keySize: 8, valueSize: 8, maxEntries: 1024 });
    t.teardown(() => counts.close());
    // counts[tgid] += 1, on whatever the program is attached to; RAW_CHECK filters getppid.
    const program = (raw: boolean): Buffer => {
      const a = new Assembler();
      const miss = a.label('miss');
      const done = a.label('done');
      if (raw) {
        a.load('DW', 2, 1, 8); // args[1]: the system call number
        a.jumpImm('jne', 2, getppidNumber(), done);
      }
      a.call(Helper.getCurrentPidTgid);
      a.aluImm('rsh', 0, 32);
      a.store('DW', FP, -8, 0);
      a.mapLookup(counts.fd, -8);
      a.jumpImm('jeq', 0, 0, miss);
      a.movImm(1, 1);
      a.atomicAdd(0, 0, 1);
      a.goto(done);
      a.place(miss);
      a.storeImm('DW', FP, -16, 1);
      a.mapUpdate(counts.fd, -8, -16);
      a.place(done);
      a.movImm(0, 0);
      a.exit();
      return a.finish().code;
    };
    const countOf = (pid: number): bigint => {
      const key = Buffer.alloc(8);
      key.writeBigInt64LE(BigInt(pid));
      const value = counts.lookup(key);
      return value === undefined ? 0n : sumPerCpu(counts, value);
    };
    const perf = BpfProgram.load({ type: 'tracepoint', code: program(false), name: 'ktap_t_perf' });
    t.teardown(() => perf.close());
    let attachment = attachTracepoint(perf, '/sys/kernel/tracing', 'syscalls', 'sys_enter_getppid');
    let run = spawnSync(workload, ['getppid', '54321']);
    attachment.detach();
    t.equal(countOf(run.pid!), 54321n, 'perf tracepoint: exact');

    const raw = BpfProgram.load({ type: 'rawTracepoint', code: program(true), name: 'ktap_t_raw' });
    t.teardown(() => raw.close());
    attachment = attachRawTracepoint(raw, 'sys_enter');
    run = spawnSync(workload, ['getppid', '12345']);
    attachment.detach();
    t.equal(countOf(run.pid!), 12345n, 'raw tracepoint on sys_enter: exact');
    const after = spawnSync(workload, ['getppid', '100']);
    t.equal(countOf(after.pid!), 0n, 'nothing counts once detached');
  });
}

function getppidNumber(): number {
  return process.arch === 'arm64' ? 173 : 110;
}
