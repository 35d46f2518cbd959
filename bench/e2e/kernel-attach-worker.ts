// One kernel-tier attach and teardown timed inside a fresh process (run by live.mjs, bundled
// by esbuild first, so that Node loads koffi as it does for bin/ktap and not through tsx's
// hooks): the shipped Session compiles `var s = {} trace syscalls:sys_enter_* { s[execname]
// += 1 }` under --tier kernel, attachPending() places it (koffi loaded, maps made, program
// verified and attached) and close() removes it. Timed in the process, the figure is free of
// Node's own start, which a loaded machine moves by hundreds of ms.
//
// Prints {"attachMs", "teardownMs", "phases"} as JSON. attachMs is koffi's load, the check
// that BPF works (bpfAvailability, both done here first so that each is timed on its own,
// as attachPending would do them) and attachPending(); teardownMs is end() + close().
// phases: the time of each step inside those, from wrappers around the classes' methods.

import { openSync } from 'node:fs';
import { Session } from '../../src/session/session';
import { DEFAULT_LIMITS } from '../../src/vm/limits';
import { Attachment } from '../../src/bpf/attach';
import { bpfAvailability } from '../../src/bpf/available';
import { BpfMap } from '../../src/bpf/maps';
import { BpfProgram } from '../../src/bpf/program';
import { loadSyscalls } from '../../src/bpf/sys';
import { KernelTier } from '../../src/bpf/tier';

const phases: Record<string, number> = {};
const timed = <T>(phase: string, run: () => T): T => {
  const start = performance.now();
  try {
    return run();
  } finally {
    phases[phase] = (phases[phase] ?? 0) + performance.now() - start;
  }
};
/** Times every call of OWNER[METHOD] into the phase named by PHASE. */
function wrap(owner: object, method: string, phase: (self: unknown, args: unknown[]) => string): void {
  const target = owner as Record<string, (...args: unknown[]) => unknown>;
  const original = target[method]!;
  target[method] = function (this: unknown, ...args: unknown[]) {
    return timed(phase(this, args), () => original.apply(this, args));
  };
}
wrap(BpfMap, 'create', (_self, [spec]) => `map ${(spec as { name?: string }).name ?? '?'}`);
wrap(BpfMap.prototype, 'update', () => 'map updates');
wrap(BpfProgram, 'load', () => 'program load (verifier)');
wrap(KernelTier.prototype, 'syscallsOf', () => 'system calls with events');
wrap(Attachment.prototype, 'detach', () => 'teardown: detach');
wrap(BpfMap.prototype, 'entries', () => 'teardown: last read of the maps');
wrap(BpfMap.prototype, 'close', () => 'teardown: close maps');
wrap(BpfProgram.prototype, 'close', () => 'teardown: close programs');

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
timed('koffi load', loadSyscalls);
timed('BPF check (a minimal program)', bpfAvailability);
const attached = timed('attachPending()', () => session.attachPending());
const placed = performance.now();
session.end('interrupt');
session.close();
const closed = performance.now();
if (attached.length !== 1 || attached[0]!.events !== 1) throw new Error(`expected one raw tracepoint, got ${JSON.stringify(attached.map((entry) => entry.events))}`);
process.stdout.write(`${JSON.stringify({ attachMs: placed - start, teardownMs: closed - placed, phases })}\n`);
