// The loop every in-process fuzzer runs: input I of seed S made from (S, I) alone, each
// exercised under the hang watchdog, outcomes tallied, and the first input that does
// anything but an allowed outcome saved under fuzz-crashes/ and reported with its stack.

import { FuzzFailure, type FailureKind } from './crashes';
import { Watchdog } from './watchdog';

/** An input taking more CPU time than this is a hang (issue #11: "a hang (> 2 s)"). */
export const HANG_LIMIT_MS = 2000;

export interface FuzzLoop<Input, Outcome extends string> {
  /** Names the fuzzer in failures and saved files (`compiler`, `bytecode-crafted`, `elf`). */
  readonly fuzzer: string;
  readonly seed: number;
  /** Inputs to run, from index `from` (default 0). */
  readonly inputs: number;
  readonly from?: number;
  /** Stop early once the process has used this much CPU time (ms) in the loop. */
  readonly cpuBudgetMs?: number;
  /** Extension of saved inputs (`.kp`, `.ktapc`, `.elf`). */
  readonly extension: string;
  /** Input `index` of the seed: depends on nothing else, so one input replays alone. */
  make(index: number): Input;
  /** The bytes saved when the input fails. */
  bytes(input: Input): Uint8Array | string;
  /** Runs one input; throws for anything a user must never see. */
  exercise(input: Input, index: number): Outcome;
  /** What kind of failure an exception is (default: internal error). */
  kind?(error: unknown): FailureKind;
  /** The hang limit (default HANG_LIMIT_MS; the watchdog's own test uses less). */
  readonly hangLimitMs?: number;
}

export interface FuzzTally<Outcome extends string> {
  inputs: number;
  outcomes: Record<Outcome, number>;
  elapsedMs: number;
  cpuMs: number;
}

/** Runs the loop; throws FuzzFailure (input saved) on the first input that fails. */
export function runFuzzLoop<Input, Outcome extends string>(loop: FuzzLoop<Input, Outcome>): FuzzTally<Outcome> {
  const watchdog = new Watchdog(`${loop.fuzzer}-seed${loop.seed}`, loop.hangLimitMs ?? HANG_LIMIT_MS);
  const tally: FuzzTally<Outcome> = { inputs: 0, outcomes: {} as Record<Outcome, number>, elapsedMs: 0, cpuMs: 0 };
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  const cpuMs = (): number => {
    const used = process.cpuUsage(cpuStart);
    return (used.user + used.system) / 1000;
  };
  // Stacks for the expected errors would take most of the time; a failing input is run
  // again with stacks on, so its report shows where it came from.
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  // Under tsx source maps are on, and Node then scans every `new Function` body (one per
  // translated input) for a sourceMappingURL: ~6 % of the crafted fuzzer's time. Off here.
  const sourceMaps = process.sourceMapsEnabled;
  process.setSourceMapsEnabled(false);
  try {
    const from = loop.from ?? 0;
    for (let index = from; index < from + loop.inputs; index++) {
      if (loop.cpuBudgetMs !== undefined && (index & 0xff) === 0 && cpuMs() > loop.cpuBudgetMs) break;
      const input = loop.make(index);
      watchdog.begin(loop.bytes(input), index);
      let outcome: Outcome;
      try {
        outcome = loop.exercise(input, index);
      } catch (error) {
        Error.stackTraceLimit = stackTraceLimit;
        process.setSourceMapsEnabled(sourceMaps);
        let detailed: unknown = error;
        try {
          loop.exercise(input, index);
        } catch (again) {
          detailed = again;
        }
        throw new FuzzFailure(loop.kind?.(error) ?? 'internal error', loop.fuzzer, loop.seed, index, loop.bytes(input), loop.extension, detailed);
      } finally {
        watchdog.end();
      }
      tally.inputs++;
      tally.outcomes[outcome] = (tally.outcomes[outcome] ?? 0) + 1;
    }
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
    process.setSourceMapsEnabled(sourceMaps);
    void watchdog.stop();
  }
  tally.elapsedMs = performance.now() - start;
  tally.cpuMs = cpuMs();
  return tally;
}
