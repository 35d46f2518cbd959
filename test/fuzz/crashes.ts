// Where the fuzzers keep the inputs that broke something (a git-ignored directory at the
// repository root), and the error that names the saved file, for replaying and for bug reports.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** Git-ignored (see .gitignore); created on the first failure. KTAP_FUZZ_CRASHES moves it (the watchdog's own test). */
export const CRASH_DIRECTORY = process.env.KTAP_FUZZ_CRASHES ?? resolve(__dirname, '..', '..', 'fuzz-crashes');

/** What went wrong with one input. */
export type FailureKind = 'crash' | 'internal error' | 'hang' | 'bad message';

/** Saves `input` as CRASH_DIRECTORY/NAME and returns the path. */
export function saveInput(name: string, input: Uint8Array | string): string {
  mkdirSync(CRASH_DIRECTORY, { recursive: true });
  const path = join(CRASH_DIRECTORY, name);
  writeFileSync(path, typeof input === 'string' ? Buffer.from(input, 'latin1') : input);
  return path;
}

/** A fuzzer's input that failed: the message says what happened and where the input was saved. */
export class FuzzFailure extends Error {
  constructor(
    readonly kind: FailureKind,
    readonly fuzzer: string,
    readonly seed: number,
    readonly index: number,
    input: Uint8Array | string,
    extension: string,
    cause: unknown,
  ) {
    const path = saveInput(`${fuzzer}-seed${seed}-input${index}${extension}`, input);
    const detail = cause instanceof Error ? (cause.stack ?? cause.message) : String(cause);
    super(`${fuzzer}: ${kind} on seed ${seed} input ${index}, saved as ${path}: ${detail}`);
    this.name = 'FuzzFailure';
  }
}
