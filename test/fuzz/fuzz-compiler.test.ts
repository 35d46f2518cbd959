// 100,000 generated and mutated scripts through the compiler (one in 8 that compile also
// through the verifier and the listing, one in 32 run in the VM), seeded so that a failure
// replays; a failing input is saved under fuzz-crashes/ and named in the failure.

import t from 'tap';
import { fuzzCompiler } from './fuzz-compiler';

t.test('the compiler and VM only ever fail with their own errors', async (t) => {
  const result = fuzzCompiler({ inputs: 100_000, seed: 0x6b747031, runEvery: 32 });
  t.comment(`${result.inputs} inputs in ${Math.round(result.elapsedMs)} ms: ${result.compiled} compiled, ${result.compileErrors} compile errors; runs ${JSON.stringify(result.runs)}`);
  t.equal(result.inputs, 100_000);
  t.ok(result.compiled > result.inputs / 5, 'a good share compiles: inputs reach the code generator');
  t.ok(result.compileErrors > result.inputs / 5, 'a good share fails to compile: inputs reach the error paths');
  t.ok(result.runs.ok > 0 && result.runs.error > 0, 'runs end normally and in runtime errors');
});
