// The end of a kernel session planned ahead: when removing the enabled probes would take the
// kernel too long, the guardian (probes/guardian.ts) takes the removal over, disabling the
// hottest probes first, and ktap exits within its second.

import { handOffTeardown, teardownOrder } from '../probes/guardian';
import type { KernelTracer } from '../probes/tracer';
import { isProbeGroup, uprobeHits, type ProbeSet } from '../probes/uprobe';

/** A removal the kernel takes longer for is left to the guardian (ktap exits within 1 s of a signal). */
const TEARDOWN_BUDGET_MS = 300;
/** How often the guardian's order of removal (plan) is brought up to date while events flow. */
const TEARDOWN_REFRESH_MS = 1000;

export class TeardownPlan {
  /**
   * The guardian's part if ktap ended now (see plan): undefined while unknown (an attach
   * under way), null when ktap removes everything itself within TEARDOWN_BUDGET_MS.
   */
  private teardown: { readonly probes: number; readonly order: string } | null | undefined;
  private refresh: NodeJS.Timeout | null = null;
  /** Enabled probes whose removal the guardian took over; null while ktap removes everything itself. */
  handedOff: number | null = null;

  /** PROBE_SETS: the sets the probes were defined in, abandoned to the guardian with the instance. */
  constructor(
    private readonly guardian: number | undefined,
    private readonly tracer: KernelTracer,
    private readonly probeSets: readonly ProbeSet[],
  ) {}

  /** An attach is under way: the plan is unknown until it is made again. */
  forget(): void {
    this.teardown = undefined;
  }

  /**
   * Plans the end: when removing the enabled events would take the kernel longer than
   * TEARDOWN_BUDGET_MS (see estimateMs), the guardian will take it over, disabling the
   * probes hit most often first: the kernel's hit counts, which count the calls of every
   * process, ktap's own included, from the moment a probe was enabled. Planned after each
   * attach and refreshed every second while events flow, so that the end has nothing to
   * compute: with thousands of uprobes on libc, every malloc of ktap's traps into the
   * kernel, and a sort at the end took seconds.
   */
  plan(): void {
    if (this.guardian === undefined || this.estimateMs() <= TEARDOWN_BUDGET_MS) {
      this.teardown = null;
      if (this.refresh !== null) clearInterval(this.refresh);
      this.refresh = null;
      return;
    }
    const hits = uprobeHits(this.tracer.root);
    const probes = this.tracer.enabledEvents.filter((tracepoint) => isProbeGroup(tracepoint.system));
    // A stable sort: probes never hit (and kprobes, which have no such count) keep their order.
    const order = [...probes].sort((a, b) => (hits.get(b.event) ?? 0) - (hits.get(a.event) ?? 0));
    this.teardown = { probes: probes.length, order: teardownOrder(this.tracer.instance.name, order) };
    if (this.refresh === null) {
      this.refresh = setInterval(() => this.plan(), TEARDOWN_REFRESH_MS);
      this.refresh.unref();
    }
  }

  /**
   * Hands a slow teardown to the guardian (plan), first thing at the end (the session's
   * end() calls it before anything else; stop() and close() too): it starts disabling
   * probes, hottest first, while ktap drains and runs trace_end. Each disabled probe stops
   * trapping the calls of every process at once, ktap's own included, so ktap's end runs on
   * a machine that is quickly less slowed down. The guardian removes the rest once ktap has
   * exited.
   */
  handOff(): void {
    if (this.handedOff !== null) return;
    if (this.teardown === undefined) this.plan();
    if (this.refresh !== null) clearInterval(this.refresh);
    this.refresh = null;
    const teardown = this.teardown;
    if (teardown === null || teardown === undefined || !handOffTeardown(teardown.order)) return;
    this.handedOff = teardown.probes;
    // From here on the instance and the probes are the guardian's: no exit path removes them.
    this.tracer.instance.abandon();
    for (const set of this.probeSets) set.abandon();
  }

  /**
   * What removing the enabled events will cost the kernel, in ms (measured on Linux 6.18):
   * each uprobe or kprobe waits for RCU grace periods when disabled (~27 ms), an ordinary
   * tracepoint ~0.4 ms, a syscall event next to nothing (the 720 of them: 4 ms).
   */
  private estimateMs(): number {
    let cost = 0;
    for (const tracepoint of this.tracer.enabledEvents) {
      cost += isProbeGroup(tracepoint.system) ? 27 : tracepoint.system === 'syscalls' ? 0.01 : 0.4;
    }
    return cost;
  }
}
