// At least 100,000 mutated and random inputs through the bytecode loader, and crafted files
// (valid structure, wrong types) run in the sandbox, seeded so that a failure replays.

import t from 'tap';
import { fuzz, fuzzCrafted } from './fuzz-bytecode';

t.test('the loader only ever rejects cleanly', async (t) => {
  const result = fuzz(100_000, 0x6b746170);
  t.equal(result.inputs, 100_000, `${result.inputs} inputs in ${Math.round(result.elapsedMs)} ms`);
  t.ok(result.accepted > 0 && result.accepted < result.inputs / 2, `${result.accepted} accepted: mutations reach past the checks`);
});

t.test('crafted files that pass the verifier only ever end in VM errors', async (t) => {
  // Each file is translated with `new Function`, so these are slower: a time budget, and a floor.
  const result = fuzzCrafted(20_000, 0x6b746171, 3_000);
  t.comment(`${result.inputs} crafted files in ${Math.round(result.elapsedMs)} ms; runs ${JSON.stringify(result.runs)}`);
  t.ok(result.inputs >= 256, `${result.inputs} inputs`);
  t.ok(result.accepted > result.inputs * 0.9, 'crafted files pass the verifier');
  t.ok(result.runs.error > 0, 'and reach runtime errors');
});
