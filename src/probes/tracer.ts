// A tracing run in the kernel: our own tracefs instance, the events enabled in it with
// their kernel-side filters, pid/cpu restrictions, the readers of its ring buffers, and
// removal of everything on the way out. Plain data goes out; the VM is not known here.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEventFormat, type EventLayout } from './format';
import { RingReader, type PumpReach, type RecordHandler } from './reader';
import { recordEventId } from './fields';
import { availableTracepoints, resolveTracepoints, type Tracepoint, type TracepointDefinition } from './resolve';
import { errnoText, Instance, TracefsError, findTracefs, registerCleanup, removeStaleInstances } from './tracefs';
import { isProbeGroup, removeStaleProbes } from './uprobe';
import { staleRunCheck } from './guardian';

export interface TracerOptions {
  /** Trace only this process and its children (set_event_pid with event-fork). */
  readonly pids?: readonly number[];
  /** Record nothing of these tasks nor of the tasks they start (set_event_notrace_pid with event-fork): ktap itself. */
  readonly excludePids?: readonly number[];
  /** Trace only these CPUs (tracing_cpumask). */
  readonly cpus?: readonly number[];
  /** Ring buffer per CPU in KiB. */
  readonly bufferSizeKb: number;
}

/** Default ring buffer per CPU: room for ~100 ms of a million small events per second. */
export const DEFAULT_BUFFER_KB = 4096;

/** Per-CPU counters of the kernel's ring buffer (`per_cpu/cpuN/stats`). */
export interface CpuBufferStats {
  readonly cpu: number;
  readonly entries: number;
  readonly overrun: number;
  readonly dropped: number;
  readonly read: number;
}

/** An event's layout from its format file; a vanished or unreadable one is a TracefsError. */
export function readEventLayout(root: string, tracepoint: Tracepoint): EventLayout {
  let text: string;
  try {
    text = readFileSync(join(root, 'events', tracepoint.system, tracepoint.event, 'format'), 'latin1');
  } catch (error) {
    // Dynamic events of other runs come and go between listing and reading.
    throw new TracefsError(`cannot read the format of ${tracepoint.system}:${tracepoint.event}: ${errnoText(error)}`);
  }
  return parseEventFormat(text, tracepoint.system);
}


/** Removes the instances and probe definitions of ktap runs that are gone (see staleRunCheck). */
function removeStaleRuns(root: string): void {
  const isStale = staleRunCheck(root);
  removeStaleInstances(root, isStale);
  removeStaleProbes(root, isStale);
}

/**
 * removeStaleRuns for a run that may trace nothing: only as root and where tracefs is
 * already mounted (nothing is mounted for it). When nothing is stale it costs a directory
 * listing and one small read.
 */
export function removeStaleRunsIfPermitted(): void {
  if (process.getuid?.() !== 0 || !existsSync(join(STALE_CHECK_ROOT, 'instances'))) return;
  removeStaleRuns(STALE_CHECK_ROOT);
}

/** Where tracefs is mounted on current systems (older ones reach it through debugfs). */
const STALE_CHECK_ROOT = '/sys/kernel/tracing';

export class KernelTracer {
  private readonly enabled: Tracepoint[] = [];
  private readonly layouts = new Map<string, EventLayout>();
  private reader: RingReader | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private pollImmediate: NodeJS.Immediate | null = null;
  private pumping = false;
  private unregisterReader: (() => void) | null = null;

  private constructor(
    readonly root: string,
    readonly instance: Instance,
    private readonly options: TracerOptions,
  ) {}

  /** Finds (or mounts) tracefs, clears leftovers of dead runs and creates our instance. */
  static open(options: TracerOptions): KernelTracer {
    const root = findTracefs();
    removeStaleRuns(root);
    const instance = Instance.create(root);
    try {
      instance.write('tracing_on', '0');
      instance.setBufferSizeKb(options.bufferSizeKb);
      // The instance keeps its default trace clock: switching it resets the buffers, which
      // costs ~40 ms here; start() calibrates the clock against CLOCK_MONOTONIC instead.
      if (options.cpus !== undefined) instance.setCpuMask(options.cpus);
      if (options.pids !== undefined) instance.setEventPid(options.pids, true);
      else if (options.excludePids !== undefined) instance.setEventNotracePid(options.excludePids);
    } catch (error) {
      instance.remove();
      throw error;
    }
    return new KernelTracer(root, instance, options);
  }

  /** Resolves tracepoint definitions (globs, lists) against this kernel's events. */
  resolve(definitions: readonly TracepointDefinition[]): Tracepoint[] {
    return resolveTracepoints(this.root, definitions);
  }

  /** The binary layout of an event, from its format file (cached). */
  layout(tracepoint: Tracepoint): EventLayout {
    const key = `${tracepoint.system}/${tracepoint.event}`;
    let layout = this.layouts.get(key);
    if (layout === undefined) {
      layout = readEventLayout(this.root, tracepoint);
      this.layouts.set(key, layout);
    }
    return layout;
  }

  /** Installs the kernel filter of an event (before it is enabled). */
  setFilter(tracepoint: Tracepoint, filter: string): void {
    this.instance.setFilter(tracepoint.system, tracepoint.event, filter);
  }

  /**
   * Enables the events, one kernel write per step (a generator: the caller may pause
   * between steps, or stop). A tracepoint system whose every event is in the list is
   * enabled with one write to its `enable` file instead of one per event (all 720 syscall
   * events, for instance); probe groups are enabled event by event, since the kernel places
   * each uprobe in every process that maps its file. A refused event goes to ON_REFUSED,
   * which rethrows to fail the attach or returns to skip the event.
   */
  *enable(tracepoints: readonly Tracepoint[], onRefused: (tracepoint: Tracepoint, error: TracefsError) => void): Generator<void, void> {
    const bySystem = new Map<string, Tracepoint[]>();
    for (const tracepoint of tracepoints) {
      let list = bySystem.get(tracepoint.system);
      if (list === undefined) bySystem.set(tracepoint.system, (list = []));
      list.push(tracepoint);
    }
    const available = bySystem.size > 0 ? availableTracepoints(this.root) : [];
    for (const [system, list] of bySystem) {
      const wanted = new Set(list.map((tracepoint) => tracepoint.event));
      const all = available.filter((tracepoint) => tracepoint.system === system);
      const everyEvent = !isProbeGroup(system) && list.length > 1 && all.length === wanted.size && all.every((tracepoint) => wanted.has(tracepoint.event));
      if (everyEvent) {
        this.instance.write(`events/${system}/enable`, '1');
        this.enabled.push(...list);
        yield;
        continue;
      }
      for (const tracepoint of list) {
        try {
          this.instance.enableEvent(tracepoint.system, tracepoint.event);
          this.enabled.push(tracepoint);
        } catch (error) {
          if (!(error instanceof TracefsError)) throw error;
          onRefused(tracepoint, error);
        }
        yield;
      }
    }
  }

  /** The events enabled now. */
  get enabledEvents(): readonly Tracepoint[] {
    return this.enabled;
  }

  /**
   * While set, polling leaves the records in the kernel's buffers: no handler runs before
   * everything is attached (attaching gives the event loop its turns, see Session).
   */
  held = false;

  /** Trace-clock ns → CLOCK_MONOTONIC ns: add this (measured by start()). */
  clockToMonotonicNs = 0n;

  /** Disables an event again (a handler was detached) and clears its filter. */
  disable(tracepoint: Tracepoint): void {
    this.instance.disableEvent(tracepoint.system, tracepoint.event);
    this.instance.setFilter(tracepoint.system, tracepoint.event, '0');
    const index = this.enabled.findIndex((entry) => entry.system === tracepoint.system && entry.event === tracepoint.event);
    if (index >= 0) this.enabled.splice(index, 1);
  }

  /**
   * Turns recording on and polls the ring buffers, delivering records in time order. Busy
   * buffers are read again at once (as far as the kernel has filled their pages); idle ones
   * every `idleMs`.
   */
  start(deliver: RecordHandler, idleMs = 10): void {
    const cpus = this.options.cpus ?? Array.from({ length: this.instance.cpuCount() }, (_, cpu) => cpu);
    const reader = new RingReader(this.instance.directory, cpus, this.subBufferSize());
    reader.open();
    this.reader = reader;
    // Open readers keep the instance busy (rmdir fails with EBUSY): close them first on any exit.
    this.unregisterReader = registerCleanup(() => reader.close());
    this.instance.write('tracing_on', '1');
    this.calibrateClock(reader);
    const poll = (): void => {
      this.pollTimer = this.pollImmediate = null;
      if (this.reader === null) return;
      if (this.held) {
        this.pollTimer = setTimeout(poll, idleMs);
        return;
      }
      const pages = this.pump(deliver, 'filled');
      // A reader with a backlog goes on as soon as other callbacks have had their turn.
      if (reader.pending) this.pollImmediate = setImmediate(poll);
      else this.pollTimer = setTimeout(poll, pages > 0 ? 0 : idleMs);
    };
    this.pollTimer = setTimeout(poll, idleMs);
  }

  /**
   * Measures the trace clock against CLOCK_MONOTONIC: a marker written between two
   * process.hrtime readings is recorded with the trace clock's time. Called before any
   * event is enabled, so the marker is all the buffers hold.
   */
  private calibrateClock(reader: RingReader): void {
    const printId = this.layout({ system: 'ftrace', event: 'print' }).id;
    const before = process.hrtime.bigint();
    try {
      this.instance.write('trace_marker', 'ktap clock calibration');
    } catch (error) {
      // The kernel refuses markers from a CPU outside tracing_cpumask (-C): then the default
      // trace clock (sched_clock, counting from boot like CLOCK_MONOTONIC) is taken as is.
      if (error instanceof TracefsError) return;
      throw error;
    }
    const after = process.hrtime.bigint();
    let stamp: bigint | undefined;
    reader.pump((record) => {
      if (recordEventId(record, record.offset) === printId) stamp = record.timestamp;
    });
    if (stamp !== undefined) this.clockToMonotonicNs = (before + after) / 2n - stamp;
  }

  /** Reads and delivers what the buffers hold now (see PumpReach); returns the number of pages read. */
  pump(deliver: RecordHandler, reach: PumpReach = 'all'): number {
    if (this.reader === null || this.pumping) return 0;
    this.pumping = true;
    try {
      return this.reader.pump(deliver, reach);
    } finally {
      this.pumping = false;
    }
  }

  /** Trace-clock ns that record times count from. */
  get timeBase(): bigint {
    return this.reader?.timeBase ?? 0n;
  }

  /** Stops recording; what is already in the buffers stays readable. */
  stop(): void {
    if (this.pollTimer !== null) clearTimeout(this.pollTimer);
    if (this.pollImmediate !== null) clearImmediate(this.pollImmediate);
    this.pollTimer = this.pollImmediate = null;
    try {
      this.instance.write('tracing_on', '0');
    } catch (error) {
      if (!(error instanceof TracefsError)) throw error;
    }
  }

  /**
   * Delivers what is still buffered (after stop()) until UNTIL (performance.now() time): a
   * storm's backlog must not hold up the end. Returns the records left undelivered per CPU
   * (none when everything was delivered), which the caller reports with the lost events.
   */
  drain(deliver: RecordHandler, until: number): Map<number, number> {
    while (this.pump(deliver) > 0 || this.reader?.pending === true) {
      if (performance.now() < until) continue;
      const left = this.reader!.discard();
      for (const stats of this.bufferStats()) left.set(stats.cpu, (left.get(stats.cpu) ?? 0) + stats.entries);
      return left;
    }
    return new Map();
  }

  /** Events lost per CPU: pages flagged with missed events, or the kernel's own counters if higher. */
  lostPerCpu(): Map<number, number> {
    const lost = new Map(this.reader?.lostPerCpu() ?? []);
    for (const stats of this.bufferStats()) {
      lost.set(stats.cpu, Math.max(lost.get(stats.cpu) ?? 0, stats.overrun + stats.dropped));
    }
    return lost;
  }

  bufferStats(): CpuBufferStats[] {
    const cpus = this.options.cpus ?? Array.from({ length: this.instance.cpuCount() }, (_, cpu) => cpu);
    return cpus.map((cpu) => {
      let text = '';
      try {
        text = this.instance.read(`per_cpu/cpu${cpu}/stats`);
      } catch {
        // the instance may be gone already
      }
      const value = (name: string): number => Number(new RegExp(`^${name}: (\\d+)`, 'm').exec(text)?.[1] ?? 0);
      return { cpu, entries: value('entries'), overrun: value('overrun'), dropped: value('dropped events'), read: value('read events') };
    });
  }

  /**
   * Stops reading and removes the instance with everything in it; with HAND_OFF, recording
   * stops and the guardian removes the instance once ktap has exited.
   */
  close(handOff = false): void {
    this.stop();
    this.reader?.close();
    this.reader = null;
    this.unregisterReader?.();
    if (handOff) this.instance.abandon();
    else this.instance.remove();
  }

  /** Size of one ring-buffer page as trace_pipe_raw returns it. */
  private subBufferSize(): number {
    try {
      return Number(this.instance.read('buffer_subbuf_size_kb').trim()) * 1024 || 4096;
    } catch {
      return 4096;
    }
  }
}
