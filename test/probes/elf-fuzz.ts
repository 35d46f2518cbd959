// The ELF reader's fuzzer: mutated copies of small compiled programs (truncations, bit
// flips, huge counts and offsets in the headers, symbols and notes) through every reader of
// ElfFile, in-process under the hang watchdog. Only an ElfError with a one-line message
// naming the file may come out. Input I of seed S depends on (S, I) alone.

import { readFileSync } from 'node:fs';
import { ElfError, ElfFile } from '../../src/probes/elf';
import { inputRandom } from '../fuzz/fuzz-compiler';
import { runFuzzLoop } from '../fuzz/fuzz-loop';
import type { Random } from '../seeded-random';
import { buildTestPrograms } from './elf-programs';

/** The name ElfFile.parse is given: every ElfError must quote it. */
export const NAME = 'fuzz input';

interface Field {
  readonly offset: number;
  readonly width: 1 | 2 | 4 | 8;
}

/** A well-formed file and the places worth hitting: its header fields and interesting sections. */
export interface Sample {
  readonly bytes: Buffer;
  readonly fields: readonly Field[];
  readonly regions: readonly { start: number; end: number }[];
}

/** The fields of the ELF header, every program and section header, every symbol and first note. */
export function sample(path: string): Sample {
  const bytes = readFileSync(path);
  const fields: Field[] = [24, 32, 40].map((offset) => ({ offset, width: 8 as const }));
  for (const offset of [54, 56, 58, 60, 62]) fields.push({ offset, width: 2 });
  const programHeaders = Number(bytes.readBigUInt64LE(32));
  for (let index = 0; index < bytes.readUInt16LE(56); index++) {
    const entry = programHeaders + index * 56;
    fields.push({ offset: entry, width: 4 });
    for (const offset of [8, 16, 32, 40, 48]) fields.push({ offset: entry + offset, width: 8 });
  }
  const regions: { start: number; end: number }[] = [];
  const sectionHeaders = Number(bytes.readBigUInt64LE(40));
  for (let index = 0; index < bytes.readUInt16LE(60); index++) {
    const entry = sectionHeaders + index * 64;
    for (const offset of [0, 4, 40, 44]) fields.push({ offset: entry + offset, width: 4 });
    for (const offset of [16, 24, 32, 48, 56]) fields.push({ offset: entry + offset, width: 8 });
    const type = bytes.readUInt32LE(entry + 4);
    const start = Number(bytes.readBigUInt64LE(entry + 24));
    const end = start + Number(bytes.readBigUInt64LE(entry + 32));
    if (type === 8 || end <= start) continue;
    regions.push({ start, end });
    if (type === 2 || type === 11) {
      for (let symbol = start; symbol + 24 <= end; symbol += 24) {
        fields.push({ offset: symbol, width: 4 }, { offset: symbol + 4, width: 1 }, { offset: symbol + 6, width: 2 });
        fields.push({ offset: symbol + 8, width: 8 }, { offset: symbol + 16, width: 8 });
      }
    }
    if (type === 7) {
      for (const offset of [0, 4, 8]) fields.push({ offset: start + offset, width: 4 });
      // The addresses of an SDT note (pc, base, semaphore) follow the 8-byte "stapsdt" owner.
      for (const offset of [20, 28, 36]) fields.push({ offset: start + offset, width: 8 });
    }
  }
  return { bytes, fields, regions };
}

function interestingValue(random: Random, length: number): bigint {
  const values = [0n, 1n, 2n ** 64n - 1n, 2n ** 63n, 2n ** 32n - 1n, 0xffffn, 0x40n, BigInt(length), BigInt(length - 1), BigInt(length + 1), 2n ** 62n + 7n];
  return random(4) === 0 ? BigInt(random(0x7fffffff)) * BigInt(random(0x7fffffff) + 1) : values[random(values.length)]!;
}

function writeField(bytes: Buffer, field: Field, value: bigint): void {
  if (field.offset + field.width > bytes.length) return;
  const masked = BigInt.asUintN(field.width * 8, value);
  if (field.width === 8) bytes.writeBigUInt64LE(masked, field.offset);
  else if (field.width === 4) bytes.writeUInt32LE(Number(masked), field.offset);
  else if (field.width === 2) bytes.writeUInt16LE(Number(masked), field.offset);
  else bytes[field.offset] = Number(masked);
}

/** One mutation of a working copy; returns the copy (shorter after a truncation). */
export const MUTATIONS: ReadonlyArray<(bytes: Buffer, random: Random, original: Sample) => Buffer> = [
  function truncate(bytes, random) {
    return bytes.subarray(0, random(bytes.length + 1));
  },
  function flipBitsAnywhere(bytes, random) {
    for (let flips = 1 + random(4); flips > 0; flips--) bytes[random(bytes.length)]! ^= 1 << random(8);
    return bytes;
  },
  function flipBitsInSection(bytes, random, original) {
    const region = original.regions[random(original.regions.length)]!;
    for (let flips = 1 + random(4); flips > 0; flips--) {
      const at = region.start + random(region.end - region.start);
      if (at < bytes.length) bytes[at]! ^= 1 << random(8);
    }
    return bytes;
  },
  function hugeField(bytes, random, original) {
    for (let count = 1 + random(3); count > 0; count--) {
      writeField(bytes, original.fields[random(original.fields.length)]!, interestingValue(random, bytes.length));
    }
    return bytes;
  },
  function nudgeField(bytes, random, original) {
    const field = original.fields[random(original.fields.length)]!;
    if (field.offset + field.width > bytes.length) return bytes;
    const current = field.width === 8 ? bytes.readBigUInt64LE(field.offset) : BigInt(bytes.readUIntLE(field.offset, field.width));
    writeField(bytes, field, current + BigInt(random(64) - 32));
    return bytes;
  },
  function copyRange(bytes, random) {
    const length = 1 + random(128);
    bytes.copy(bytes, random(bytes.length), random(bytes.length), Math.min(bytes.length, length));
    return bytes;
  },
];

/** Addresses to translate: every symbol and marker of the samples, and the extremes. */
export function probeAddresses(paths: readonly string[]): bigint[] {
  const addresses = new Set<bigint>([0n, 1n, 2n ** 63n, 2n ** 64n - 1n]);
  for (const path of paths) {
    const file = ElfFile.open(path);
    for (const symbol of file.symbols()) addresses.add(symbol.address);
    for (const note of file.sdtNotes()) addresses.add(note.address);
  }
  return [...addresses];
}

/** Kinds of ElfError seen (`not an ELF file`, `truncated ELF file`, ...) and how often. */
export type ErrorTally = Map<string, number>;

/** Every reader on one input, each on its own so a failing one does not hide the rest. */
export function exercise(input: Buffer, addresses: readonly bigint[], errors: ErrorTally): 'parsed' | 'rejected' {
  const attempt = <Result>(action: () => Result): Result | undefined => {
    try {
      return action();
    } catch (error) {
      if (!(error instanceof ElfError)) throw error;
      if (!/^[\x20-\x7e]{1,300}$/.test(error.message) || !error.message.includes(NAME)) throw new Error(`badly worded ElfError: ${JSON.stringify(error.message)}`);
      const kind = /^(not an ELF file|\w+ ELF file)/.exec(error.message)?.[1] ?? error.message;
      errors.set(kind, (errors.get(kind) ?? 0) + 1);
      return undefined;
    }
  };
  const file = attempt(() => ElfFile.parse(input, NAME));
  if (file === undefined) return 'rejected';
  attempt(() => {
    for (const symbol of file.findSymbols('*k*')) file.addressToFileOffset(symbol.address);
  });
  attempt(() => file.sdtNotes());
  attempt(() => file.buildId());
  attempt(() => file.debugLink());
  for (const address of addresses) file.addressToFileOffset(address);
  return 'parsed';
}


export interface ElfFuzzResult {
  readonly inputs: number;
  readonly parsed: number;
  /** ElfError kinds and how often each was seen. */
  readonly errors: Record<string, number>;
  readonly elapsedMs: number;
  /** Removes the compiled sample programs. */
  remove(): void;
}

/**
 * Runs `inputs` mutated ELF files built from the test programs; throws FuzzFailure (the
 * input saved as .elf) on anything but a clean ElfError or a result.
 */
export function fuzzElf(inputs: number, seed: number): ElfFuzzResult {
  const programs = buildTestPrograms();
  try {
    const paths = [programs.pie, programs.noPie, programs.library, programs.strippedLibrary, programs.debugLinked, programs.markers, programs.markersNoPie];
    const samples = paths.map(sample);
    const addresses = probeAddresses(paths);
    const errors: ErrorTally = new Map();
    const tally = runFuzzLoop({
      fuzzer: 'elf',
      seed,
      inputs,
      extension: '.elf',
      make: (index) => {
        const random = inputRandom(seed, index);
        const original = samples[random(samples.length)]!;
        let input: Buffer = Buffer.from(original.bytes);
        for (let rounds = 1 + random(3); rounds > 0 && input.length > 0; rounds--) input = MUTATIONS[random(MUTATIONS.length)]!(input, random, original);
        return input;
      },
      bytes: (input) => input,
      exercise: (input) => exercise(input, addresses, errors),
    });
    return {
      inputs: tally.inputs,
      parsed: tally.outcomes.parsed ?? 0,
      errors: Object.fromEntries(errors),
      elapsedMs: tally.elapsedMs,
      remove: programs.remove,
    };
  } catch (error) {
    programs.remove();
    throw error;
  }
}
