// 100,000 mutated ELF files through every reader of ElfFile (test/probes/elf-fuzz.ts), and
// libc truncated and with huge fields. No time is asserted: an input running over 2 s of
// CPU is what fails, caught by the watchdog, which saves it (see test/fuzz/watchdog.test.ts).

import t from 'tap';
import { exercise, fuzzElf, MUTATIONS, sample, type ErrorTally } from './elf-fuzz';
import { makeRandom } from '../seeded-random';

const INPUTS = 100_000;
const SEED = 0x656c6621;

t.test(`${INPUTS} mutated files: nothing but an ElfError escapes`, async (t) => {
  const result = fuzzElf(INPUTS, SEED);
  t.teardown(result.remove);
  t.comment(`${result.inputs} inputs in ${Math.round(result.elapsedMs)} ms; ${result.parsed} parsed; errors: ${JSON.stringify(result.errors)}`);
  t.equal(result.inputs, INPUTS);
  t.ok(result.parsed > INPUTS / 4 && result.parsed < INPUTS, `${result.parsed} parsed: mutations reach past the headers`);
  for (const kind of ['not an ELF file', 'truncated ELF file', 'corrupt ELF file', 'unsupported ELF file']) t.ok(kind in result.errors, `${kind} seen`);
});

t.test('libc, truncated and with huge fields: ElfError or a result, never anything else', async (t) => {
  const libc = sample('/lib/x86_64-linux-gnu/libc.so.6');
  const random = makeRandom(SEED + 1);
  const errors: ErrorTally = new Map();
  let parsed = 0;
  for (let iteration = 0; iteration < 100; iteration++) {
    const mutation = MUTATIONS[random(2) === 0 ? 0 : 3]!;
    const input = mutation(Buffer.from(libc.bytes), random, libc);
    try {
      if (exercise(input, [0x98930n], errors) === 'parsed') parsed++;
    } catch (error) {
      t.fail(`seed ${SEED + 1} input ${iteration}: ${error instanceof Error ? error.stack : String(error)}`);
      return;
    }
  }
  t.ok(parsed > 0 && errors.size > 0, `${parsed} parsed, errors: ${[...errors.keys()].join(', ')}`);
});
