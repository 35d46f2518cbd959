// Long fuzzing runs (`npm run fuzz`): argv gives the number of compiler inputs (default 10^6)
// and the seed; the bytecode loader gets as many, crafted files a tenth. A failing input is
// saved under fuzz-crashes/ and named with its seed and index to replay it.

import { fuzzCompiler } from './fuzz-compiler';
import { FuzzFailure } from './crashes';
import { fuzz, fuzzCrafted, FuzzEscape } from '../vm/fuzz-bytecode';

const inputs = Number(process.argv[2] ?? 1_000_000);
const seed = Number(process.argv[3] ?? 1);

function rate(count: number, elapsedMs: number): string {
  return `${count} inputs in ${(elapsedMs / 1000).toFixed(1)} s (${Math.round(count / (elapsedMs / 1000))}/s)`;
}

try {
  const compiler = fuzzCompiler({ inputs, seed, runEvery: 4 });
  console.log(`compiler: ${rate(compiler.inputs, compiler.elapsedMs)}: ${compiler.compiled} compiled, ${compiler.compileErrors} compile errors, runs ${JSON.stringify(compiler.runs)}, seed ${seed}`);
  const loader = fuzz(inputs, seed);
  console.log(`bytecode loader: ${rate(loader.inputs, loader.elapsedMs)}: ${loader.accepted} accepted, seed ${seed}`);
  const crafted = fuzzCrafted(Math.ceil(inputs / 10), seed);
  console.log(`crafted bytecode: ${rate(crafted.inputs, crafted.elapsedMs)}: runs ${JSON.stringify(crafted.runs)}, seed ${seed}`);
} catch (error) {
  if (!(error instanceof FuzzEscape) && !(error instanceof FuzzFailure)) throw error;
  console.error(error.message);
  process.exitCode = 1;
}
