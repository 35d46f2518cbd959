// Fuzzing of bytecode files: mutated valid files and random bytes go through readBytecodeFile,
// where nothing but a BadBytecodeError with a printable reason may come out; crafted files
// that pass it are run, where nothing but a VM error may.

import { BadBytecodeError } from '../../src/vm/errors';
import { BYTECODE_MAGIC, BYTECODE_VERSION, readBytecodeFile, writeBytecodeFile } from '../../src/vm/bytecode-file';
import { disassemble } from '../../src/vm/disasm';
import { nestedChain, sampleProtos, TEST_GLOBALS } from './build-proto';
import { makeRandom, type Random } from '../seeded-random';
import { FuzzFailure } from '../fuzz/crashes';
import { HANG_LIMIT_MS, inputRandom } from '../fuzz/fuzz-compiler';
import { runInSandbox, type RunResult } from '../fuzz/sandbox';
import { Watchdog } from '../fuzz/watchdog';
import { GLOBAL_NAMES } from '../../src/vm/lib/index';
import { craftProto } from './craft-bytecode';

export interface FuzzResult {
  /** Inputs tried. */
  readonly inputs: number;
  /** Inputs the loader accepted (each also written again, re-read and listed). */
  readonly accepted: number;
  readonly elapsedMs: number;
}

/** Something other than a clean rejection came out of the loader: the input that did it. */
export class FuzzEscape extends Error {
  constructor(seed: number, iteration: number, input: Uint8Array, cause: unknown) {
    const hex = Buffer.from(input.subarray(0, 512)).toString('hex');
    super(`seed ${seed} input ${iteration} (${input.length} bytes: ${hex}${input.length > 512 ? '…' : ''}): ${cause instanceof Error ? cause.stack : String(cause)}`);
    this.name = 'FuzzEscape';
  }
}


/** Byte values at the edges of varints, tags and signed ranges. */
const INTERESTING_BYTES = [0x00, 0xff, 0x7f, 0x80, 0x01, 0xfe, 0x81, 0x0f];
/** Varints announcing huge lengths or counts, and one too long to be valid. */
const HUGE_VARINTS = [
  [0xff, 0xff, 0xff, 0xff, 0x0f], [0x80, 0x80, 0x80, 0x80, 0x08], [0xff, 0xff, 0xff, 0x7f],
  [0xff, 0xff, 0xff, 0xff, 0x7f], [0x80, 0x80, 0x80, 0x80, 0x80, 0x01],
];
const HEADER = [...BYTECODE_MAGIC, BYTECODE_VERSION, 0];

function concat(...parts: ArrayLike<number>[]): Uint8Array {
  const result = new Uint8Array(parts.reduce((total, part) => total + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    result.set(part, offset);
    offset += part.length;
  }
  return result;
}

function randomBytes(random: Random, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let index = 0; index < length; index++) bytes[index] = random(256);
  return bytes;
}

/** One mutation of `bytes` (never modified in place); `corpus` supplies splice partners. */
const MUTATIONS: ReadonlyArray<(bytes: Uint8Array, random: Random, corpus: readonly Uint8Array[]) => Uint8Array> = [
  function flipBits(bytes, random) {
    const result = bytes.slice();
    for (let flips = 1 + random(4); flips > 0 && result.length > 0; flips--) result[random(result.length)]! ^= 1 << random(8);
    return result;
  },
  function replaceBytes(bytes, random) {
    const result = bytes.slice();
    for (let count = 1 + random(4); count > 0 && result.length > 0; count--) {
      result[random(result.length)] = random(4) === 0 ? random(256) : INTERESTING_BYTES[random(INTERESTING_BYTES.length)]!;
    }
    return result;
  },
  function insertBytes(bytes, random) {
    const at = random(bytes.length + 1);
    return concat(bytes.subarray(0, at), randomBytes(random, 1 + random(16)), bytes.subarray(at));
  },
  function deleteBytes(bytes, random) {
    const at = random(bytes.length + 1);
    return concat(bytes.subarray(0, at), bytes.subarray(at + 1 + random(16)));
  },
  function truncate(bytes, random) {
    return bytes.slice(0, random(bytes.length + 1));
  },
  function splice(bytes, random, corpus) {
    const other = corpus[random(corpus.length)]!;
    return concat(bytes.subarray(0, random(bytes.length + 1)), other.subarray(random(other.length + 1)));
  },
  function duplicateRange(bytes, random) {
    const start = random(bytes.length + 1);
    const range = bytes.subarray(start, start + 1 + random(32));
    const at = random(bytes.length + 1);
    return concat(bytes.subarray(0, at), range, bytes.subarray(at));
  },
  function inflateVarint(bytes, random) {
    if (bytes.length === 0) return bytes;
    const at = random(bytes.length);
    const value = bytes[at]!;
    // Either the same value in one more byte (an overlong varint) or a huge one.
    const replacement = random(2) === 0 ? [value | 0x80, 0x00] : HUGE_VARINTS[random(HUGE_VARINTS.length)]!;
    return concat(bytes.subarray(0, at), replacement, bytes.subarray(at + 1));
  },
];

function mutate(bytes: Uint8Array, random: Random, corpus: readonly Uint8Array[]): Uint8Array {
  let result = bytes;
  for (let rounds = 1 + random(3); rounds > 0; rounds--) result = MUTATIONS[random(MUTATIONS.length)]!(result, random, corpus);
  return result;
}

/** A random input: pure noise, or noise behind a valid header so it reaches the proto reader. */
function randomInput(random: Random): Uint8Array {
  const noise = randomBytes(random, random(96));
  return random(2) === 0 ? noise : concat(HEADER, noise);
}

/** Throws FuzzEscape unless `input` is either rejected cleanly or accepted, written and read back the same, and listable. */
function check(input: Uint8Array, seed: number, iteration: number): boolean {
  let proto;
  try {
    proto = readBytecodeFile(input, TEST_GLOBALS);
  } catch (error) {
    // A rejection must say why in one printable line of reasonable length.
    if (error instanceof BadBytecodeError && /^[\x20-\x7e]{1,200}$/.test(error.message)) return false;
    throw new FuzzEscape(seed, iteration, input, error);
  }
  try {
    const again = writeBytecodeFile(proto);
    if (Buffer.compare(writeBytecodeFile(readBytecodeFile(again, TEST_GLOBALS)), again) !== 0) throw new Error('round trip changed the file');
    disassemble(proto);
  } catch (error) {
    throw new FuzzEscape(seed, iteration, input, error);
  }
  return true;
}

/**
 * Feeds `iterations` inputs to the loader (fewer if `timeBudgetMs` runs out first), and
 * throws FuzzEscape on the first one that produces anything but a clean rejection.
 */
export function fuzz(iterations: number, seed: number, timeBudgetMs = Infinity): FuzzResult {
  const corpus = [...sampleProtos(), nestedChain(20)].map(writeBytecodeFile);
  const random = makeRandom(seed);
  const start = performance.now();
  let accepted = 0;
  let inputs = 0;
  // Capturing a stack for each of the expected rejections would take most of the time;
  // an escape is checked again with stacks on, so its report still shows where it came from.
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    for (; inputs < iterations; inputs++) {
      if ((inputs & 0x3ff) === 0 && performance.now() - start > timeBudgetMs) break;
      const input = random(16) === 0 ? randomInput(random) : mutate(corpus[random(corpus.length)]!, random, corpus);
      try {
        if (check(input, seed, inputs)) accepted++;
      } catch (escape) {
        Error.stackTraceLimit = stackTraceLimit;
        check(input, seed, inputs);
        throw escape;
      }
    }
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
  return { inputs, accepted, elapsedMs: performance.now() - start };
}

export interface CraftedFuzzResult {
  readonly inputs: number;
  /** Crafted files the loader accepted; each of them was run. */
  readonly accepted: number;
  readonly runs: Readonly<Record<RunResult, number>>;
  readonly elapsedMs: number;
}

/**
 * Crafted files (valid structure, wrong types) through the loader with the real builtin
 * globals, then run in the sandbox: only a VM error may end a run. Throws FuzzFailure
 * (with the file saved) on anything else, and on an input running over HANG_LIMIT_MS.
 */
export function fuzzCrafted(iterations: number, seed: number, timeBudgetMs = Infinity): CraftedFuzzResult {
  const watchdog = new Watchdog(`bytecode-crafted-seed${seed}`, HANG_LIMIT_MS);
  const runs: Record<RunResult, number> = { ok: 0, exit: 0, error: 0 };
  const start = performance.now();
  let accepted = 0;
  let inputs = 0;
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    for (; inputs < iterations; inputs++) {
      if ((inputs & 0xff) === 0 && performance.now() - start > timeBudgetMs) break;
      const file = writeBytecodeFile(craftProto(inputRandom(seed, inputs), { globals: GLOBAL_NAMES }));
      watchdog.begin(file);
      const before = performance.now();
      try {
        const outcome = loadAndRun(file);
        if (outcome !== 'rejected') {
          accepted++;
          runs[outcome]++;
        }
      } catch (error) {
        Error.stackTraceLimit = stackTraceLimit;
        let detailed: unknown = error;
        try {
          loadAndRun(file);
        } catch (again) {
          detailed = again;
        }
        throw new FuzzFailure('internal error', 'bytecode-crafted', seed, inputs, file, '.ktapc', detailed);
      } finally {
        watchdog.end();
      }
      if (performance.now() - before > HANG_LIMIT_MS) throw new FuzzFailure('hang', 'bytecode-crafted', seed, inputs, file, '.ktapc', 'ran too long');
    }
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
    void watchdog.stop();
  }
  return { inputs, accepted, runs, elapsedMs: performance.now() - start };
}

function loadAndRun(file: Uint8Array): RunResult | 'rejected' {
  let proto;
  try {
    proto = readBytecodeFile(file, GLOBAL_NAMES);
  } catch (error) {
    if (error instanceof BadBytecodeError) return 'rejected';
    throw error;
  }
  return runInSandbox(proto);
}
