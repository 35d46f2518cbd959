// What a session is asked to do: the command line's (or an agent's) options, read by the
// session and the modules it delegates to.

import type { TierMode } from '../bpf/tier';
import type { Limits } from '../vm/limits';

export interface SessionOptions {
  readonly limits: Limits;
  /** File descriptor of the script output (stdout or the -o file). */
  readonly outputFd: number;
  /** How errors name the output: the -o path (standard output when absent). */
  readonly outputName?: string;
  readonly json: boolean;
  readonly quiet: boolean;
  readonly verbose: boolean;
  readonly dryRun: boolean;
  /** --bare-errors: runtime errors as ktap wrote them (`error: MESSAGE`), without file, line or limit option. */
  readonly bareErrors?: boolean;
  /** arg[0]: the script path as given, or `(command line)`. */
  readonly scriptName: string;
  /** arg[1]…: script arguments. */
  readonly scriptArgs: readonly string[];
  /** -p: trace only this process (and its children). */
  readonly pid?: number;
  /** -C: trace only this CPU. */
  readonly cpu?: number;
  /** -T: prefix each event's output with its kernel timestamp. */
  readonly timestamps?: boolean;
  /** Ring buffer per CPU in KiB. */
  readonly bufferSizeKb?: number;
  /** --trace-self: keep the events of ktap's own process and its guardian (not recorded by default). */
  readonly traceSelf?: boolean;
  /** `-- cmd args`: the workload, released once everything is attached; its exit ends the run. */
  readonly command?: readonly string[];
  /**
   * The workload's stdout and stderr go to onWorkloadOutput and its stdin is /dev/null:
   * the dashboard owns the terminal.
   */
  readonly captureWorkloadOutput?: boolean;
  /** --tier: where trace handlers run (default auto: in the kernel when they can). */
  readonly tier?: TierMode;
  /** What host() returns (a fleet agent's label in --hosts); the hostname when absent. */
  readonly hostLabel?: string;
}
