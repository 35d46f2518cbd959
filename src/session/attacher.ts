// Attaching a session's handlers: each one registered since the last time goes to the kernel
// tier, through the probe-source table to kernel events, or to a timer — in slices, so that
// signals are handled while thousands of probes are placed — and with -d to the dry run.

import { attachHandler, type Attacher } from '../probes/sources';
import { TimerScheduler, type TimerHandle } from '../probes/timer';
import { DryRun } from './dry-run';
import type { Handler } from './handler';
import type { KernelEvents } from './kernel-events';
import type { RefusedProbes } from './probe-plan';
import type { KernelPlacement } from './kernel-placement';
import type { SessionOptions } from './options';
import type { EndReason } from './runner';
import { checkTargets } from './targets';

/** While attaching, the event loop has its turn (signals, output) at least this often. */
const ATTACH_SLICE_MS = 20;

/** A handler attached, with its number of kernel events. */
export interface AttachedHandler {
  readonly handler: Handler;
  events: number;
}

/** What attaching reads of its session and may do to it. */
export interface AttachHost {
  /** The handlers registered, attached or not. */
  readonly handlers: readonly Handler[];
  /** The session's kernel events, null until a handler needed them. */
  readonly kernel: KernelEvents | null;
  /** Set once the session is ending: attaching in slices stops. */
  readonly endReason: EndReason | null;
  /** Detaches a handler from everything it was attached to. */
  detach(handler: Handler): void;
}

export class SessionAttacher {
  /** Ids of handlers attached (kernel events enabled or timer started). */
  private readonly attachedIds = new Set<number>();
  /** The recording attacher of a dry run (-d), made by the first handler attached. */
  private dryRun: DryRun | null = null;
  /** Running tick timers by handler id. */
  private readonly timers = new Map<number, TimerHandle>();
  private readonly timerScheduler = new TimerScheduler();
  /** Tick handlers attached by the step under way: their timers start once it is done. */
  private pendingTimers: Array<{ handler: Handler; intervalNs: number }> = [];

  constructor(
    private readonly options: SessionOptions,
    private readonly host: AttachHost,
    private readonly placement: KernelPlacement,
    /** The session's kernel events, created by the first handler that needs them. */
    private readonly kernelEvents: () => KernelEvents,
    /** Runs a tick of a timer handler, due at wallTimeNs. */
    private readonly tick: (handler: Handler, wallTimeNs: bigint) => void,
  ) {}

  /**
   * Attaches the handlers registered since the last call: kernel events (the first one
   * creates the tracing instance) and timers. Returns the handlers attached, with their
   * number of kernel events. A failure detaches nothing that was attached before.
   */
  attachPending(): AttachedHandler[] {
    const steps = this.attachSteps();
    for (;;) {
      const step = steps.next();
      if (step.done === true) return step.value;
    }
  }

  /**
   * attachPending for scripts: the event loop has its turn every ATTACH_SLICE_MS, so that a
   * signal is handled while thousands of probes are placed; once the session is ending,
   * attaching stops (close() removes what was attached).
   */
  async attachInSlices(): Promise<void> {
    const steps = this.attachSteps();
    let sliceStart = performance.now();
    while (steps.next().done !== true) {
      if (performance.now() - sliceStart < ATTACH_SLICE_MS) continue;
      await new Promise((resolve) => setImmediate(resolve));
      if (this.host.endReason !== null) {
        steps.return([]);
        return;
      }
      sliceStart = performance.now();
    }
  }

  /** Stops the timer of HANDLER, if it has one. */
  stopTimer(handler: Handler): void {
    this.timers.get(handler.id)?.stop();
    this.timers.delete(handler.id);
  }

  /** Stops every timer (the session ends: no tick runs after). */
  stopTimers(): void {
    for (const timer of this.timers.values()) timer.stop();
    this.timers.clear();
  }

  /** The steps of attachPending: one kernel write each (see KernelEvents.commit). */
  private *attachSteps(): Generator<void, AttachedHandler[]> {
    const pending = this.host.handlers.filter((handler) => !this.attachedIds.has(handler.id));
    if (this.options.dryRun) {
      // -C and -p as the live run checks them once it attaches to the kernel.
      if (pending.some((handler) => handler.kind !== 'tick')) checkTargets(this.options);
      this.placement.place(pending); // -v: the tier each handler would run in
      this.dryRun ??= new DryRun(this.options.verbose, (handler, intervalNs) => this.startTimer(handler, intervalNs));
      for (const handler of pending) {
        this.dryRun.attach(handler);
        this.attachedIds.add(handler.id);
      }
      return pending.filter((handler) => handler.kind === 'tick').map((handler) => ({ handler, events: 0 }));
    }
    const attached: AttachedHandler[] = [];
    const refusedBefore = this.host.kernel?.refused.map((entry) => entry.probes.length) ?? [];
    const inKernel = this.placement.place(pending);
    try {
      for (const handler of pending) {
        const events = inKernel.has(handler) ? this.placement.eventsOf(handler) : attachHandler(handler, handler.spec, this.attacher);
        attached.push({ handler, events });
      }
      const kernel = this.host.kernel;
      if (kernel !== null) yield* kernel.commit();
    } catch (error) {
      this.pendingTimers = [];
      for (const handler of pending) this.host.detach(handler);
      throw error;
    }
    for (const { handler, intervalNs } of this.pendingTimers.splice(0)) this.startTimer(handler, intervalNs);
    const kernel = this.host.kernel;
    if (kernel !== null) this.reportRefused(kernel.refused, refusedBefore);
    const definitionNotes = kernel?.takeDefinitionNotes() ?? [];
    if (this.options.verbose) for (const note of definitionNotes) process.stderr.write(`ktap: ${note}\n`);
    for (const entry of attached) {
      this.attachedIds.add(entry.handler.id);
      entry.events -= kernel?.refusedCount(entry.handler) ?? 0;
      if (this.options.verbose && entry.events > 0) process.stderr.write(`ktap: attached ${entry.handler.header} (${entry.events} event${entry.events === 1 ? '' : 's'})\n`);
    }
    if (this.options.verbose) for (const note of kernel?.captureNotes() ?? []) process.stderr.write(`ktap: ${note}\n`);
    return attached;
  }

  /**
   * One line per handler with probes of a glob the kernel refused (skipped, the run goes
   * on); -v lists each with the kernel's reason. BEFORE: how many were reported already.
   */
  private reportRefused(refused: readonly RefusedProbes[], before: readonly number[]): void {
    refused.forEach((entry, index) => {
      const probes = entry.probes.slice(before[index] ?? 0);
      if (probes.length === 0) return;
      process.stderr.write(`ktap: ${entry.header}: the kernel refused ${probes.length} probe${probes.length === 1 ? '' : 's'}, ` +
        `traced without ${probes.length === 1 ? 'it' : 'them'}${this.options.verbose ? '' : ' (-v lists them)'}\n`);
      if (!this.options.verbose) return;
      for (const probe of probes) process.stderr.write(`ktap:   ${probe.event}: ${probe.reason}\n`);
    });
  }

  /** The live attacher: kernel events (created by the first handler that needs them) and timers. */
  private readonly attacher: Attacher<Handler> = {
    tracepoints: (definitions) => this.kernelEvents().tracepoints(definitions),
    definers: () => this.kernelEvents().definers(),
    route: (handler, events, filter) => this.kernelEvents().route(handler, events, filter),
    functionTracer: (handler, patterns) => this.kernelEvents().functionTracer(handler, patterns),
    sample: (handler, intervalNs) => this.kernelEvents().sample(handler, intervalNs),
    // Timers start once everything is attached (attachSteps), so no tick runs while attaching.
    tick: (handler, intervalNs) => {
      this.pendingTimers.push({ handler, intervalNs });
      return 0;
    },
  };

  private startTimer(handler: Handler, intervalNs: number): number {
    this.timers.set(handler.id, this.timerScheduler.start(intervalNs, (due) => this.tick(handler, due)));
    return 0;
  }
}
