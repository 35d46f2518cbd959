// Portable bytecode files (SPEC-product §5): writing a proto tree, and reading one back from
// untrusted bytes through a bounds-checked cursor, then verifying it before anyone runs it.

import { BadBytecodeError } from './errors';
import { INSTRUCTION_WIDTH } from './opcodes';
import type { Constant, LocalInfo, Proto, UpvalueDesc } from './proto';
import { MAX_NESTING_DEPTH, verifyProto } from './verify';

/*
 * Layout. Integers are LEB128 varints: "u" unsigned (at most 2^32-1), "s" zig-zag signed
 * (an int32); a string is u length + its bytes (latin1: one byte per character).
 *
 *   file     = magic "\x1bKTAP", byte version (1), byte flags (0), proto
 *   proto    = string name, string source, u lineDefined, u lastLine, u numParams,
 *              u numRegisters, u numCells, u numIterators,
 *              u instructionCount, instructionCount × (byte op, s A, s B, s C),
 *              instructionCount × s (line - previous line, the first against 0),
 *              u constantCount, constant…, u upvalueCount, upvalue…,
 *              u localCount, local…, u protoCount, proto…
 *   constant = byte 0, int64 little-endian (8 bytes)  |  byte 1, string
 *   upvalue  = byte origin (0 cell, 1 upvalue, 2 session), u index, string name
 *   local    = string name, s slot, u startPc, u endPc
 */

export const BYTECODE_MAGIC: Uint8Array = Uint8Array.of(0x1b, 0x4b, 0x54, 0x41, 0x50);
export const BYTECODE_VERSION = 1;

const CONSTANT_INT64 = 0;
const CONSTANT_STRING = 1;
const UPVALUE_ORIGINS: readonly UpvalueDesc['from'][] = ['cell', 'upvalue', 'session'];

// The fewest bytes one item can take: a count claiming more items than the remaining bytes
// could hold is rejected before anything is allocated for them.
const MIN_INSTRUCTION_BYTES = 5; // op, A, B, C, line
const MIN_CONSTANT_BYTES = 2; // tag, empty string
const MIN_UPVALUE_BYTES = 3; // origin, index, empty name
const MIN_LOCAL_BYTES = 4; // empty name, slot, startPc, endPc
const MIN_PROTO_BYTES = 13; // two empty strings, six sizes, five zero counts

/** Whether `bytes` start like a bytecode file (and should be loaded rather than compiled). */
export function isBytecodeFile(bytes: Uint8Array): boolean {
  return bytes.length >= BYTECODE_MAGIC.length && BYTECODE_MAGIC.every((byte, index) => bytes[index] === byte);
}

// ---- writing ----------------------------------------------------------------------

class ByteWriter {
  private bytes = new Uint8Array(256);
  private length = 0;

  private reserve(count: number): void {
    if (this.length + count <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.length + count));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }
  byte(value: number): void {
    if (!Number.isInteger(value) || value < 0 || value > 0xff) throw new RangeError(`cannot encode ${value} as a byte`);
    this.reserve(1);
    this.bytes[this.length++] = value;
  }
  unsigned(value: number): void {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new RangeError(`cannot encode ${value} as u32`);
    while (value >= 0x80) {
      this.byte((value & 0x7f) | 0x80);
      value = Math.floor(value / 0x80);
    }
    this.byte(value);
  }
  signed(value: number): void {
    if (!Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff) throw new RangeError(`cannot encode ${value} as i32`);
    this.unsigned(((value << 1) ^ (value >> 31)) >>> 0);
  }
  string(text: string): void {
    this.unsigned(text.length);
    this.reserve(text.length);
    for (let index = 0; index < text.length; index++) {
      const code = text.charCodeAt(index);
      if (code > 0xff) throw new RangeError(`cannot encode ${JSON.stringify(text)}: not a byte string`);
      this.bytes[this.length++] = code;
    }
  }
  int64(value: number | bigint): void {
    this.reserve(8);
    new DataView(this.bytes.buffer).setBigInt64(this.length, BigInt(value), true);
    this.length += 8;
  }
  result(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }
}

function writeProto(out: ByteWriter, proto: Proto): void {
  out.string(proto.name);
  out.string(proto.source);
  for (const size of [proto.lineDefined, proto.lastLine, proto.numParams, proto.numRegisters, proto.numCells, proto.numIterators]) {
    out.unsigned(size);
  }
  const count = proto.lines.length;
  out.unsigned(count);
  for (let pc = 0; pc < count; pc++) {
    const at = pc * INSTRUCTION_WIDTH;
    out.byte(proto.code[at]!);
    for (let operand = 1; operand < INSTRUCTION_WIDTH; operand++) out.signed(proto.code[at + operand]!);
  }
  let previous = 0;
  for (const line of proto.lines) {
    out.signed(line - previous);
    previous = line;
  }
  out.unsigned(proto.constants.length);
  for (const constant of proto.constants) {
    if (typeof constant === 'string') {
      out.byte(CONSTANT_STRING);
      out.string(constant);
    } else {
      out.byte(CONSTANT_INT64);
      out.int64(constant);
    }
  }
  out.unsigned(proto.upvalues.length);
  for (const upvalue of proto.upvalues) {
    out.byte(UPVALUE_ORIGINS.indexOf(upvalue.from));
    out.unsigned(upvalue.index);
    out.string(upvalue.name);
  }
  out.unsigned(proto.locals.length);
  for (const local of proto.locals) {
    out.string(local.name);
    out.signed(local.slot);
    out.unsigned(local.startPc);
    out.unsigned(local.endPc);
  }
  out.unsigned(proto.protos.length);
  for (const child of proto.protos) writeProto(out, child);
}

/** The file for `main` (a compiled, verified proto tree). */
export function writeBytecodeFile(main: Proto): Uint8Array {
  const out = new ByteWriter();
  for (const byte of BYTECODE_MAGIC) out.byte(byte);
  out.byte(BYTECODE_VERSION);
  out.byte(0);
  writeProto(out, main);
  return out.result();
}

// ---- reading ----------------------------------------------------------------------

/** The only way the reader touches the input: every access is checked against the end. */
class Cursor {
  private offset = 0;
  private readonly view: DataView;

  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  get remaining(): number {
    return this.bytes.length - this.offset;
  }
  /** Consumes `count` bytes and returns where they start. */
  private take(count: number): number {
    if (count > this.remaining) throw new BadBytecodeError('truncated file');
    const start = this.offset;
    this.offset += count;
    return start;
  }
  byte(): number {
    return this.bytes[this.take(1)]!;
  }
  unsigned(): number {
    // Most varints are one byte: read those without the general loop.
    if (this.offset < this.bytes.length && this.bytes[this.offset]! < 0x80) return this.bytes[this.offset++]!;
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const byte = this.byte();
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) {
        if (value > 0xffffffff) throw new BadBytecodeError('integer too large');
        return value;
      }
    }
    throw new BadBytecodeError('integer too long');
  }
  signed(): number {
    const value = this.unsigned();
    return (value >>> 1) ^ -(value & 1);
  }
  /** A count of items taking at least `minBytes` each, checked against what is left. */
  count(minBytes: number, what: string): number {
    const count = this.unsigned();
    if (count * minBytes > this.remaining) throw new BadBytecodeError(`truncated file (${count} ${what} announced)`);
    return count;
  }
  string(): string {
    const length = this.unsigned();
    const start = this.take(length);
    return Buffer.from(this.bytes.buffer, this.bytes.byteOffset + start, length).toString('latin1');
  }
  int64(): number | bigint {
    const start = this.take(8);
    const high = this.view.getInt32(start + 4, true);
    // Below 2^21 in the high word the value is exact as a double; the canonical form
    // keeps it a number when it is also a safe integer.
    if (high >= -0x200000 && high < 0x200000) {
      const value = high * 0x100000000 + this.view.getUint32(start, true);
      if (Number.isSafeInteger(value)) return value;
    }
    return this.view.getBigInt64(start, true);
  }
  end(): void {
    if (this.remaining > 0) throw new BadBytecodeError(`trailing garbage at offset ${this.offset}`);
  }
}

function readConstant(input: Cursor, index: number): Constant {
  const tag = input.byte();
  switch (tag) {
    case CONSTANT_INT64: return input.int64();
    case CONSTANT_STRING: return input.string();
    default: throw new BadBytecodeError(`constant ${index}: bad tag ${tag}`);
  }
}

function readUpvalue(input: Cursor, index: number): UpvalueDesc {
  const origin = input.byte();
  const from = UPVALUE_ORIGINS[origin];
  if (from === undefined) throw new BadBytecodeError(`upvalue ${index}: bad origin ${origin}`);
  return { from, index: input.unsigned(), name: input.string() };
}

function readLocal(input: Cursor): LocalInfo {
  return { name: input.string(), slot: input.signed(), startPc: input.unsigned(), endPc: input.unsigned() };
}

function readList<T>(input: Cursor, minBytes: number, what: string, readItem: (index: number) => T): T[] {
  const count = input.count(minBytes, what);
  const items: T[] = [];
  for (let index = 0; index < count; index++) items.push(readItem(index));
  return items;
}

function readProto(input: Cursor, depth: number): Proto {
  if (depth > MAX_NESTING_DEPTH) throw new BadBytecodeError(`functions nested more than ${MAX_NESTING_DEPTH} levels deep`);
  const name = input.string();
  const source = input.string();
  const lineDefined = input.unsigned();
  const lastLine = input.unsigned();
  const numParams = input.unsigned();
  const numRegisters = input.unsigned();
  const numCells = input.unsigned();
  const numIterators = input.unsigned();
  const count = input.count(MIN_INSTRUCTION_BYTES, 'instructions');
  const code = new Int32Array(count * INSTRUCTION_WIDTH);
  for (let slot = 0; slot < code.length; slot += INSTRUCTION_WIDTH) {
    code[slot] = input.byte();
    code[slot + 1] = input.signed();
    code[slot + 2] = input.signed();
    code[slot + 3] = input.signed();
  }
  const lines = new Int32Array(count);
  let line = 0;
  for (let pc = 0; pc < count; pc++) {
    line += input.signed();
    if (line < 0 || line > 0x7fffffff) throw new BadBytecodeError(`instruction ${pc}: line ${line} out of range`);
    lines[pc] = line;
  }
  const constants = readList(input, MIN_CONSTANT_BYTES, 'constants', (index) => readConstant(input, index));
  const upvalues = readList(input, MIN_UPVALUE_BYTES, 'upvalues', (index) => readUpvalue(input, index));
  const locals = readList(input, MIN_LOCAL_BYTES, 'locals', () => readLocal(input));
  const protos = readList(input, MIN_PROTO_BYTES, 'functions', () => readProto(input, depth + 1));
  return {
    name, source, lineDefined, lastLine, numParams, numRegisters, numCells, numIterators,
    code, lines, constants, upvalues, protos, locals,
  };
}

/**
 * The verified proto tree of a bytecode file. Any defect, whatever the input, is a
 * BadBytecodeError; `globals` are the names GETGLOBAL may read.
 */
export function readBytecodeFile(bytes: Uint8Array, globals: ReadonlySet<string>, options: { allowSessionUpvalues?: boolean } = {}): Proto {
  const input = new Cursor(bytes);
  for (const byte of BYTECODE_MAGIC) {
    if (input.byte() !== byte) throw new BadBytecodeError('bad magic');
  }
  const version = input.byte();
  if (version !== BYTECODE_VERSION) throw new BadBytecodeError(`unsupported version ${version}`);
  const flags = input.byte();
  if (flags !== 0) throw new BadBytecodeError(`unsupported flags 0x${flags.toString(16).padStart(2, '0')}`);
  const main = readProto(input, 0);
  input.end();
  verifyProto(main, { globals, allowSessionUpvalues: options.allowSessionUpvalues === true });
  return main;
}
