// 100,000 mutated and random inputs through the bytecode loader, seeded so that a failure
// replays (the crafted files that reach the VM: fuzz-crafted.test.ts).

import t from 'tap';
import { fuzz } from './fuzz-bytecode';

t.test('the loader only ever rejects cleanly', async (t) => {
  const result = fuzz(100_000, 0x6b746170);
  t.equal(result.inputs, 100_000, `${result.inputs} inputs in ${Math.round(result.elapsedMs)} ms`);
  t.ok(result.accepted > 0 && result.accepted < result.inputs / 2, `${result.accepted} accepted: mutations reach past the checks`);
});
