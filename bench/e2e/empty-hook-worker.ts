// The floor of the kernel tier's overhead (run by live.mjs, bundled by esbuild like
// kernel-attach-worker.ts): a program on the hook ktap's counting handler uses, the raw
// sys_enter tracepoint, that checks the system call number as ktap's does and does nothing
// else. What it adds per getppid is what the hook costs on this host, before any work.
//
// Prints "ready" once attached; detaches on SIGINT or SIGTERM and exits.

import { Assembler } from '../../src/bpf/asm';
import { attachRawTracepoint } from '../../src/bpf/attach';
import { BpfProgram } from '../../src/bpf/program';
import { loadSyscalls } from '../../src/bpf/sys';
import { syscallNumber } from '../../src/bpf/syscalls';

loadSyscalls();
const getppid = syscallNumber('getppid');
if (getppid === undefined) throw new Error('no number for getppid on this architecture');
const asm = new Assembler();
const done = asm.label('done');
asm.load('DW', 2, 1, 8); // args[1] of sys_enter(regs, id): the number
asm.jumpImm('jne', 2, getppid, done);
asm.place(done);
asm.movImm(0, 0);
asm.exit();
const program = BpfProgram.load({ type: 'rawTracepoint', code: asm.finish().code, name: 'bench_empty' });
const attachment = attachRawTracepoint(program, 'sys_enter');
const stop = (): void => {
  attachment.detach();
  program.close();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
process.stdout.write('ready\n');
setInterval(() => {}, 1 << 30);
