// Long fuzzing runs (`npm run fuzz`): argv gives the number of inputs of each fuzzer (default
// 10^6) and the seed. A failing input is saved under fuzz-crashes/ and named with its seed
// and index to replay it; a hang kills the run and is saved the same way.

import { fuzzCompiler } from './fuzz-compiler';
import { FuzzFailure } from './crashes';
import { fuzz, fuzzCrafted } from '../vm/fuzz-bytecode';
import { fuzzElf } from '../probes/elf-fuzz';

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
  const crafted = fuzzCrafted(inputs, seed);
  console.log(`crafted bytecode: ${rate(crafted.inputs, crafted.elapsedMs)}: runs ${JSON.stringify(crafted.runs)}, seed ${seed}`);
  const elf = fuzzElf(inputs, seed);
  try {
    console.log(`ELF reader: ${rate(elf.inputs, elf.elapsedMs)}: ${elf.parsed} parsed, errors ${JSON.stringify(elf.errors)}, seed ${seed}`);
  } finally {
    elf.remove();
  }
} catch (error) {
  if (!(error instanceof FuzzFailure)) throw error;
  console.error(error.message);
  process.exitCode = 1;
}
