// `ktap --hosts … FILE | -e | -s`: the coordinator's run. The script, compiled and verified
// here once, runs as main on this session (for the merged variables, tick-N and trace_end)
// and as bytecode on every host's agent; the exit status says whether a host failed.

import type { Session } from '../session/session';
import type { KFunction } from '../vm/value';
import { Fleet } from './coordinator';
import type { HostSpec } from './hosts';
import { PROTOCOL_VERSION, type HostSessionOptions } from './protocol';
import type { AgentSource } from './ssh';

export interface FleetScript {
  /** The coordinator's own session: quiet, no workload, no kernel events. */
  readonly session: Session;
  readonly main: KFunction;
  /** The bytecode file the agents run. */
  readonly bytecode: Uint8Array;
  /** Whether its top-level variables are session variables (so they can be merged by name). */
  readonly sessionVariables: boolean;
  readonly hosts: readonly HostSpec[];
  readonly source: AgentSource;
  readonly connectTimeoutS: number;
  readonly intervalMs: number;
  readonly command: readonly string[];
  /** How every agent's session runs (-T, -d, -C, --tier, limits, …). */
  readonly hostOptions: HostSessionOptions;
  readonly quiet: boolean;
  /** Opens the dashboard on the fleet (--tui); returns how to close it. */
  readonly openFace?: (fleet: Fleet) => { close(): void };
}

/** A host failed: exit status 1, as for other failures outside the VM. */
const EXIT_HOST_FAILED = 1;

export async function runFleetScript(script: FleetScript): Promise<number> {
  const { session } = script;
  // The hosts print what main prints; here it only builds the variables and registers handlers.
  const mainErrors: string[] = [];
  session.writer.redirect = () => undefined;
  session.onRuntimeError = (message) => mainErrors.push(message);
  const outcome = session.runCode(script.main);
  session.writer.flush();
  session.writer.redirect = null;
  session.onRuntimeError = null;
  if (outcome === 'error') {
    for (const message of mainErrors) session.sink.error(message);
    return 0;
  }
  if (outcome === 'exit') {
    session.runEndHandlers();
    return 0;
  }
  // Trace and profile handlers run on the hosts; tick-N handlers run here, on the merged view.
  for (const handler of [...session.handlers]) if (handler.kind !== 'tick') session.detach(handler);

  const { options } = session;
  const fleet = new Fleet(session, {
    hosts: script.hosts,
    quiet: script.quiet,
    verbose: options.verbose,
    source: script.source,
    connectTimeoutS: script.connectTimeoutS,
    silenceMs: Math.max(10_000, 5 * script.intervalMs),
    start: {
      type: 'start',
      protocol: PROTOCOL_VERSION,
      bytecode: Buffer.from(script.bytecode).toString('base64'),
      sessionVariables: script.sessionVariables,
      scriptName: options.scriptName,
      scriptArgs: options.scriptArgs,
      intervalMs: script.intervalMs,
      command: script.command,
      ...script.hostOptions,
    },
  });
  let face: { close(): void } | null = null;
  try {
    fleet.start();
    face = script.openFace?.(fleet) ?? null;
    await session.runEvents();
    await fleet.finish();
  } finally {
    for (const host of fleet.connections) host.kill();
    face?.close();
  }
  if (!session.failed) session.runEndHandlers();
  return fleet.anyFailed ? EXIT_HOST_FAILED : 0;
}
