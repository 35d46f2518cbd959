// Opcode numbers are the bytecode file format: the order of each BYTECODE_VERSION is pinned
// here, so reordering or removing an opcode (or an event variable, or a handler kind) fails
// unless the version is bumped; appending keeps older files loading and passes.

import t from 'tap';
import { BYTECODE_VERSION } from '../../src/vm/bytecode-file';
import { EVENT_VARIABLES, HANDLER_KINDS, OPCODES } from '../../src/vm/opcodes';

/** What each version's files number, as it was released. */
const PINNED: Record<number, { opcodes: string[]; eventVariables: string[]; handlerKinds: string[] }> = {
  1: {
    opcodes: [
      'MOVE', 'LOADK', 'LOADNIL', 'LOADBOOL', 'GETUPVAL', 'SETUPVAL', 'NEWCELL', 'GETCELL', 'SETCELL',
      'GETGLOBAL', 'GETTABLE', 'SETTABLE', 'NEWTABLE', 'ADD', 'SUB', 'MUL', 'DIV', 'MOD', 'CONCAT', 'UNM',
      'NOT', 'EQ', 'NE', 'LT', 'LE', 'INCR', 'INCRUPVAL', 'INCRCELL', 'INCRTABLE', 'JMP', 'JMPT', 'JMPF',
      'CALL', 'TAILCALL', 'RETURN', 'RETNIL', 'CLOSURE', 'FORPREP', 'FORLOOP', 'ITERPREP', 'ITERNEXT',
      'EVENTVAR', 'REGISTER',
    ],
    eventVariables: [
      'arg0', 'arg1', 'arg2', 'arg3', 'arg4', 'arg5', 'arg6', 'arg7', 'arg8', 'arg9',
      'argstr', 'probename', 'cpu', 'pid', 'tid', 'uid', 'execname',
    ],
    handlerKinds: ['trace', 'tick', 'profile', 'trace_end'],
  },
};

t.test('the current version keeps the numbering it was released with (append only)', async (t) => {
  const pinned = PINNED[BYTECODE_VERSION];
  t.ok(pinned !== undefined, `BYTECODE_VERSION ${BYTECODE_VERSION} has its numbering pinned in this test`);
  if (pinned === undefined) return;
  t.same(OPCODES.slice(0, pinned.opcodes.length).map((info) => info.name), pinned.opcodes, 'opcodes');
  t.same(EVENT_VARIABLES.slice(0, pinned.eventVariables.length), pinned.eventVariables, 'event variables');
  t.same(HANDLER_KINDS.slice(0, pinned.handlerKinds.length), pinned.handlerKinds, 'handler kinds');
});
