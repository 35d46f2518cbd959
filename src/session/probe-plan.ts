// The uprobes and kprobes a session asked for, planned before they exist: named when a
// definition is routed, created one kernel write per step at commit, and those of a glob
// the kernel refused kept (skipped, counted per handler, reported by the session).

import type { ProbeDefiners } from '../probes/dynamic';
import { TracefsError } from '../probes/tracefs';
import type { ProbeDefiner, ProbeEvent, ProbeSet, ProbeSpec } from '../probes/uprobe';
import type { Tracepoint } from '../probes/resolve';
import type { Handler } from './handler';

/**
 * The probes one definition asked for (one call of definers()): created when the session
 * commits. A batch of several is a glob: the kernel may refuse some of them.
 */
export interface ProbeBatch {
  size: number;
  /** The header of the handler the probes are for (known once it is routed). */
  header: string;
}

/** A probe planned by definers() and created, step by step, by create(). */
interface PlannedProbe {
  readonly set: ProbeSet;
  readonly spec: ProbeSpec;
  readonly probe: ProbeEvent;
  readonly batch: ProbeBatch;
  refused: boolean;
}

/** Probes of globs the kernel refused, by the header of the handler that asked for them. */
export interface RefusedProbes {
  readonly header: string;
  readonly probes: Array<{ readonly event: string; readonly reason: string }>;
}

/** A handler routed to an event (the event may be a planned probe). */
export interface RoutedEvent {
  readonly handler: Handler;
  readonly tracepoint: Tracepoint;
}

export class ProbePlan {
  /** Probes of globs the kernel refused (skipped). */
  readonly refused: RefusedProbes[] = [];
  private readonly refusedByHandler = new Map<Handler, number>();
  /** Probes planned by definers(), by `GROUP:EVENT`, and those create() has yet to create. */
  private readonly planned = new Map<string, PlannedProbe>();
  private pending: PlannedProbe[] = [];
  /** What -v says of how probe definitions were resolved (aliases folded), until taken. */
  private readonly notes: string[] = [];

  /**
   * Where the probes of one definition are defined in SETS: they are only planned here
   * (named, so that they can be routed) and created by create(), one kernel write per step.
   */
  definers(sets: { readonly uprobes: ProbeSet; readonly kprobes: ProbeSet | null }): ProbeDefiners {
    const batch: ProbeBatch = { size: 0, header: '' };
    const planner = (set: ProbeSet): ProbeDefiner => ({
      define: (spec) => {
        const probe = set.plan(spec);
        const key = `${probe.system}:${probe.event}`;
        if (!this.planned.has(key)) {
          const planned: PlannedProbe = { set, spec, probe, batch, refused: false };
          this.planned.set(key, planned);
          this.pending.push(planned);
          batch.size++;
        }
        return probe;
      },
    });
    return {
      uprobes: planner(sets.uprobes),
      kprobes: sets.kprobes === null ? null : planner(sets.kprobes),
      note: (text) => this.notes.push(text),
    };
  }

  /** The notes of the definitions resolved since the last call. */
  takeNotes(): string[] {
    return this.notes.splice(0);
  }

  /** The batch of the planned probe TRACEPOINT is; undefined for any other event. */
  batchOf(tracepoint: Tracepoint): ProbeBatch | undefined {
    return this.planned.get(`${tracepoint.system}:${tracepoint.event}`)?.batch;
  }

  /** Whether TRACEPOINT is a planned probe the kernel refused to create. */
  wasRefused(tracepoint: Tracepoint): boolean {
    return this.planned.get(`${tracepoint.system}:${tracepoint.event}`)?.refused === true;
  }

  /** An attach that failed before its commit: what it planned is dropped. */
  dropPending(): void {
    for (const planned of this.pending) this.planned.delete(`${planned.probe.system}:${planned.probe.event}`);
    this.pending = [];
  }

  /**
   * Creates the probes planned since the last call, one kernel write per step. A probe of a
   * glob the kernel refuses is skipped and counted against the handlers of ROUTES that asked
   * for it; a refused single probe, or all of a glob's, throws.
   */
  *create(routes: readonly RoutedEvent[]): Generator<void, void> {
    const probes = this.pending;
    this.pending = [];
    for (const planned of probes) {
      try {
        planned.set.define(planned.spec);
      } catch (error) {
        if (!(error instanceof TracefsError) || planned.batch.size === 1) throw error;
        planned.refused = true;
        this.refuse(planned.batch, planned.probe.event, error.reason ?? error.message,
          routes.filter((entry) => entry.tracepoint.event === planned.probe.event && entry.tracepoint.system === planned.probe.system).map((entry) => entry.handler));
      }
      yield;
    }
    for (const batch of new Set(probes.map((planned) => planned.batch))) {
      const refused = probes.filter((planned) => planned.batch === batch && planned.refused).length;
      if (refused > 0 && refused === batch.size) throw new TracefsError(`${batch.header}: the kernel refused all ${batch.size} probes`);
    }
  }

  /** How many of the handler's events the kernel refused (globs only). */
  refusedCount(handler: Handler): number {
    return this.refusedByHandler.get(handler) ?? 0;
  }

  /** A probe of a glob the kernel refused: skipped, and reported by the session. */
  refuse(batch: ProbeBatch, event: string, reason: string, handlers: readonly Handler[]): void {
    let entry = this.refused.find((candidate) => candidate.header === batch.header);
    if (entry === undefined) this.refused.push((entry = { header: batch.header, probes: [] }));
    entry.probes.push({ event, reason });
    for (const handler of handlers) this.refusedByHandler.set(handler, this.refusedCount(handler) + 1);
  }
}
