// The processes -p and `-- cmd` trace, as the programs see them: a BPF hash of their tgids,
// which a small program on sched:sched_process_fork extends with the children of traced
// processes (as tracefs's event-fork option does for the user tier). The kernel tier's
// programs and the user tier's capture programs check the same kind of set the same way.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Assembler, FP, Helper, type Reg } from './asm';
import { attachTracepoint, type Attachment } from './attach';
import { BpfMap } from './maps';
import { BpfProgram } from './program';

/** Processes the set can hold (the traced processes and their descendants). */
const MAX_TRACED_PROCESSES = 65536;
const CTX: Reg = 6;

export class TracedProcesses {
  readonly set: BpfMap;
  private readonly program: BpfProgram;
  private readonly attachment: Attachment;

  constructor(tracefsRoot: string, pids: readonly number[]) {
    this.set = BpfMap.create({ type: 'hash', keySize: 4, valueSize: 1, maxEntries: MAX_TRACED_PROCESSES, name: 'ktap_tgids' });
    try {
      for (const pid of pids) {
        const key = Buffer.alloc(4);
        key.writeUInt32LE(pid);
        this.set.update(key, Buffer.from([1]));
      }
      this.program = forkFollower(this.set.fd, childPidOffset(tracefsRoot));
      try {
        this.attachment = attachTracepoint(this.program, tracefsRoot, 'sched', 'sched_process_fork');
      } catch (error) {
        this.program.close();
        throw error;
      }
    } catch (error) {
      this.set.close();
      throw error;
    }
  }

  /** Stops following forks (the set stays readable until close()). */
  detach(): void {
    this.attachment.detach();
  }

  close(): void {
    this.attachment.detach();
    this.program.close();
    this.set.close();
  }
}

function childPidOffset(tracefsRoot: string): number {
  const format = readFileSync(join(tracefsRoot, 'events', 'sched', 'sched_process_fork', 'format'), 'latin1');
  const match = /field:pid_t child_pid;\s*offset:(\d+);/.exec(format);
  if (match === null) throw new Error('sched_process_fork has no child_pid field');
  return Number(match[1]);
}

/** Exits at once (R0 = 0) unless the current process is in the set with file descriptor FD. Uses FP-8. */
export function emitTracedCheck(a: Assembler, fd: number): void {
  const keep = a.label('traced');
  a.call(Helper.getCurrentPidTgid);
  a.aluImm('rsh', 0, 32);
  a.store('W', FP, -8, 0);
  a.mapLookup(fd, -8);
  a.jumpImm('jne', 0, 0, keep);
  a.movImm(0, 0);
  a.exit();
  a.place(keep);
}

/** On sched_process_fork: a parent in the set adds its child (the event's child_pid at CHILD_PID_OFFSET). */
function forkFollower(fd: number, childPidOffset: number): BpfProgram {
  const a = new Assembler();
  a.mov(CTX, 1);
  emitTracedCheck(a, fd);
  a.load('W', 1, CTX, childPidOffset);
  a.store('W', FP, -8, 1);
  a.storeImm('B', FP, -16, 1);
  a.mapUpdate(fd, -8, -16);
  a.movImm(0, 0);
  a.exit();
  return BpfProgram.load({ type: 'tracepoint', code: a.finish().code, name: 'ktap_forks' });
}
