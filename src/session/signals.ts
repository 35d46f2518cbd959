// The signals that end a tracing session: caught from before ktap's first write to the
// kernel until its last removal, so that each one ends the run cleanly instead of killing it.

/**
 * Every signal whose default action ends the process and that a user or the system sends
 * to end ktap: Ctrl-C, kill, a closed terminal or SSH connection, Ctrl-\, an alarm
 * (`timeout -s ALRM`). SIGPIPE is not here: Node ignores it, and a closed output shows as
 * EPIPE on the next write (see output.ts). SIGKILL cannot be caught: the guardian covers it.
 */
export const TERMINATING_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGALRM'];

/**
 * Calls ON_SIGNAL for each terminating signal but those in SKIP (signals a face handles
 * itself, e.g. Ctrl-C at the REPL's prompt). Returns the function that stops catching them.
 */
export function catchTerminatingSignals(onSignal: (signal: NodeJS.Signals) => void, skip: ReadonlySet<NodeJS.Signals> = new Set()): () => void {
  const caught = TERMINATING_SIGNALS.filter((signal) => !skip.has(signal));
  for (const signal of caught) process.on(signal, onSignal);
  return () => {
    for (const signal of caught) process.off(signal, onSignal);
  };
}
