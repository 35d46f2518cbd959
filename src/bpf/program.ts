// Loading an eBPF program (BPF_PROG_LOAD): the verifier's verdict, and on rejection its log
// with the instruction it stopped at, so the caller can name the ktap line.

import { Cmd } from './maps';
import { SyscallError, addressOf, bpfCall, closeFd } from './sys';

export const ProgType = { kprobe: 2, tracepoint: 5, perfEvent: 7, rawTracepoint: 17, tracing: 26 } as const;
export type ProgTypeName = keyof typeof ProgType;

/** expected_attach_type values (enum bpf_attach_type) the loader and links use. */
export const AttachType = { traceRawTp: 23, perfEvent: 41 } as const;

export interface ProgramSpec {
  readonly type: ProgTypeName;
  /** Instructions, 8 bytes each (Assembler.finish()). */
  readonly code: Buffer;
  /** Up to 15 characters, shown by bpftool. */
  readonly name?: string;
  readonly expectedAttachType?: number;
  /** BTF id of the traced function or tracepoint, for `tracing` programs. */
  readonly attachBtfId?: number;
}

/** The verifier refused the program: its log, and the instruction it complained about. */
export class VerifierError extends Error {
  constructor(
    readonly errno: string,
    readonly log: string,
    /** Slot index of the instruction the log last mentions, or -1. */
    readonly slot: number,
  ) {
    super(`the kernel's verifier refused the program (${errno})`);
    this.name = 'VerifierError';
  }

  /** The log's last N non-empty lines. */
  lastLines(count = 4): string[] {
    return this.log.split('\n').filter((line) => line.trim() !== '').slice(-count);
  }
}

const LOG_SIZE = 1 << 20;
/**
 * The verifier stops with EAGAIN when a signal is pending for the loading thread (a child's
 * exit, a profiler's tick: seen with `node --cpu-prof`), however good the program: loading is
 * tried again, as libbpf does.
 */
const LOAD_ATTEMPTS = 10;
const GPL = Buffer.from('GPL\0', 'latin1');

export class BpfProgram {
  private fdOpen: number;
  private constructor(readonly spec: ProgramSpec, fd: number) {
    this.fdOpen = fd;
  }

  /**
   * Loads SPEC. The first try runs without a log (the cheap path); a refused program is
   * loaded again with the verifier log on, to say why.
   */
  static load(spec: ProgramSpec): BpfProgram {
    try {
      return new BpfProgram(spec, loadWithLog(spec, null));
    } catch (error) {
      if (!(error instanceof SyscallError) || error.code === 'EPERM') throw error;
      const log = Buffer.alloc(LOG_SIZE);
      try {
        return new BpfProgram(spec, loadWithLog(spec, log));
      } catch (again) {
        if (!(again instanceof SyscallError)) throw again;
        const text = log.toString('latin1', 0, Math.max(0, log.indexOf(0)));
        throw new VerifierError(again.code, text, lastSlot(text));
      }
    }
  }

  get fd(): number {
    if (this.fdOpen < 0) throw new Error('BPF program used after close');
    return this.fdOpen;
  }

  close(): void {
    if (this.fdOpen >= 0) closeFd(this.fdOpen);
    this.fdOpen = -1;
  }
}

function loadWithLog(spec: ProgramSpec, log: Buffer | null): number {
  const attr = Buffer.alloc(128);
  attr.writeUInt32LE(ProgType[spec.type], 0);
  attr.writeUInt32LE(spec.code.length / 8, 4);
  attr.writeBigUInt64LE(addressOf(spec.code), 8);
  attr.writeBigUInt64LE(addressOf(GPL), 16);
  if (log !== null) {
    attr.writeUInt32LE(1, 24);
    attr.writeUInt32LE(log.length, 28);
    attr.writeBigUInt64LE(addressOf(log), 32);
  }
  if (spec.name !== undefined) attr.write(spec.name.replace(/[^A-Za-z0-9_.]/g, '_').slice(0, 15), 48, 'latin1');
  attr.writeUInt32LE(spec.expectedAttachType ?? 0, 68);
  attr.writeUInt32LE(spec.attachBtfId ?? 0, 108);
  for (let attempt = 1; ; attempt++) {
    try {
      return bpfCall(Cmd.progLoad, attr, 'bpf(BPF_PROG_LOAD)');
    } catch (error) {
      if (!(error instanceof SyscallError) || error.code !== 'EAGAIN' || attempt === LOAD_ATTEMPTS) throw error;
    }
  }
}

/** The last `N: (op) …` instruction line of a verifier log: where it stopped. */
function lastSlot(log: string): number {
  const matches = [...log.matchAll(/^(\d+): \(/gm)];
  return matches.length === 0 ? -1 : Number(matches[matches.length - 1]![1]);
}
