// Kernel-tier placement: which trace handlers of a session run in the kernel (eBPF,
// bpf/tier.ts) and which stay in the VM, their attaching there, the watch that turns an
// error counted in the kernel into a runtime error, and their runs read back.

import { upvaluesWritten } from '../bpf/analyze';
import { KernelTier, KernelTierError } from '../bpf/tier';
import { findTracefs } from '../probes/tracefs';
import { RuntimeError } from '../vm/errors';
import type { Handler } from './handler';
import type { SessionOptions } from './options';
import { checkTargets } from './targets';

/**
 * How often the kernel tier's error counter is read (ms): with every handler in the kernel this
 * is all ktap does, and each wake-up costs ~0.4 ms of CPU on a loaded machine.
 */
const KERNEL_POLL_MS = 1000;

/** What placement reads of its session, and how a handler failing in the kernel reaches it. */
export interface PlacementHost {
  /** The handlers attached now (an error counted in the kernel names one by id). */
  readonly handlers: readonly Handler[];
  /** Runs per handler id: a handler leaving the kernel leaves its count there. */
  readonly handlerRuns: number[];
  /** Whether a runtime error already failed the session (a later one is not reported). */
  failed(): boolean;
  /** The processes traced (-p, the workload); undefined when all are. */
  targetPids(): number[] | undefined;
  /** A runtime error counted in the kernel, handled as the VM's are (SessionRunner.handlerFailed). */
  handlerFailed(handler: Handler, error: RuntimeError): void;
  /** A kernel address as stack() names it (stack() keys of kernel tables). */
  kernelFrame(address: bigint): string;
}

export class KernelPlacement {
  /** The kernel tier, once a handler was tried there and BPF is available. */
  private tier: KernelTier | null = null;
  /** Why the kernel tier is not available here, once asked. */
  private unavailable: string | null = null;
  private watch: NodeJS.Timeout | null = null;
  /** Globals written by trace handlers in user space (`all`: one calls a script function). */
  private userTierWrites: Set<object> | 'all' = new Set();

  constructor(private readonly options: SessionOptions, private readonly host: PlacementHost) {}

  /**
   * Chooses the trace handlers of PENDING that run in the kernel (--tier auto: those that
   * can; --tier kernel: all, or an error) and attaches them there. A global written by a
   * handler that stays in user space keeps every handler using it in user space too: user
   * space sees events later than the kernel, so the two would not see the same order.
   * -v says per handler which tier runs it and, for the user tier, why.
   */
  place(pending: readonly Handler[]): Set<Handler> {
    const mode = this.options.tier ?? 'auto';
    const placed = new Set<Handler>();
    const candidates = pending.filter((handler) => handler.kind === 'trace' || handler.kind === 'profile');
    if (mode === 'user' || candidates.length === 0) return placed;
    const tier = this.options.dryRun ? null : this.open();
    if (tier === null && !this.options.dryRun) {
      if (mode === 'kernel') throw new KernelTierError(`--tier kernel: ${this.unavailable}`);
      return placed;
    }
    const reasons = new Map<Handler, string | null>(candidates.map((handler) => [handler, KernelTier.reasonAgainst(handler)]));
    for (;;) {
      this.keepSharedInUserSpace(reasons);
      let failed = false;
      for (const [handler, reason] of reasons) {
        if (reason !== null || placed.has(handler) || tier === null) continue;
        let refusal: string | null;
        try {
          refusal = tier.attach(handler);
        } catch (error) {
          if (!(error instanceof KernelTierError) || mode === 'kernel') throw error;
          refusal = error.message;
          if (this.options.verbose) for (const line of error.details) process.stderr.write(`ktap: verifier: ${line}\n`);
        }
        if (refusal === null) placed.add(handler);
        else {
          reasons.set(handler, refusal);
          failed = true;
        }
      }
      if (!failed) break;
      // A refusal may keep globals in user space that handlers already placed also use.
      for (const handler of placed) tier!.detach(handler);
      placed.clear();
    }
    for (const [handler, reason] of reasons) {
      if (reason !== null && mode === 'kernel') {
        for (const placedHandler of placed) tier?.detach(placedHandler);
        const located = reason.replace(/^line (\d+): /, `${this.options.scriptName}:$1: `);
        throw new KernelTierError(`--tier kernel: ${located} (${handler.kind === 'trace' ? 'trace ' : ''}${handler.header})`);
      }
      this.tierNote(handler, reason);
    }
    if (this.options.verbose && tier !== null) for (const handler of placed) for (const note of tier.notesOf(handler)) process.stderr.write(`ktap: ${note}\n`);
    if (this.options.dryRun) return new Set();
    if (placed.size > 0) this.watchErrors(tier!);
    return placed;
  }

  /** Which tier runs HANDLER: the kernel (eBPF) or the VM in user space. */
  tierOf(handler: Handler): 'kernel' | 'user' {
    return this.tier?.has(handler) === true ? 'kernel' : 'user';
  }

  /** Runs of HANDLER so far: counted by the VM, or by its program in the kernel (read now). */
  runsOf(handler: Handler): number {
    const tier = this.tier;
    return tier !== null && tier.has(handler) ? tier.runs(handler) : this.host.handlerRuns[handler.id] ?? 0;
  }

  /** Kernel events of a handler placed in the kernel. */
  eventsOf(handler: Handler): number {
    return this.tier!.eventsOf(handler);
  }

  /** Runs of the kernel-tier handlers per CPU (the dashboard's per-CPU rows); null when none runs there. */
  runsPerCpu(): number[] | null {
    const tier = this.tier;
    if (tier === null) return null;
    const totals: number[] = [];
    for (const handler of this.host.handlers) {
      if (!tier.has(handler)) continue;
      tier.hitsPerCpu(handler).forEach((runs, cpu) => (totals[cpu] = (totals[cpu] ?? 0) + runs));
    }
    return totals.length === 0 ? null : totals;
  }

  /** Removes HANDLER's program, if it has one; its runs stay for the faces. */
  detach(handler: Handler): void {
    const tier = this.tier;
    if (tier?.has(handler) !== true) return;
    this.host.handlerRuns[handler.id] = tier.runs(handler);
    tier.detach(handler);
  }

  /** The session ends: the programs stop counting, and an error they counted is handled. */
  stop(): void {
    if (this.tier === null) return;
    this.tier.stop();
    this.pollErrors(this.tier);
  }

  /** Removes every program, after handling an error they counted; their runs stay for the faces. */
  close(): void {
    if (this.watch !== null) clearInterval(this.watch);
    this.watch = null;
    const tier = this.tier;
    this.tier = null;
    if (tier === null) return;
    this.pollErrors(tier);
    for (const handler of this.host.handlers) if (tier.has(handler)) this.host.handlerRuns[handler.id] = tier.runs(handler);
    const dropped = tier.droppedStacks();
    if (dropped.samples > 0) {
      process.stderr.write(`ktap: ${dropped.samples} profile samples dropped: their kernel stacks did not fit the stack map ` +
        `(${dropped.entries} entries, set by --max-table-entries)\n`);
    }
    tier.close();
  }

  private noteUserTierWrites(handler: Handler): void {
    if (this.userTierWrites === 'all') return;
    const body = handler.body;
    const written = body === undefined ? 'all' : upvaluesWritten(body.proto);
    if (written === 'all') this.userTierWrites = 'all';
    else for (const upvalue of written) this.userTierWrites.add(body!.cells[upvalue]!);
  }

  private keepSharedInUserSpace(reasons: Map<Handler, string | null>): void {
    for (let changed = true; changed; ) {
      changed = false;
      for (const [handler, reason] of reasons) if (reason !== null) this.noteUserTierWrites(handler);
      const written = this.userTierWrites;
      for (const [handler, reason] of reasons) {
        if (reason !== null || handler.body === undefined) continue;
        const shared = handler.body.proto.upvalues.findIndex((_, index) => written === 'all' || written.has(handler.body!.cells[index]!));
        if (shared < 0) continue;
        const name = handler.body.proto.upvalues[shared]!.name;
        reasons.set(handler, `line ${handler.body.proto.lineDefined}: ${name} is also written by a handler that runs in user space`);
        changed = true;
      }
    }
  }

  private tierNote(handler: Handler, reason: string | null): void {
    if (!this.options.verbose) return;
    process.stderr.write(reason === null ? `ktap: ${handler.header}: kernel tier (eBPF)\n` : `ktap: ${handler.header}: user tier (${reason})\n`);
  }

  private open(): KernelTier | null {
    if (this.tier !== null) return this.tier;
    if (this.unavailable !== null) return null;
    checkTargets(this.options);
    const pids = this.host.targetPids();
    const opened = KernelTier.open({
      tracefsRoot: findTracefs(),
      maxEntries: this.options.limits.maxTableEntries,
      traceSelf: this.options.traceSelf === true,
      kernelFrame: (address) => this.host.kernelFrame(address),
      ...(this.options.cpu === undefined ? {} : { cpu: this.options.cpu }),
      ...(pids === undefined ? {} : { pids }),
    });
    if (opened instanceof KernelTier) return (this.tier = opened);
    this.unavailable = opened.unavailable;
    if (this.options.verbose) process.stderr.write(`ktap: kernel tier unavailable (${opened.unavailable}); every handler runs in user space\n`);
    return null;
  }

  /**
   * While kernel-tier handlers run, a runtime error they counted ends the session as the
   * VM's would. Their runs are read when asked (runsOf), not polled: an idle poll is one
   * lookup, so ktap costs next to nothing while the kernel does the work.
   */
  private watchErrors(tier: KernelTier): void {
    if (this.watch !== null) return;
    // Not unref'd: with every handler in the kernel, this timer is what keeps the process up.
    this.watch = setInterval(() => this.pollErrors(tier), KERNEL_POLL_MS);
  }

  private pollErrors(tier: KernelTier): void {
    const error = tier.takeError();
    if (error === null || this.host.failed()) return;
    const handler = this.host.handlers.find((candidate) => candidate.id === error.handlerId);
    // Events that ran while a failed handler was being detached count again: it was reported.
    if (handler === undefined) return;
    const message = new RuntimeError(error.message, error.limit);
    // Placed like the VM's errors are (error: FILE:LINE, -v, the REPL's report).
    message.position = { chunk: handler.body?.proto.source ?? this.options.scriptName, line: error.line };
    this.host.handlerFailed(handler, message);
  }
}
