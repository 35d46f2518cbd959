// What a scrape reads from the session, through its public door (variables(), stats()):
// its variables by name and the counters it keeps. The only file of src/metrics that knows the Session.

import type { Session } from '../session/session';
import type { Value } from '../vm/value';

export interface MetricsStats {
  /** Records delivered per CPU (index = CPU). */
  readonly eventsPerCpu: readonly number[];
  /** Events the kernel lost per CPU. */
  readonly lostPerCpu: ReadonlyMap<number, number>;
  /** Estimated milliseconds spent running handlers per CPU (sampled, see kernel-events). */
  readonly handlerMsPerCpu: readonly number[];
  /** Records delivered per kernel event (`system:event`). */
  readonly eventsPerProbe: ReadonlyArray<{ readonly event: string; readonly count: number }>;
  /** Runs of each trace, tick and profile handler. */
  readonly handlerRuns: ReadonlyArray<{ readonly id: number; readonly header: string; readonly runs: number }>;
}

/** A scrape's view of a tracing run (a session, or a stand-in in unit tests). */
export interface MetricsSource {
  /** The script's top-level variables and their current values. */
  variables(): Iterable<readonly [string, Value]>;
  stats(): MetricsStats;
}

export function sessionSource(session: Session): MetricsSource {
  return {
    variables: () => session.variables(),
    stats() {
      const { cpus, probes, eventsPerProbe } = session.stats();
      return {
        eventsPerCpu: cpus?.events ?? [],
        lostPerCpu: cpus?.lost ?? new Map(),
        handlerMsPerCpu: cpus?.handlerMs ?? [],
        eventsPerProbe,
        handlerRuns: probes.map(({ handler, runs }) => ({ id: handler.id, header: handler.header, runs })),
      };
    },
  };
}
