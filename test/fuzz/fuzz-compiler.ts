// Fuzzing of the compiler and VM in-process: generated programs and mutated scripts are
// compiled, their bytecode written, re-read and verified, and a share of them run in the
// sandbox. Only a one-line CompileError or a VM error may come out, within the time limit.

import { compile, CompileError } from '../../src/compiler';
import { readBytecodeFile, writeBytecodeFile } from '../../src/vm/bytecode-file';
import { disassemble } from '../../src/vm/disasm';
import { GLOBAL_NAMES } from '../../src/vm/lib/index';
import { makeRandom } from '../seeded-random';
import type { FailureKind } from './crashes';
import { runFuzzLoop } from './fuzz-loop';
import { generateProgram } from './program-generator';
import { runInSandbox, type RunResult } from './sandbox';
import { loadCorpus, mutateSource } from './source-mutator';

const CHUNK = 'fuzz.kp';

export interface CompilerFuzzOptions {
  readonly inputs: number;
  readonly seed: number;
  /** Every Nth program that compiles is also run (1: all of them). */
  readonly runEvery: number;
}

export interface CompilerFuzzResult {
  inputs: number;
  compiled: number;
  compileErrors: number;
  runs: Record<RunResult, number>;
  elapsedMs: number;
}

/** Input `index` of `seed` depends on nothing else, so one input replays alone. */
export function inputRandom(seed: number, index: number): ReturnType<typeof makeRandom> {
  return makeRandom((Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35)) >>> 0);
}

/** Input `index` of `seed`: a generated program or a mutated corpus script. */
export function compilerInput(seed: number, index: number, corpus: readonly string[]): string {
  const random = inputRandom(seed, index);
  return random(5) < 2 ? generateProgram(random) : mutateSource(random, corpus);
}

/** What one input did; throws a plain Error for anything a user must never see. */
function exercise(source: string, run: boolean, json: boolean, check: boolean): RunResult | 'compile error' | 'compiled' {
  let proto;
  try {
    proto = compile(source, CHUNK, { globals: GLOBAL_NAMES }).main;
  } catch (error) {
    if (!(error instanceof CompileError)) throw error;
    if (/[\r\n]/.test(error.message)) throw new Error(`compile error over several lines: ${JSON.stringify(error.message.slice(0, 300))}`);
    if (!error.message.startsWith(`syntax error: ${CHUNK}:${error.line}: `)) throw new Error(`malformed compile error: ${error.message}`);
    return 'compile error';
  }
  if (check) {
    // The compiler's output must pass the verifier that guards bytecode files, and list.
    readBytecodeFile(writeBytecodeFile(proto), GLOBAL_NAMES);
    disassemble(proto);
  }
  return run ? runInSandbox(proto, json) : 'compiled';
}

function failureKind(error: unknown): FailureKind {
  return error instanceof Error && /compile error over several lines|malformed compile error|not one printable line/.test(error.message) ? 'bad message' : 'internal error';
}

export function fuzzCompiler(options: CompilerFuzzOptions): CompilerFuzzResult {
  const corpus = loadCorpus();
  // Which inputs run and which are also checked depends on the index alone, so a failing
  // input replays alone.
  const tally = runFuzzLoop({
    fuzzer: 'compiler',
    seed: options.seed,
    inputs: options.inputs,
    extension: '.kp',
    make: (index) => compilerInput(options.seed, index, corpus),
    bytes: (source) => source,
    exercise: (source, index) => exercise(source, index % options.runEvery === 0, index % 3 === 0, index % 8 === 1),
    kind: failureKind,
  });
  const outcomes = tally.outcomes;
  const runs = { ok: outcomes.ok ?? 0, exit: outcomes.exit ?? 0, error: outcomes.error ?? 0 };
  return {
    inputs: tally.inputs,
    compiled: tally.inputs - (outcomes['compile error'] ?? 0),
    compileErrors: outcomes['compile error'] ?? 0,
    runs,
    elapsedMs: tally.elapsedMs,
  };
}
