// One kernel-tier attach and teardown timed inside a fresh process (run by live.mjs): the
// shipped Session compiles `var s = {} trace syscalls:sys_enter_* { s[execname] += 1 }`
// under --tier kernel, attachPending() places it (koffi loaded, maps made, program verified
// and attached) and close() removes it. Prints {"attachMs", "teardownMs"} as JSON. Timed in
// the process, the figure is free of Node's own start, which a loaded machine moves by
// hundreds of ms.

import { openSync } from 'node:fs';
import { Session } from '../../src/session/session';
import { DEFAULT_LIMITS } from '../../src/vm/limits';

const session = new Session({
  limits: { ...DEFAULT_LIMITS },
  outputFd: openSync('/dev/null', 'w'),
  json: false,
  quiet: true,
  verbose: false,
  dryRun: false,
  scriptName: '(command line)',
  scriptArgs: [],
  tier: 'kernel',
});
const { main } = session.compileScript('var s = {} trace syscalls:sys_enter_* { s[execname] += 1 }', '(command line)');
if (session.runCode(main) !== 'ok') throw new Error('the script failed');
const start = performance.now();
const attached = session.attachPending();
const placed = performance.now();
session.end('interrupt');
session.close();
const closed = performance.now();
if (attached.length !== 1 || attached[0]!.events !== 1) throw new Error(`expected one raw tracepoint, got ${JSON.stringify(attached.map((entry) => entry.events))}`);
process.stdout.write(`${JSON.stringify({ attachMs: placed - start, teardownMs: closed - placed })}\n`);
