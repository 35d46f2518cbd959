// Long fuzzing runs of the bytecode loader (`npm run fuzz`): argv gives the number of inputs
// and optionally the seed; a failing input is printed with its seed and index to replay it.

import { fuzz, FuzzEscape } from './fuzz-bytecode';

const iterations = Number(process.argv[2] ?? 2_000_000);
const seed = Number(process.argv[3] ?? 1);
try {
  const result = fuzz(iterations, seed);
  const rate = Math.round(result.inputs / (result.elapsedMs / 1000));
  console.log(`${result.inputs} inputs (${result.accepted} accepted) in ${(result.elapsedMs / 1000).toFixed(1)} s: ${rate} inputs/s, seed ${seed}`);
} catch (error) {
  if (!(error instanceof FuzzEscape)) throw error;
  console.error(error.message);
  process.exitCode = 1;
}
