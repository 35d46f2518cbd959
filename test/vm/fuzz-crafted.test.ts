// 100,000 semantically crafted bytecode files (valid structure, values of the wrong types:
// test/vm/craft-bytecode.ts) through the verifier and run in the sandbox, in-process and
// seeded so that a failure replays; the watchdog fails the run on an input over 2 s of CPU.

import t from 'tap';
import { fuzzCrafted } from './fuzz-bytecode';

const INPUTS = 100_000;
/**
 * CPU time, not wall time: a busy machine slows the run down but does not cut it short.
 * Each file is translated with `new Function` (about 1 ms of CPU in all, measured), so the
 * budget is a guard against a run that got several times slower, not a figure.
 */
const CPU_BUDGET_MS = 400_000;

t.test('crafted files that pass the verifier only ever end in VM errors', async (t) => {
  const result = fuzzCrafted(INPUTS, 0x6b746171, CPU_BUDGET_MS);
  t.comment(`${result.inputs} crafted files in ${Math.round(result.elapsedMs)} ms (${Math.round(result.cpuMs)} ms CPU); runs ${JSON.stringify(result.runs)}`);
  t.equal(result.inputs, INPUTS, `all ${INPUTS} within the CPU budget`);
  t.ok(result.accepted > result.inputs * 0.9, 'crafted files pass the verifier');
  t.ok(result.runs.error > 0 && result.runs.ok > 0, 'and end in runtime errors and normally');
});
