// A fuzzer whose input 3 misbehaves as argv[2] says, for the watchdog's test: `spin` burns
// CPU forever, `block` waits forever using none, `throw` throws a TypeError.

import { FuzzFailure } from './crashes';
import { runFuzzLoop } from './fuzz-loop';

const mode = process.argv[2];
const BLOCKER = new Int32Array(new SharedArrayBuffer(4));

try {
  runFuzzLoop({
    fuzzer: `fixture-${mode}`,
    seed: 7,
    inputs: 10,
    extension: '.txt',
    hangLimitMs: 300,
    make: (index) => `input number ${index}`,
    bytes: (input) => input,
    exercise: (_input, index) => {
      if (index === 3 && mode === 'spin') for (;;);
      if (index === 3 && mode === 'block') Atomics.wait(BLOCKER, 0, 0);
      if (index === 3 && mode === 'throw') (undefined as unknown as { x: number }).x.toFixed();
      return 'ok';
    },
  });
  console.log('all inputs ran');
} catch (error) {
  if (!(error instanceof FuzzFailure)) throw error;
  console.error(error.message.split('\n')[0]);
  process.exitCode = 1;
}
