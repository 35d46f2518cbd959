// An in-process session for tests of what reads one (the dashboard's model, the metrics
// collector): script output goes to /dev/null, code runs in the session's scope as --tui and
// --metrics compile scripts.

import t from 'tap';
import { closeSync, openSync } from 'node:fs';
import { Session } from '../../src/session/session';
import { DEFAULT_LIMITS } from '../../src/vm/limits';

let nullFd: number | undefined;

/** A quiet session whose script output is discarded. */
export function newSession(): Session {
  if (nullFd === undefined) {
    const fd = openSync('/dev/null', 'w');
    nullFd = fd;
    t.teardown(() => closeSync(fd));
  }
  return new Session({
    limits: DEFAULT_LIMITS, outputFd: nullFd, json: false, quiet: true, verbose: false, dryRun: false,
    scriptName: 'test', scriptArgs: [],
  });
}

/** Runs ktap code in the session's scope; the run must end normally. */
export function run(session: Session, source: string): void {
  t.equal(session.runCode(session.compileScript(source, 'test', true).main), 'ok', source);
}
