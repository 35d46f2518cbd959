// What a handler's bytecode tells the probe layer in advance: which event arguments and
// fields it passes to user_string (or join), so the kernel can copy those strings (or string
// arrays) at the event (a uprobe's fetch, a tracepoint's BPF capture), and which fields it
// reads by name, so that attaching can check the events have them.

import { EVENT_VARIABLES, INSTRUCTION_WIDTH, OPCODES, Op, argNumber } from './opcodes';
import type { Proto } from './proto';
import { capturingBuiltins } from './lib/index';

/** What a handler passes directly to the builtins of one capture: N of `argN`, NAME of `args.NAME`. */
export interface CapturedSources {
  readonly args: Set<number>;
  readonly fields: Set<string>;
}

/**
 * The calls `f(argN)` and `f(args.NAME)` of the builtins F that need CAPTURE (user_string
 * for `argString`, join for `argv`) made directly in `proto` (not in functions it calls).
 * Tracks, per register, the last instruction that wrote it, in code order — the pattern the
 * compiler emits for such a call is GETGLOBAL, EVENTVAR or FIELD, CALL.
 */
export function capturedSources(proto: Proto, capture: 'argString' | 'argv'): CapturedSources {
  const builtins = capturingBuiltins(capture);
  const found = { args: new Set<number>(), fields: new Set<string>() };
  const lastWriter = new Map<number, number>();
  const code = proto.code;
  for (let pc = 0; pc < proto.lines.length; pc++) {
    const base = pc * INSTRUCTION_WIDTH;
    const op = code[base]!;
    const a = code[base + 1]!;
    if (op === Op.CALL || op === Op.TAILCALL) {
      const callee = lastWriter.get(a);
      const argument = lastWriter.get(a + 1);
      if (callee !== undefined && argument !== undefined && code[callee * INSTRUCTION_WIDTH] === Op.GETGLOBAL &&
        builtins.includes(proto.constants[code[callee * INSTRUCTION_WIDTH + 2]!] as string)) {
        const writer = code[argument * INSTRUCTION_WIDTH];
        const operand = code[argument * INSTRUCTION_WIDTH + 2]!;
        const arg = writer === Op.EVENTVAR ? argNumber(EVENT_VARIABLES[operand]!) : null;
        if (arg !== null) found.args.add(arg);
        if (writer === Op.FIELD) found.fields.add(proto.constants[operand] as string);
      }
    }
    // Taken as written by the instruction: its first register operand (true for every
    // opcode that writes a register; the few that only read one cannot sit in the pattern).
    if (OPCODES[op]!.operands[0] === 'R') lastWriter.set(a, pc);
  }
  return found;
}

/** Names of the event fields (args.NAME) `proto` reads directly, each once, in code order. */
export function eventFieldNames(proto: Proto): string[] {
  const names = new Set<string>();
  for (let pc = 0; pc < proto.lines.length; pc++) {
    const base = pc * INSTRUCTION_WIDTH;
    if (proto.code[base] === Op.FIELD) names.add(proto.constants[proto.code[base + 2]!] as string);
  }
  return [...names];
}

/** Which of `names` the program (a proto and all nested ones) reads as globals. */
export function globalsRead(proto: Proto, names: readonly string[]): Set<string> {
  const found = new Set<string>();
  const pending: Proto[] = [proto];
  while (pending.length > 0) {
    const current = pending.pop()!;
    for (let pc = 0; pc < current.lines.length; pc++) {
      const base = pc * INSTRUCTION_WIDTH;
      if (current.code[base] !== Op.GETGLOBAL) continue;
      const name = current.constants[current.code[base + 2]!];
      if (typeof name === 'string' && names.includes(name)) found.add(name);
    }
    for (const child of current.protos) pending.push(child);
  }
  return found;
}
