// The verifier: valid protos pass, and every rule rejects a hand-made proto that breaks it
// with the reason a user would read after `error: bad bytecode file: `.

import t from 'tap';
import { MAX_REGISTERS } from '../../src/vm/opcodes';
import { verifyProto } from '../../src/vm/verify';
import type { Constant, Proto } from '../../src/vm/proto';
import { buildProto, nestedChain, rejection, sampleProtos, TEST_GLOBALS, type Instruction, type ProtoSpec } from './build-proto';

function verify(proto: Proto, allowSessionUpvalues = false): string {
  return rejection(() => verifyProto(proto, { globals: TEST_GLOBALS, allowSessionUpvalues }));
}

/** The verdict on a main function of 4 registers running `code` and then returning. */
function verifyCode(code: readonly Instruction[], spec: Partial<ProtoSpec> = {}): string {
  return verify(buildProto({ ...spec, code: [...code, ['RETNIL']] }));
}

t.test('valid protos pass', async (t) => {
  for (const proto of sampleProtos()) t.equal(verify(proto), 'accepted', proto.name);
  t.equal(verify(nestedChain(200)), 'accepted', 'nesting at the limit');
  t.equal(MAX_REGISTERS, 250);
  t.equal(verify(buildProto({ numRegisters: 250, numParams: 250, numCells: 1000, numIterators: 250, code: [['RETNIL']] })), 'accepted', 'sizes at their limits');
});

t.test('sizes', async (t) => {
  const sized = (spec: Partial<ProtoSpec>) => verify(buildProto({ code: [['RETNIL']], ...spec }));
  t.equal(sized({ numRegisters: 251 }), "function 'main': too many registers (251, at most 250)");
  t.equal(sized({ numParams: 5 }), "function 'main': 5 parameters but only 4 registers");
  t.equal(sized({ numCells: 1001 }), "function 'main': too many cells (1001, at most 1000)");
  t.equal(sized({ numIterators: 251 }), "function 'main': too many iterators (251, at most 250)");
  t.equal(sized({ numRegisters: -1 }), "function 'main': bad numRegisters -1");
  t.equal(sized({ numParams: 0.5 }), "function 'main': bad numParams 0.5");
  t.equal(sized({ lineDefined: -3 }), "function 'main': bad lineDefined -3");
  t.equal(sized({ code: [] }), "function 'main': no instructions");
  t.equal(sized({ lines: [1, 2] }), "function 'main': 4 code slots for 2 instructions");
  t.equal(sized({ code: [['LOADNIL', 0], ['RETNIL']], lines: [1, -2] }), "function 'main' instruction 1: negative line -2");
  t.equal(verify(nestedChain(201)), "function 'level201': nested too deeply (more than 200 levels)");
});

t.test('constants are canonical numbers or byte strings', async (t) => {
  const withConstant = (constant: unknown) => verify(buildProto({ constants: [0, constant as Constant], code: [['RETNIL']] }));
  t.equal(withConstant(1.5), "function 'main': constant 1: 1.5 is not a safe integer");
  t.equal(withConstant(2 ** 53), "function 'main': constant 1: 9007199254740992 is not a safe integer");
  t.equal(withConstant(-0), "function 'main': constant 1: negative zero");
  t.equal(withConstant(5n), "function 'main': constant 1: bigint 5 is a safe integer");
  t.equal(withConstant(2n ** 63n), "function 'main': constant 1: 9223372036854775808 is outside the int64 range");
  t.equal(withConstant('\u0100'), "function 'main': constant 1: not a byte string");
  t.equal(withConstant(true), "function 'main': constant 1: bad type boolean");
  t.equal(withConstant(-(2n ** 63n)), 'accepted');
  t.equal(withConstant('\x00\xff'), 'accepted');
});

t.test('operands by kind', async (t) => {
  const constants = ['print', 7, 'nope'];
  const one = (instruction: Instruction, spec: Partial<ProtoSpec> = {}) => verifyCode([instruction], { constants, ...spec });
  const prefix = "function 'main' instruction 0: ";
  t.equal(one(['FORPREP', 0, 0]), 'accepted', 'a jump to the next instruction');
  t.equal(one(['MOVE', 4, 0]), prefix + 'MOVE A: register 4 out of range');
  t.equal(one(['MOVE', 0, -1]), prefix + 'MOVE B: register -1 out of range');
  t.equal(one(['ADD', 0, 4, 0]), prefix + 'ADD B: register 4 out of range');
  t.equal(one(['ADD', 0, -3, -4]), prefix + 'ADD C: constant 3 out of range');
  t.equal(one(['LOADK', 0, 3]), prefix + 'LOADK B: constant 3 out of range');
  t.equal(one(['LOADK', 0, -1]), prefix + 'LOADK B: constant -1 out of range');
  t.equal(one(['REGISTER', 0, 1, 0]), prefix + 'REGISTER B: constant 1 is not a string');
  t.equal(one(['GETUPVAL', 0, 0]), prefix + 'GETUPVAL B: upvalue 0 out of range');
  t.equal(one(['GETCELL', 0, 1], { numCells: 1 }), prefix + 'GETCELL B: cell 1 out of range');
  t.equal(one(['ITERPREP', 0, 0]), prefix + 'ITERPREP A: iterator 0 out of range');
  t.equal(one(['CLOSURE', 0, 0]), prefix + 'CLOSURE B: function 0 out of range');
  t.equal(one(['LOADBOOL', 0, 2]), prefix + 'LOADBOOL B: immediate 2 out of range 0..1');
  t.equal(one(['EVENTVAR', 0, 17]), prefix + 'EVENTVAR B: immediate 17 out of range 0..16');
  t.equal(one(['REGISTER', 0, 0, 4]), prefix + 'REGISTER C: immediate 4 out of range 0..3');
  t.equal(one(['NEWTABLE', 0, -1, 0]), prefix + 'NEWTABLE B: immediate -1 out of range 0..16777215');
  t.equal(one(['CALL', 0, 251]), prefix + 'CALL B: immediate 251 out of range 0..250');
  t.equal(one(['LOADNIL', 0, 0, 9]), prefix + 'LOADNIL C: unused operand is 9, not 0');
  t.equal(one(['JMPT', 0, 1]), prefix + 'JMPT B: jump target 2 out of range');
  t.equal(one(['JMPF', 0, -2]), prefix + 'JMPF B: jump target -1 out of range');
  t.equal(one(['ITERNEXT', 0, 0, 0], { numIterators: 1 }), 'accepted');
  t.equal(one(['ITERNEXT', 0, 0, 5], { numIterators: 1 }), prefix + 'ITERNEXT C: jump target 6 out of range');
  const badOpcode = buildProto({ code: [['RETNIL']] });
  (badOpcode.code as Int32Array)[0] = 99;
  t.equal(verify(badOpcode), prefix + 'bad opcode 99');
});

t.test('register spans', async (t) => {
  const prefix = "function 'main' instruction 0: ";
  t.equal(verifyCode([['CALL', 1, 2]]), 'accepted', 'r1..r3 of 4');
  t.equal(verifyCode([['CALL', 2, 2]]), prefix + 'CALL: registers 2..4 out of range');
  t.equal(verify(buildProto({ code: [['TAILCALL', 3, 1]] })), prefix + 'TAILCALL: registers 3..4 out of range');
  t.equal(verifyCode([['FORPREP', 0, 0]]), 'accepted', 'r0..r3 of 4');
  t.equal(verifyCode([['FORLOOP', 1, 0]]), prefix + 'FORLOOP: registers 1..4 out of range');
  t.equal(verifyCode([['ITERNEXT', 0, 2, 0]], { numIterators: 1 }), 'accepted', 'r2..r3 of 4');
  t.equal(verifyCode([['ITERNEXT', 0, 3, 0]], { numIterators: 1 }), prefix + 'ITERNEXT: registers 3..4 out of range');
});

t.test('the last instruction ends the function', async (t) => {
  t.equal(verify(buildProto({ code: [['LOADNIL', 0]] })), "function 'main': last instruction (LOADNIL) does not end the function");
  t.equal(verify(buildProto({ code: [['LOADNIL', 0], ['JMPF', 0, -2]] })), "function 'main': last instruction (JMPF) does not end the function");
  t.equal(verify(buildProto({ code: [['LOADNIL', 0], ['JMP', -2]] })), 'accepted', 'JMP');
  t.equal(verify(buildProto({ code: [['RETURN', 0]] })), 'accepted', 'RETURN');
  t.equal(verify(buildProto({ code: [['TAILCALL', 0, 0]] })), 'accepted', 'TAILCALL');
});

t.test('GETGLOBAL reads only known globals', async (t) => {
  t.equal(verifyCode([['GETGLOBAL', 0, 0]], { constants: ['print'] }), 'accepted');
  t.equal(verifyCode([['GETGLOBAL', 0, 0]], { constants: ['os\n'] }), "function 'main' instruction 0: unknown global 'os\\n'");
});

t.test('upvalue descriptors', async (t) => {
  const child = (from: 'cell' | 'upvalue' | 'session', index: number) => buildProto({
    name: 'f', code: [['GETUPVAL', 0, 0], ['RETURN', 0]], upvalues: [{ from, index, name: 'v' }],
  });
  const parentOf = (proto: Proto, spec: Partial<ProtoSpec> = {}) => buildProto({ code: [['CLOSURE', 0, 0], ['RETNIL']], protos: [proto], ...spec });
  t.equal(verify(parentOf(child('cell', 1), { numCells: 2 })), 'accepted');
  t.equal(verify(parentOf(child('cell', 2), { numCells: 2 })), "function 'f': upvalue 0 ('v'): cell 2 out of range in the enclosing function");
  t.equal(verify(parentOf(parentOf(child('upvalue', 0), { name: 'g', upvalues: [{ from: 'cell', index: 0, name: 'w' }] }), { numCells: 1 })), 'accepted');
  t.equal(verify(parentOf(parentOf(child('upvalue', 1), { name: 'g', upvalues: [{ from: 'cell', index: 0, name: 'w' }] }), { numCells: 1 })),
    "function 'f': upvalue 0 ('v'): upvalue 1 out of range in the enclosing function");
  t.equal(verify(parentOf(child('session', 0)), true), "function 'f': upvalue 0 ('v'): session upvalue outside the main function");
  t.equal(verify(parentOf(child('cell', -1), { numCells: 2 })), "function 'f': upvalue 0 ('v'): bad index -1");

  const main = (from: 'cell' | 'upvalue' | 'session') => buildProto({ code: [['GETUPVAL', 0, 0], ['RETNIL']], numCells: 1, upvalues: [{ from, index: 0, name: 'x' }] });
  t.equal(verify(main('session'), true), 'accepted', 'session upvalues in a REPL input');
  t.equal(verify(main('session'), false), "function 'main': upvalue 0 ('x'): session upvalues are not allowed here");
  t.equal(verify(main('cell'), true), "function 'main': upvalue 0 ('x'): the main function can only take upvalues from the session, not from cell");
});

t.test('locals', async (t) => {
  const withLocal = (slot: number, startPc = 0, endPc = 1) => verify(buildProto({ numCells: 1, code: [['RETNIL']], locals: [{ name: 'x', slot, startPc, endPc }] }));
  t.equal(withLocal(3), 'accepted');
  t.equal(withLocal(-1), 'accepted');
  t.equal(withLocal(4), "function 'main': local 0 ('x'): register 4 out of range");
  t.equal(withLocal(-2), "function 'main': local 0 ('x'): cell 1 out of range");
  t.equal(withLocal(0, 1, 2), "function 'main': local 0 ('x'): pc range 1..2 out of range");
  t.equal(withLocal(0, 1, 0), "function 'main': local 0 ('x'): pc range 1..0 out of range");
});

t.test('names in reasons are escaped and cut', async (t) => {
  const name = '\x1b[31m' + 'x'.repeat(100);
  t.equal(verify(buildProto({ name, code: [['LOADNIL', 0]] })),
    `function '\\x1b[31m${'x'.repeat(32)}'...: last instruction (LOADNIL) does not end the function`);
});
