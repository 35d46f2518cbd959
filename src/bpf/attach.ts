// Attaching loaded programs to kernel events: perf tracepoints (perf_event_open + a BPF link,
// with a cookie per attachment), raw tracepoints, uprobes via the uprobe PMU. Each attachment
// is a set of file descriptors: closing them (or the process dying) detaches, nothing is left.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cmd } from './maps';
import { AttachType, type BpfProgram } from './program';
import { PERF_FLAG_FD_CLOEXEC, addressOf, bpfCall, closeFd, ioctl, perfEventOpen } from './sys';

const PERF_TYPE_TRACEPOINT = 2;
const PERF_ATTR_SIZE = 128;
const PERF_EVENT_IOC_ENABLE = 0x2400;
const PERF_EVENT_IOC_SET_BPF = 0x40042408;

/** One attachment: its fds, closed in reverse order by detach(). */
export class Attachment {
  private fds: number[];
  constructor(fds: number[]) {
    this.fds = fds;
  }

  detach(): void {
    for (const fd of this.fds.reverse()) closeFd(fd);
    this.fds = [];
  }
}

/** The id of a tracepoint (events/SYSTEM/EVENT/id under tracefs): perf's config for it. */
export function tracepointId(tracefsRoot: string, system: string, event: string): number {
  return Number(readFileSync(join(tracefsRoot, 'events', system, event, 'id'), 'utf8'));
}

/** A perf_event_attr for event TYPE/CONFIG, enabled, no samples recorded (BPF does the work). */
export function perfAttr(type: number, config: bigint | number, extra?: (attr: Buffer) => void): Buffer {
  const attr = Buffer.alloc(PERF_ATTR_SIZE);
  attr.writeUInt32LE(type, 0);
  attr.writeUInt32LE(PERF_ATTR_SIZE, 4);
  attr.writeBigUInt64LE(BigInt(config), 8);
  attr.writeBigUInt64LE(1n, 16); // sample_period
  extra?.(attr);
  return attr;
}

/**
 * A program on a perf event (a tracepoint, a uprobe of the PMU, a CPU clock): the event is
 * opened on cpu 0 for every process — a tracepoint's program runs on every CPU anyway — and
 * the program linked with BPF_LINK_CREATE, carrying COOKIE (bpf_get_attach_cookie), or with
 * PERF_EVENT_IOC_SET_BPF on kernels without perf links.
 */
export function attachPerfEvent(program: BpfProgram, attr: Buffer, cookie = 0n, cpu = 0): Attachment {
  const perfFd = perfEventOpen(attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
  try {
    const link = Buffer.alloc(48);
    link.writeUInt32LE(program.fd, 0);
    link.writeUInt32LE(perfFd, 4);
    link.writeUInt32LE(AttachType.perfEvent, 8);
    link.writeBigUInt64LE(cookie, 16);
    let linkFd: number;
    try {
      linkFd = bpfCall(Cmd.linkCreate, link, 'bpf(BPF_LINK_CREATE)');
    } catch (error) {
      if (cookie !== 0n) throw error;
      ioctl(perfFd, PERF_EVENT_IOC_SET_BPF, program.fd);
      ioctl(perfFd, PERF_EVENT_IOC_ENABLE, 0);
      return new Attachment([perfFd]);
    }
    ioctl(perfFd, PERF_EVENT_IOC_ENABLE, 0);
    return new Attachment([perfFd, linkFd]);
  } catch (error) {
    closeFd(perfFd);
    throw error;
  }
}

/** A tracepoint program on SYSTEM:EVENT. */
export function attachTracepoint(program: BpfProgram, tracefsRoot: string, system: string, event: string, cookie = 0n): Attachment {
  return attachPerfEvent(program, perfAttr(PERF_TYPE_TRACEPOINT, tracepointId(tracefsRoot, system, event)), cookie);
}

/** A raw-tracepoint program on the kernel's tracepoint NAME (e.g. `sys_enter`): no record is built. */
export function attachRawTracepoint(program: BpfProgram, name: string): Attachment {
  const nameBuffer = Buffer.from(`${name}\0`, 'latin1');
  const attr = Buffer.alloc(16);
  attr.writeBigUInt64LE(addressOf(nameBuffer), 0);
  attr.writeUInt32LE(program.fd, 8);
  return new Attachment([bpfCall(Cmd.rawTracepointOpen, attr, 'bpf(BPF_RAW_TRACEPOINT_OPEN)')]);
}

/** The PMU type of the uprobe event source, or undefined where the kernel has none. */
export function uprobePmuType(): number | undefined {
  try {
    return Number(readFileSync('/sys/bus/event_source/devices/uprobe/type', 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * A program on a uprobe of PATH at file OFFSET through the uprobe PMU (nothing written to
 * uprobe_events): config bit 0 makes it a uretprobe.
 */
export function attachUprobe(program: BpfProgram, path: string, offset: bigint, isReturn: boolean, cookie = 0n): Attachment {
  const type = uprobePmuType();
  if (type === undefined) throw new Error('this kernel has no uprobe PMU');
  const pathBuffer = Buffer.from(`${path}\0`);
  const attr = perfAttr(type, isReturn ? 1 : 0, (buffer) => {
    buffer.writeBigUInt64LE(addressOf(pathBuffer), 56); // uprobe_path (config1)
    buffer.writeBigUInt64LE(offset, 64); // probe_offset (config2)
  });
  // pathBuffer must stay alive until the call: it is read by perf_event_open itself.
  const attachment = attachPerfEvent(program, attr, cookie);
  pathBuffer.readUInt8(0);
  return attachment;
}
