// Fuzzing of bytecode files: mutated valid files and random bytes go through readBytecodeFile,
// where nothing but a BadBytecodeError with a printable reason may come out; crafted files
// that pass it are run, where nothing but a VM error may.

import { BadBytecodeError } from '../../src/vm/errors';
import { BYTECODE_MAGIC, BYTECODE_VERSION, readBytecodeFile, writeBytecodeFile } from '../../src/vm/bytecode-file';
import { disassemble } from '../../src/vm/disasm';
import { nestedChain, sampleProtos, TEST_GLOBALS } from './build-proto';
import type { Random } from '../seeded-random';
import { inputRandom } from '../fuzz/fuzz-compiler';
import { runFuzzLoop } from '../fuzz/fuzz-loop';
import { runInSandbox, type RunResult } from '../fuzz/sandbox';
import { GLOBAL_NAMES } from '../../src/vm/lib/index';
import { craftProto } from './craft-bytecode';

export interface FuzzResult {
  /** Inputs tried. */
  readonly inputs: number;
  /** Inputs the loader accepted (each also written again, re-read and listed). */
  readonly accepted: number;
  readonly elapsedMs: number;
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

/**
 * Either a clean rejection (a BadBytecodeError with a printable reason) or a file that is
 * written and read back the same, and listable; throws for anything else.
 */
function check(input: Uint8Array): 'accepted' | 'rejected' {
  let proto;
  try {
    proto = readBytecodeFile(input, TEST_GLOBALS);
  } catch (error) {
    // A rejection must say why in one printable line of reasonable length.
    if (error instanceof BadBytecodeError && /^[\x20-\x7e]{1,200}$/.test(error.message)) return 'rejected';
    throw error;
  }
  const again = writeBytecodeFile(proto);
  if (Buffer.compare(writeBytecodeFile(readBytecodeFile(again, TEST_GLOBALS)), again) !== 0) throw new Error('round trip changed the file');
  disassemble(proto);
  return 'accepted';
}

/**
 * Feeds `iterations` mutated and random inputs to the loader, and throws FuzzFailure (the
 * input saved) on the first one that produces anything but a clean rejection or a file
 * that round-trips.
 */
export function fuzz(iterations: number, seed: number): FuzzResult {
  const corpus = [...sampleProtos(), nestedChain(20)].map(writeBytecodeFile);
  const tally = runFuzzLoop({
    fuzzer: 'bytecode-loader',
    seed,
    inputs: iterations,
    extension: '.ktapc',
    make: (index) => {
      const random = inputRandom(seed, index);
      return random(16) === 0 ? randomInput(random) : mutate(corpus[random(corpus.length)]!, random, corpus);
    },
    bytes: (input) => input,
    exercise: check,
  });
  return { inputs: tally.inputs, accepted: tally.outcomes.accepted ?? 0, elapsedMs: tally.elapsedMs };
}

export interface CraftedFuzzResult {
  readonly inputs: number;
  /** Crafted files the loader accepted; each of them was run. */
  readonly accepted: number;
  readonly runs: Readonly<Record<RunResult, number>>;
  readonly elapsedMs: number;
  readonly cpuMs: number;
}

/**
 * Crafted files (valid structure, wrong types) through the loader with the real builtin
 * globals, then run in the sandbox: only a VM error may end a run. Stops early after
 * `cpuBudgetMs` of CPU time. Throws FuzzFailure (the file saved) on anything else; the
 * watchdog ends the process on an input running over HANG_LIMIT_MS.
 */
export function fuzzCrafted(iterations: number, seed: number, cpuBudgetMs?: number): CraftedFuzzResult {
  const tally = runFuzzLoop({
    fuzzer: 'bytecode-crafted',
    seed,
    inputs: iterations,
    ...(cpuBudgetMs === undefined ? {} : { cpuBudgetMs }),
    extension: '.ktapc',
    make: (index) => writeBytecodeFile(craftProto(inputRandom(seed, index), { globals: GLOBAL_NAMES })),
    bytes: (file) => file,
    exercise: loadAndRun,
  });
  const outcomes = tally.outcomes;
  const runs = { ok: outcomes.ok ?? 0, exit: outcomes.exit ?? 0, error: outcomes.error ?? 0 };
  return { inputs: tally.inputs, accepted: tally.inputs - (outcomes.rejected ?? 0), runs, elapsedMs: tally.elapsedMs, cpuMs: tally.cpuMs };
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
