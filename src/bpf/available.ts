// Whether this machine can run the kernel tier: koffi loadable (and not refused by
// KTAP_NO_BPF), and a minimal tracepoint program accepted by bpf(2). Asked once per process.

import { Assembler } from './asm';
import { BpfProgram } from './program';
import { BpfUnavailable, SyscallError, loadSyscalls } from './sys';

export type Availability = { readonly ok: true } | { readonly ok: false; readonly reason: string };

let answer: Availability | null = null;

export function bpfAvailability(): Availability {
  if (answer !== null) return answer;
  try {
    loadSyscalls();
    const a = new Assembler();
    a.movImm(0, 0);
    a.exit();
    BpfProgram.load({ type: 'tracepoint', code: a.finish().code, name: 'ktap_probe' }).close();
    answer = { ok: true };
  } catch (error) {
    if (error instanceof BpfUnavailable) answer = { ok: false, reason: error.message };
    else if (error instanceof SyscallError) {
      const why = error.code === 'EPERM' ? 'not permitted' : error.code === 'ENOSYS' ? 'the kernel has no bpf(2)' : error.code;
      answer = { ok: false, reason: `bpf(2) refused a program: ${why}` };
    } else answer = { ok: false, reason: (error as Error).message };
  }
  return answer;
}
