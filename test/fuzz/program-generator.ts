// A grammar-aware generator of ktap programs (SPEC §2): random statements and expressions
// over a few shared names, builtins called with right and wrong arguments, handlers of every
// kind, and the edge values of the number and string syntax, so inputs reach the code generator and the VM.

import { BUILTINS } from '../../src/vm/lib/index';
import { EVENT_VARIABLES } from '../../src/vm/opcodes';
import type { Random } from '../seeded-random';

const NAMES = ['a', 'b', 'c', 't', 's', 'n', 'f', 'g', 'k', 'v'];
const BUILTIN_CALLEES = BUILTINS.map((def) => (def.library === undefined ? def.name : `${def.library}.${def.name}`))
  .filter((name) => name !== 'exit');
const BINARY_OPERATORS = ['+', '-', '*', '/', '%', '..', '==', '!=', '<', '<=', '>', '>=', '&&', '||'];
const NUMBERS = [
  '0', '1', '2', '-1', '7', '10', '255', '4096', '0x7f', '017', '9007199254740991', '9007199254740992',
  '9223372036854775807', '0x8000000000000000', '18446744073709551615', '99999999999999999999999', '0xffffffffffffffff',
];
const STRINGS = [
  '""', '"x"', '"hello world"', "'it\\'s'", '"a\\tb\\n"', '"\\x41\\65\\0"', '"%d %s %x %c %p %5.2s %-8d %+d"', '"%"',
  '"%q"', '"%08.3x"', '"\\z   z"', '[[long]]', '[==[a]]b]==]', '"syscalls:sys_enter_*"', '"1s"', '"10ms"', '"0ms"',
  '"tick-1x"', '"nope"', '"-5"', '"1234"',
];
const EVENT_SPECS = [
  'syscalls:sys_enter_openat', 'syscalls:sys_enter_* /fd == 0/', 'sched:sched_switch', 'probe:do_sys_open',
  'probe:/lib/x86_64-linux-gnu/libc.so.6:malloc%return', 'sdt:/usr/bin/python3:python:function__entry',
  'syscalls:sys_enter_read, syscalls:sys_exit_read', '*:*', 'bogus',
];
const INTERVALS = ['1s', '10ms', '250us', '1sec', '5msec', '1x', '0s'];

/** Generates one program; `random` decides everything, so a seed replays it exactly. */
export function generateProgram(random: Random): string {
  return new ProgramGenerator(random).program();
}

class ProgramGenerator {
  private loops = 0;
  private functions = 0;
  private statements = 0;

  constructor(private readonly random: Random) {}

  program(): string {
    const lines = [`var ${NAMES.join(', ')} = ${Array.from({ length: 1 + this.random(NAMES.length) }, () => (this.chance(2) ? '{}' : this.pick(NUMBERS))).join(', ')}`];
    for (let count = 1 + this.random(4); count > 0; count--) lines.push(this.topLevel());
    return lines.join('\n') + '\n';
  }

  private pick<T>(items: readonly T[]): T {
    return items[this.random(items.length)]!;
  }

  private chance(oneIn: number): boolean {
    return this.random(oneIn) === 0;
  }

  private topLevel(): string {
    switch (this.random(8)) {
      case 0: return `trace ${this.pick(EVENT_SPECS)} ${this.braced(1)}`;
      case 1: return `tick-${this.pick(INTERVALS)} ${this.braced(1)}`;
      case 2: return `profile-${this.pick(INTERVALS)} ${this.braced(1)}`;
      case 3: return `trace_end ${this.braced(1)}`;
      case 4: return `function ${this.pick(NAMES)}(${this.parameters()}) ${this.functionBody(1)}`;
      default: return this.statement(0);
    }
  }

  private parameters(): string {
    return NAMES.slice(this.random(NAMES.length)).slice(0, this.random(4)).join(', ');
  }

  private functionBody(depth: number): string {
    this.functions++;
    const body = this.braced(depth);
    this.functions--;
    return body;
  }

  private braced(depth: number): string {
    return `{ ${this.block(depth)} }`;
  }

  private block(depth: number): string {
    const parts: string[] = [];
    for (let count = depth > 3 ? this.random(2) : this.random(4); count > 0; count--) parts.push(this.statement(depth));
    if (this.chance(4)) parts.push(this.chance(2) ? 'return' : `return ${this.expression(depth)}`);
    return parts.join(this.chance(5) ? '; ' : '\n');
  }

  private statement(depth: number): string {
    // A bound on the program's size: past it, only simple statements.
    if (++this.statements > 12 || depth > 4) return this.simpleStatement(depth);
    switch (this.random(14)) {
      case 0: {
        let text = `if (${this.expression(depth)}) ${this.braced(depth + 1)}`;
        for (let count = this.random(3); count > 0; count--) {
          text += ` ${this.chance(2) ? 'elseif' : 'else if'} (${this.expression(depth)}) ${this.braced(depth + 1)}`;
        }
        return this.chance(2) ? `${text} else ${this.braced(depth + 1)}` : text;
      }
      case 1: return this.loop(() => `while (${this.expression(depth)}) ${this.braced(depth + 1)}`);
      case 2: return this.loop(() => `for (${this.pick(NAMES)} = ${this.expression(depth)}, ${this.expression(depth)}${this.chance(2) ? `, ${this.expression(depth)}` : ''}) ${this.braced(depth + 1)}`);
      case 3: return this.loop(() => `for (${this.pick(NAMES)}${this.chance(2) ? `, ${this.pick(NAMES)}` : ''} in pairs(${this.expression(depth)})) ${this.braced(depth + 1)}`);
      case 4: return this.loop(() => `repeat ${this.chance(2) ? this.braced(depth + 1) : this.block(depth + 1)} until (${this.expression(depth)})`);
      case 5: return `do ${this.block(depth + 1)} end`;
      case 6: return `var ${this.pick(NAMES)}${this.chance(2) ? `, ${this.pick(NAMES)}` : ''} = ${this.expressionList(depth, 1 + this.random(2))}`;
      case 7: return `${this.chance(2) ? 'var ' : ''}function ${this.pick(NAMES)}(${this.parameters()}) ${this.functionBody(depth + 1)}`;
      case 8: return this.loops > 0 && this.chance(2) ? 'break' : this.simpleStatement(depth);
      case 9: return `${this.target(depth)}, ${this.target(depth)} = ${this.expressionList(depth, 1 + this.random(3))}`;
      case 10: return this.chance(8) ? 'exit()' : this.simpleStatement(depth);
      default: return this.simpleStatement(depth);
    }
  }

  private loop(make: () => string): string {
    this.loops++;
    const text = make();
    this.loops--;
    return text;
  }

  private simpleStatement(depth: number): string {
    switch (this.random(5)) {
      case 0: return `${this.target(depth)} = ${this.expression(depth)}`;
      case 1: return `${this.target(depth)} += ${this.expression(depth)}`;
      case 2: return this.builtinCall(depth);
      case 3: return `print(${this.expressionList(depth, this.random(4))})`;
      default: return `${this.pick(NAMES)}(${this.expressionList(depth, this.random(3))})`;
    }
  }

  private target(depth: number): string {
    return this.chance(2) ? this.pick(NAMES) : `${this.pick(NAMES)}[ ${this.expression(depth + 1)} ]`;
  }

  private builtinCall(depth: number): string {
    return `${this.pick(BUILTIN_CALLEES)}(${this.expressionList(depth + 1, this.random(4))})`;
  }

  private expressionList(depth: number, count: number): string {
    return Array.from({ length: count }, () => this.expression(depth)).join(', ');
  }

  private expression(depth: number): string {
    if (depth > 3 || this.chance(2)) return this.atom();
    const next = depth + 1;
    switch (this.random(12)) {
      case 0: case 1: case 2: return `${this.expression(next)} ${this.pick(BINARY_OPERATORS)} ${this.expression(next)}`;
      case 3: return `${this.chance(2) ? '-' : '!'}${this.expression(next)}`;
      case 4: return `(${this.expression(next)})`;
      case 5: return this.tableConstructor(next);
      case 6: return `${this.pick(NAMES)}[ ${this.expression(next)} ]`;
      case 7: return `${this.pick(NAMES)}.${this.pick(NAMES)}`;
      case 8: return this.builtinCall(next);
      case 9: return `${this.pick(NAMES)}(${this.expressionList(next, this.random(3))})`;
      case 10: return this.functions < 2 ? `function (${this.parameters()}) ${this.functionBody(next)}` : this.atom();
      default: return `${this.pick(NAMES)}:${this.pick(NAMES)}(${this.expressionList(next, this.random(2))})`;
    }
  }

  private tableConstructor(depth: number): string {
    const fields: string[] = [];
    for (let count = this.random(5); count > 0; count--) {
      switch (this.random(3)) {
        case 0: fields.push(`${this.pick(NAMES)} = ${this.expression(depth)}`); break;
        case 1: fields.push(`[ ${this.expression(depth)} ] = ${this.expression(depth)}`); break;
        default: fields.push(this.expression(depth));
      }
    }
    return `{${fields.join(this.chance(3) ? '; ' : ', ')}}`;
  }

  private atom(): string {
    switch (this.random(8)) {
      case 0: case 1: return this.pick(NUMBERS);
      case 2: return this.pick(STRINGS);
      case 3: return this.pick(['nil', 'true', 'false']);
      case 4: return this.pick(EVENT_VARIABLES);
      case 5: return String(this.random(100));
      default: return this.pick(NAMES);
    }
  }
}
