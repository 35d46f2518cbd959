// The `-b` listing of a small script-like proto: header, tables, instructions with comments,
// and the nested function after its parent.

import t from 'tap';
import { disassemble } from '../../src/vm/disasm';
import { quoteBytes } from '../../src/vm/quote';
import { buildProto } from './build-proto';

t.test('listing of a main function and a closure', async (t) => {
  const bump = buildProto({
    name: 'bump', source: 'count.kp', lineDefined: 3, lastLine: 6, numRegisters: 1, constants: [1],
    upvalues: [{ from: 'cell', index: 0, name: 'count' }],
    code: [['INCRUPVAL', 0, -1], ['GETUPVAL', 0, 0], ['RETURN', 0]],
    lines: [4, 5, 5],
  });
  const main = buildProto({
    source: 'count.kp', lastLine: 9, numRegisters: 3, numCells: 1,
    constants: ['print', 'hi\t"there"', 0, 'tick-1s'],
    locals: [{ name: 'count', slot: -1, startPc: 1, endPc: 10 }, { name: 'bump', slot: 0, startPc: 3, endPc: 10 }],
    code: [
      ['NEWCELL', 0], ['SETCELL', 0, -3], ['CLOSURE', 0, 0], ['GETGLOBAL', 1, 0], ['LOADK', 2, 1], ['CALL', 1, 1],
      ['EVENTVAR', 1, 12], ['JMPF', 1, 1], ['REGISTER', 0, 3, 1], ['RETNIL'],
    ],
    lines: [1, 1, 3, 7, 7, 7, 8, 8, 9, 9],
    protos: [bump],
  });
  t.equal(disassemble(main), `\
function 'main' <count.kp:0,9> (10 instructions)
0 params, 3 registers, 1 cell, 0 iterators, 0 upvalues, 4 constants, 1 function
constants (4):
  K0  "print"
  K1  "hi\\t\\"there\\""
  K2  0
  K3  "tick-1s"
locals (2):
  C0  count  pc 1..10
  r0  bump  pc 3..10
code:
  0  [1]  NEWCELL    C0
  1  [1]  SETCELL    C0 K2         ; count, 0
  2  [3]  CLOSURE    r0 F0         ; function 'bump'
  3  [7]  GETGLOBAL  r1 K0         ; "print"
  4  [7]  LOADK      r2 K1         ; "hi\\t\\"there\\""
  5  [7]  CALL       r1 1
  6  [8]  EVENTVAR   r1 12         ; cpu
  7  [8]  JMPF       r1 +1         ; to 9
  8  [9]  REGISTER   r0 K3 1       ; "tick-1s", tick
  9  [9]  RETNIL

function 'bump' <count.kp:3,6> (3 instructions)
0 params, 1 register, 0 cells, 0 iterators, 1 upvalue, 1 constant, 0 functions
constants (1):
  K0  1
upvalues (1):
  U0  count  from C0
code:
  0  [4]  INCRUPVAL  U0 K0         ; count, 1
  1  [5]  GETUPVAL   r0 U0         ; count
  2  [5]  RETURN     r0
`);
});

t.test('columns widen for long functions', async (t) => {
  const code = Array.from({ length: 11 }, () => ['LOADBOOL', 0, 0] as const);
  const listing = disassemble(buildProto({ code: [...code, ['JMP', -12]], lines: [...code.map(() => 1), 1234] }));
  t.match(listing, /\n   0  \[1\]     LOADBOOL   r0 0          ; false\n/);
  t.match(listing, /\n  11  \[1234\]  JMP        -12           ; to 0\n$/);
});

t.test('bytes are escaped for the terminal', async (t) => {
  t.equal(quoteBytes('a\x00\x1b\x7f\xff\\\'"\n', '"'), '"a\\x00\\x1b\\x7f\\xff\\\\\'\\"\\n"');
  t.equal(quoteBytes("it's", "'"), "'it\\'s'");
  t.equal(quoteBytes('abcdef', "'", 3), "'abc'...");
  const listing = disassemble(buildProto({ name: 'evil\x1b[2J', code: [['RETNIL']], locals: [{ name: '\r', slot: 0, startPc: 0, endPc: 1 }] }));
  t.notMatch(listing, /[\x00-\x09\x0b-\x1f\x7f-\xff]/, 'no control bytes besides newlines');
  t.match(listing, "function 'evil\\x1b[2J'");
  t.match(listing, 'r0  \\r  pc 0..1');
});
