// The user tier's second event source: capture programs on tracepoints and profile samplers
// writing into one BPF ring buffer, with the process and CPU filters of the run. It owns every
// map, program and attachment it makes; close() (or the process dying) releases them all.

import type { PageBytes } from '../probes/fields';
import { attachTracepoint, tracepointId, type Attachment } from './attach';
import {
  captureLayout,
  createLostCounter,
  profileCapture,
  tracepointCapture,
  type CaptureLayout,
  type CaptureMaps,
  type CaptureSpec,
} from './capture';
import { sumPerCpu } from './maps';
import type { BpfProgram } from './program';
import { BpfRingBuffer } from './ringbuf';
import { attachSampler } from './sampler';
import { TracedProcesses } from './traced-processes';

export interface CaptureOptions {
  readonly tracefsRoot: string;
  /** Only these processes and their descendants (-p, `-- cmd`); every process when absent. */
  readonly pids?: readonly number[];
  /** Only these CPUs (-C). */
  readonly cpus?: readonly number[];
  /** Processes never captured (ktap's own). */
  readonly excludeTgids?: readonly number[];
  /** Bytes of the ring buffer (a power of two). */
  readonly ringBytes?: number;
}

/** What the reader hands over per record: which source wrote it, and the record. */
export type CaptureCallback = (source: number, bytes: PageBytes, offset: number, length: number) => void;

const DEFAULT_RING_BYTES = 8 << 20;

export class CaptureSource {
  private readonly maps: CaptureMaps;
  private readonly ring: BpfRingBuffer;
  private readonly programs: BpfProgram[] = [];
  /** -p / -- cmd: the traced processes, followed through their forks. */
  private readonly traced: TracedProcesses | null = null;
  /** Each source's attachments (by source number). */
  private readonly attachments: Attachment[][] = [];
  private readonly layouts: CaptureLayout[] = [];
  private closed = false;

  constructor(private readonly options: CaptureOptions) {
    const owned: Array<{ close(): void }> = [];
    try {
      this.ring = BpfRingBuffer.create(options.ringBytes ?? DEFAULT_RING_BYTES);
      owned.push(this.ring);
      const lost = createLostCounter();
      owned.push(lost);
      if (options.pids !== undefined) {
        this.traced = new TracedProcesses(options.tracefsRoot, options.pids);
        owned.push(this.traced);
      }
      this.maps = { ring: this.ring.map, lost, tgids: this.traced?.set, cpus: options.cpus, excludeTgids: options.excludeTgids };
    } catch (error) {
      for (const resource of owned.reverse()) resource.close();
      throw error;
    }
  }

  /** The source number of the next program added: what its records carry. */
  private get nextSource(): number {
    return this.layouts.length;
  }

  /** Captures SYSTEM:EVENT; returns the source number its records carry and their layout. */
  addTracepoint(system: string, event: string, spec: Omit<CaptureSpec, 'source' | 'eventId'>): { source: number; layout: CaptureLayout } {
    const full: CaptureSpec = { ...spec, source: this.nextSource, eventId: tracepointId(this.options.tracefsRoot, system, event) };
    const program = tracepointCapture(full, this.maps);
    this.programs.push(program);
    this.attachments[full.source] = [attachTracepoint(program, this.options.tracefsRoot, system, event)];
    const layout = captureLayout(full);
    this.layouts.push(layout);
    return { source: full.source, layout };
  }

  /** Samples every CPU at HZ; returns the source number of its records and their layout. */
  addSampler(hz: number, kernelStack: boolean, userStack: boolean): { source: number; layout: CaptureLayout } {
    const source = this.nextSource;
    const { program, layout } = profileCapture(source, kernelStack, userStack, this.maps);
    this.programs.push(program);
    this.attachments[source] = attachSampler(program, hz, this.options.cpus);
    this.layouts.push(layout);
    return { source, layout };
  }

  /** Hands over up to LIMIT records in commit order; returns how many. */
  drain(onRecord: CaptureCallback, limit = Infinity): number {
    return this.ring.drain((bytes, offset, length) => onRecord(bytes.view.getUint32(offset + 12, true), bytes, offset, length), limit);
  }

  /** Records the ring buffer had no room for, per CPU. */
  lostPerCpu(): number[] {
    const value = this.maps.lost.lookup(Buffer.alloc(4));
    if (value === undefined) return [];
    const perCpu: number[] = [];
    for (let at = 0; at < value.length; at += this.maps.lost.cpuStride) perCpu.push(Number(value.readBigUInt64LE(at)));
    return perCpu;
  }

  /** Records lost in all. */
  lost(): number {
    const value = this.maps.lost.lookup(Buffer.alloc(4));
    return value === undefined ? 0 : Number(sumPerCpu(this.maps.lost, value));
  }

  /** Stops the program of SOURCE. */
  removeSource(source: number): void {
    for (const attachment of this.attachments[source] ?? []) attachment.detach();
    this.attachments[source] = [];
  }

  /** Stops every program (records already in the ring stay readable until close()). */
  detach(): void {
    for (let source = 0; source < this.attachments.length; source++) this.removeSource(source);
    this.traced?.detach();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.detach();
    for (const program of this.programs.splice(0)) program.close();
    this.ring.close();
    this.maps.lost.close();
    this.traced?.close();
  }
}
