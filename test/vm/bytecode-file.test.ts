// Bytecode files: what is written reads back as the same proto tree, the layout is pinned,
// and each kind of damage is reported as a BadBytecodeError with its reason.

import t from 'tap';
import { BYTECODE_MAGIC, isBytecodeFile, readBytecodeFile, writeBytecodeFile } from '../../src/vm/bytecode-file';
import type { Proto } from '../../src/vm/proto';
import { MAX_SAFE } from '../../src/vm/value';
import { buildProto, nestedChain, rejection, richProto, sampleProtos, TEST_GLOBALS } from './build-proto';

const minimal = buildProto({ code: [['RETNIL']] });
/** Offsets in writeBytecodeFile(minimal), from the layout comment in bytecode-file.ts. */
const AT = { version: 5, flags: 6, nameLength: 7, numRegisters: 23, instructionCount: 26, opcode: 27, line: 31, constantCount: 32, protoCount: 35 };

function read(bytes: Uint8Array): string {
  return rejection(() => readBytecodeFile(bytes, TEST_GLOBALS));
}

/** `bytes` with the byte at `offset` replaced by `replacement` (any number of bytes). */
function patch(bytes: Uint8Array, offset: number, ...replacement: number[]): Uint8Array {
  return Uint8Array.from([...bytes.subarray(0, offset), ...replacement, ...bytes.subarray(offset + 1)]);
}

t.test('the layout of a minimal file', async (t) => {
  t.same([...BYTECODE_MAGIC], [0x1b, 0x4b, 0x54, 0x41, 0x50]);
  const bytes = writeBytecodeFile(minimal);
  t.same([...bytes], [
    0x1b, 0x4b, 0x54, 0x41, 0x50, 1, 0, // magic, version, flags
    4, ...Buffer.from('main'), 7, ...Buffer.from('test.kp'), // name, source
    0, 0, 0, 4, 0, 0, // lineDefined, lastLine, numParams, numRegisters, numCells, numIterators
    1, 35, 0, 0, 0, // one instruction: RETNIL
    2, // line 1 as a zig-zag delta from 0
    0, 0, 0, 0, // constants, upvalues, locals, functions
  ]);
  t.equal(bytes[AT.numRegisters], 4);
  t.equal(bytes[AT.protoCount], 0);
  t.ok(isBytecodeFile(bytes));
  t.notOk(isBytecodeFile(bytes.subarray(0, 4)));
  t.notOk(isBytecodeFile(Buffer.from('trace syscalls:* { }')));
});

t.test('round trip', async (t) => {
  for (const proto of [...sampleProtos(), nestedChain(200)]) {
    t.strictSame(readBytecodeFile(writeBytecodeFile(proto), TEST_GLOBALS), proto, `${proto.name} (${proto.protos.length} nested)`);
  }
  const rich = readBytecodeFile(writeBytecodeFile(richProto()), TEST_GLOBALS);
  t.equal(rich.constants[5], -(2n ** 63n));
  t.equal(rich.constants[8], '\x00\xff\x80binary\n"\'');
  t.equal(rich.protos[0]!.protos[0]!.upvalues[0]!.from, 'upvalue');
});

t.test('int64 constants come back in canonical form', async (t) => {
  const constants = [MAX_SAFE, -MAX_SAFE, 2n ** 53n, -(2n ** 53n), 0, -1, 2 ** 32, -(2 ** 32), 2 ** 31, -(2 ** 31) - 1, 2n ** 63n - 1n, 2 ** 52 + 1];
  const proto = buildProto({ constants, code: [['RETNIL']] });
  t.strictSame(readBytecodeFile(writeBytecodeFile(proto), TEST_GLOBALS).constants, constants);
});

t.test('damaged headers', async (t) => {
  const bytes = writeBytecodeFile(minimal);
  t.equal(read(new Uint8Array(0)), 'truncated file');
  t.equal(read(Buffer.from('hello world')), 'bad magic');
  t.equal(read(patch(bytes, AT.version, 7)), 'unsupported version 7');
  t.equal(read(patch(bytes, AT.flags, 4)), 'unsupported flags 0x04');
});

t.test('every truncation is reported', async (t) => {
  for (const sample of sampleProtos()) {
    const bytes = writeBytecodeFile(sample);
    for (let length = BYTECODE_MAGIC.length; length < bytes.length; length++) {
      const reason = read(bytes.subarray(0, length));
      if (!reason.startsWith('truncated file')) t.fail(`${sample.name} cut at ${length}: ${reason}`);
    }
  }
  t.pass('all truncations rejected');
});

t.test('trailing garbage', async (t) => {
  const bytes = writeBytecodeFile(minimal);
  t.equal(read(Uint8Array.from([...bytes, 0])), `trailing garbage at offset ${bytes.length}`);
});

t.test('hostile lengths and varints', async (t) => {
  const bytes = writeBytecodeFile(minimal);
  const before = process.memoryUsage().arrayBuffers;
  t.equal(read(patch(bytes, AT.nameLength, 0x80, 0x80, 0x80, 0x80, 0x08)), 'truncated file', '2^31-byte name');
  t.equal(read(patch(bytes, AT.instructionCount, 0xff, 0xff, 0xff, 0xff, 0x0f)), 'truncated file (4294967295 instructions announced)');
  t.equal(read(patch(bytes, AT.constantCount, 0xff, 0xff, 0xff, 0x7f)), 'truncated file (268435455 constants announced)');
  t.equal(read(patch(bytes, AT.protoCount, 0x80, 0x80, 0x80, 0x80, 0x01)), 'truncated file (268435456 functions announced)');
  t.ok(process.memoryUsage().arrayBuffers - before < 1 << 20, 'nothing large was allocated');
  t.equal(read(patch(bytes, AT.numRegisters, 0xff, 0xff, 0xff, 0xff, 0x1f)), 'integer too large');
  t.equal(read(patch(bytes, AT.numRegisters, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00)), 'integer too long');
  t.equal(read(patch(bytes, AT.numRegisters, 0x84, 0x00)), 'accepted', 'an overlong varint still reads its value');
});

t.test('damaged contents', async (t) => {
  const bytes = writeBytecodeFile(minimal);
  t.equal(read(patch(bytes, AT.line, 1)), 'instruction 0: line -1 out of range');
  t.equal(read(patch(bytes, AT.opcode, 200)), "function 'main' instruction 0: bad opcode 200");
  t.equal(read(patch(bytes, AT.numRegisters, 251, 1)), "function 'main': too many registers (251, at most 250)");

  const withConstant = writeBytecodeFile(buildProto({ constants: ['a', 'b'], code: [['RETNIL']] }));
  const secondTag = AT.constantCount + 1 + 3;
  t.equal(withConstant[secondTag], 1);
  t.equal(read(patch(withConstant, secondTag, 9)), 'constant 1: bad tag 9');

  const withUpvalue = buildProto({ code: [['CLOSURE', 0, 0], ['RETNIL']], numCells: 1, protos: [buildProto({ name: 'f', code: [['RETNIL']], upvalues: [{ from: 'cell', index: 0, name: 'x' }] })] });
  const file = writeBytecodeFile(withUpvalue);
  // The file ends with f's upvalue (origin, index, name length, 'x') and its two empty counts.
  const origin = file.length - 6;
  t.equal(file[origin], 0);
  t.equal(read(patch(file, origin, 3)), 'upvalue 0: bad origin 3');
  t.equal(read(patch(file, origin + 1, 1)), "function 'f': upvalue 0 ('x'): cell 1 out of range in the enclosing function");
});

t.test('rules that only the loader applies', async (t) => {
  t.equal(read(writeBytecodeFile(nestedChain(201))), 'functions nested more than 200 levels deep');
  const session: Proto = buildProto({ code: [['GETUPVAL', 0, 0], ['RETNIL']], upvalues: [{ from: 'session', index: 0, name: 'x' }] });
  t.equal(read(writeBytecodeFile(session)), "function 'main': upvalue 0 ('x'): session upvalues are not allowed here");
  const hello = writeBytecodeFile(sampleProtos()[1]!);
  t.equal(rejection(() => readBytecodeFile(hello, new Set(['printf']))), "function 'main' instruction 0: unknown global 'print'");
});
