// Crafted bytecode that passes the verifier but gives instructions values of the wrong type
// (found by the crafted-file fuzzer): each ends in a runtime error, never an internal one.

import t from 'tap';
import { readBytecodeFile, writeBytecodeFile } from '../../src/vm/bytecode-file';
import { GLOBAL_NAMES } from '../../src/vm/lib/index';
import { HANDLER_KINDS } from '../../src/vm/opcodes';
import { runInSandbox } from '../fuzz/sandbox';
import { buildProto, type ProtoSpec } from './build-proto';

/** The text of the runtime error the crafted main function ends in, after a trip through a bytecode file. */
function errorText(spec: ProtoSpec): string {
  const proto = readBytecodeFile(writeBytecodeFile(buildProto(spec)), GLOBAL_NAMES);
  const messages: string[] = [];
  const outcome = runInSandbox(proto, false, (message) => messages.push(message));
  return messages[0] ?? `ended ${outcome} without an error`;
}

const FOR_ERROR = "'for' init/limit/step value must be a number";

t.test('FORLOOP without its FORPREP', async (t) => {
  // r0 (the counter) is nil: the loop's step cannot be taken.
  t.equal(errorText({ constants: [1], code: [['LOADK', 2, 0], ['FORLOOP', 0, -1], ['RETNIL']] }), FOR_ERROR);
  // Counter and step numbers, the limit a string: an error as the loop ends.
  t.equal(errorText({ constants: [1, 'ten'], code: [['LOADK', 0, 0], ['LOADK', 1, 1], ['LOADK', 2, 0], ['FORLOOP', 0, -1], ['RETNIL']] }), FOR_ERROR);
  t.equal(errorText({ constants: [1], code: [['LOADK', 0, 0], ['LOADK', 2, 0], ['FORLOOP', 0, -1], ['RETNIL']] }), FOR_ERROR, 'nil limit');
});

t.test('REGISTER of something that is not a function', async (t) => {
  const tick = HANDLER_KINDS.indexOf('tick');
  t.equal(errorText({ constants: [5, 'tick-1s'], code: [['LOADK', 0, 0], ['REGISTER', 0, 1, tick], ['RETNIL']] }),
    'timer.tick: attempt to register a number value as a handler');
  t.equal(errorText({ constants: ['trace_end'], code: [['NEWTABLE', 0], ['REGISTER', 0, 0, HANDLER_KINDS.indexOf('trace_end')], ['RETNIL']] }),
    'kdebug.trace_end: attempt to register a table value as a handler');
});

t.test('timer handlers with headers the compiler would have refused', async (t) => {
  const handler = buildProto({ name: 'h', code: [['RETNIL']] });
  const cases = [['tick-1x', 'tick', '1x'], ['tick-', 'tick', ''], ['profile-0s', 'profile', '0s'], ['trace_end', 'tick', 'trace_end']] as const;
  for (const [header, kind, interval] of cases) {
    t.equal(errorText({ constants: [header], protos: [handler], code: [['CLOSURE', 0, 0], ['REGISTER', 0, 0, HANDLER_KINDS.indexOf(kind)], ['RETNIL']] }),
      `cannot parse timer interval: ${interval}`, `${kind} ${header}`);
  }
  t.equal(errorText({ constants: ['nope'], protos: [handler], code: [['CLOSURE', 0, 0], ['REGISTER', 0, 0, HANDLER_KINDS.indexOf('trace')], ['RETNIL']] }),
    "cannot parse eventdef 'nope'");
});

