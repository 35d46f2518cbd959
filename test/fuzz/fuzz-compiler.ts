// Fuzzing of the compiler and VM in-process: generated programs and mutated scripts are
// compiled, their bytecode written, re-read and verified, and a share of them run in the
// sandbox. Only a one-line CompileError or a VM error may come out, within the time limit.

import { compile, CompileError } from '../../src/compiler';
import { readBytecodeFile, writeBytecodeFile } from '../../src/vm/bytecode-file';
import { disassemble } from '../../src/vm/disasm';
import { GLOBAL_NAMES } from '../../src/vm/lib/index';
import { makeRandom } from '../seeded-random';
import { FuzzFailure, type FailureKind } from './crashes';
import { generateProgram } from './program-generator';
import { runInSandbox, type RunResult } from './sandbox';
import { loadCorpus, mutateSource } from './source-mutator';
import { Watchdog } from './watchdog';

/** An input running longer than this is a hang. */
export const HANG_LIMIT_MS = 2000;
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
function exercise(source: string, run: boolean, json: boolean, check: boolean): RunResult | 'compile error' {
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
  return run ? runInSandbox(proto, json) : 'ok';
}

function failureKind(error: unknown): FailureKind {
  return error instanceof Error && /compile error over several lines|malformed compile error|not one printable line/.test(error.message) ? 'bad message' : 'internal error';
}

export function fuzzCompiler(options: CompilerFuzzOptions): CompilerFuzzResult {
  const corpus = loadCorpus();
  const result: CompilerFuzzResult = { inputs: 0, compiled: 0, compileErrors: 0, runs: { ok: 0, exit: 0, error: 0 }, elapsedMs: 0 };
  const watchdog = new Watchdog(`compiler-seed${options.seed}`, HANG_LIMIT_MS);
  const start = performance.now();
  // Stacks for the expected errors would take most of the time; a failing input is run
  // again with stacks on, so its report shows where it came from.
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    for (let index = 0; index < options.inputs; index++) {
      const source = compilerInput(options.seed, index, corpus);
      const run = result.compiled % options.runEvery === 0;
      const json = (index & 7) === 0;
      const check = (result.compiled & 7) === 0;
      watchdog.begin(source);
      const before = performance.now();
      let outcome;
      try {
        outcome = exercise(source, run, json, check);
      } catch (error) {
        Error.stackTraceLimit = stackTraceLimit;
        let detailed: unknown = error;
        try {
          exercise(source, run, json, check);
        } catch (again) {
          detailed = again;
        }
        throw new FuzzFailure(failureKind(error), 'compiler', options.seed, index, source, '.kp', detailed);
      } finally {
        watchdog.end();
      }
      if (performance.now() - before > HANG_LIMIT_MS) {
        throw new FuzzFailure('hang', 'compiler', options.seed, index, source, '.kp', `took ${Math.round(performance.now() - before)} ms`);
      }
      result.inputs++;
      if (outcome === 'compile error') {
        result.compileErrors++;
      } else {
        result.compiled++;
        if (run) result.runs[outcome]++;
      }
    }
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
    void watchdog.stop();
  }
  result.elapsedMs = performance.now() - start;
  return result;
}
