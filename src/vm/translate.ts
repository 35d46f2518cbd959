// Verified bytecode → JavaScript functions, so V8 compiles the hot paths. Each prototype
// becomes a factory taking its upvalue cells; registers become JS locals, jumps a
// `switch` over basic blocks, and the sandbox checks sit at back-edges and calls.

import { capturedSources, eventFieldNames } from './hints';
import { EVENT_VARIABLES, INSTRUCTION_WIDTH, OPCODES, Op, argNumber, type ArgVariable, type EventVariable, type OpName } from './opcodes';
import * as ops from './ops';
import { structure, type Region } from './structure';
import type { Constant, Proto } from './proto';
import { EVENT_VARIABLE_READERS, Runtime, TAIL } from './runtime';
import { KTable } from './table';
import { tuple } from './tuple';
import { MAX_SAFE, type KFunction, type Value } from './value';

/** A captured variable shared between a function and its closures. */
export class Cell {
  v: Value = undefined;
}

/**
 * Links a verified main prototype to a runtime and its globals. Returns a function that,
 * given the cells of the main chunk's session upvalues, creates the main closure.
 */
export function translate(
  main: Proto,
  rt: Runtime,
  globals: ReadonlyMap<string, Value>,
): (sessionCells: readonly Cell[]) => KFunction {
  const translator = new Translator(rt, globals);
  const mainFactory = translator.factory(main);
  const unit = rt.positions.newUnit();
  const source = `${translator.prelude.join('\n')}\n${translator.output.join('\n')}\nreturn ${mainFactory};\n${rt.positions.sourceUrl(unit)}`;
  rt.positions.mapLines(unit, source);
  const link = new Function('rt', 'ops', 'KTable', 'Cell', 'TAIL', 'globalValues', 'handlerProtos', 'tuple', source) as (
    ...args: unknown[]
  ) => (...cells: Cell[]) => KFunction;
  const makeMain = link(rt, ops, KTable, Cell, TAIL, translator.globalValues, translator.handlerProtos, tuple);
  return (sessionCells) => makeMain(...sessionCells);
}

type Emitter = (a: number, b: number, c: number, pc: number) => string;

class Translator {
  readonly prelude: string[] = [];
  readonly output: string[] = [];
  readonly globalValues: Value[] = [];
  /** Prototypes of the handlers REGISTER hands over with their cells (for the kernel tier). */
  readonly handlerProtos: Proto[] = [];
  private readonly globalIndex = new Map<string, number>();
  private protoCount = 0;
  private readonly counting: boolean;
  private readonly depthLimit: number;
  private readonly maxString: number;

  // Per-proto state while emitting.
  private proto!: Proto;
  private blockOf = new Map<number, number>();
  private jumpStyle: 'structured' | 'switch' = 'structured';
  /** Factory names of the current proto's nested prototypes, by index. */
  childNames: string[] = [];

  constructor(
    private readonly rt: Runtime,
    private readonly globals: ReadonlyMap<string, Value>,
  ) {
    this.counting = rt.limits.maxInstructions > 0 || rt.limits.maxEventInstructions > 0;
    this.depthLimit = rt.maxDepth;
    this.maxString = rt.maxString;
  }

  /** Emits the factory of `proto` (and of its nested prototypes); returns its name. */
  factory(proto: Proto): string {
    const name = `make${this.protoCount++}`;
    const childNames = proto.protos.map((child) => this.factory(child));
    this.proto = proto;
    const upvalueParams = proto.upvalues.map((_, index) => `u${index}`).join(', ');
    const params = Array.from({ length: proto.numParams }, (_, index) => `r${index}`).join(', ');
    const lines: string[] = [];
    lines.push(`function ${name}(${upvalueParams}) {`);
    lines.push(`return function ${jsIdentifier(proto.name)}(${params}) {`);
    lines.push(...this.entry(proto));
    lines.push(this.body(proto, childNames));
    lines.push('};', '}');
    this.output.push(lines.join('\n'));
    return name;
  }

  private entry(proto: Proto): string[] {
    const lines: string[] = [];
    if (this.depthLimit !== Infinity) lines.push(`if (++rt.depth > ${this.depthLimit}) rt.stackOverflow();`);
    if (this.counting) lines.push(`if ((rt.budget -= ${proto.lines.length}) < 0) rt.overBudget();`);
    const locals: string[] = ['x', 'y', 't', 'f', 'k'];
    for (let register = proto.numParams; register < proto.numRegisters; register++) locals.push(`r${register}`);
    for (let cell = 0; cell < proto.numCells; cell++) locals.push(`c${cell} = new Cell()`);
    for (let iterator = 0; iterator < proto.numIterators; iterator++) locals.push(`i${iterator} = ops.FINISHED_ITERATOR`);
    lines.push(`let ${locals.join(', ')};`);
    return lines;
  }

  private body(proto: Proto, childNames: string[]): string {
    const count = proto.lines.length;
    const jumps: Array<[number, number]> = [];
    for (let pc = 0; pc < count; pc++) {
      const target = this.jumpTarget(pc);
      if (target !== undefined) jumps.push([pc, target]);
    }
    const regions = structure(jumps);
    return regions === null ? this.switchBody(count, jumps, childNames) : this.structuredBody(count, regions, childNames);
  }

  /** Loops and labelled blocks: jumps become `continue Ln` and `break Bn`. */
  private structuredBody(count: number, regions: Region[], childNames: string[]): string {
    this.jumpStyle = 'structured';
    const out: string[] = [];
    const open: Region[] = [];
    let next = 0;
    for (let pc = 0; pc < count; pc++) {
      for (; next < regions.length && regions[next]!.start === pc; next++) {
        const region = regions[next]!;
        open.push(region);
        out.push(region.kind === 'loop' ? `L${region.target}: for (;;) {` : `B${region.target}: {`);
      }
      out.push(this.instruction(pc, childNames));
      while (open.length > 0 && open[open.length - 1]!.end === pc) {
        const region = open.pop()!;
        out.push(region.kind === 'loop' ? `break L${region.target}; }` : '}');
      }
    }
    return out.join('\n');
  }

  /** Fallback for jumps that do not nest: a `switch` over basic blocks inside one loop. */
  private switchBody(count: number, jumps: ReadonlyArray<readonly [number, number]>, childNames: string[]): string {
    this.jumpStyle = 'switch';
    const leaders = [...new Set([0, ...jumps.map(([, target]) => target)])].sort((a, b) => a - b);
    this.blockOf = new Map(leaders.map((pc, index) => [pc, index]));
    const out: string[] = ['let block = 0;', 'for (;;) switch (block) {'];
    for (let pc = 0; pc < count; pc++) {
      const block = this.blockOf.get(pc);
      if (block !== undefined) out.push(`case ${block}:`);
      out.push(this.instruction(pc, childNames));
    }
    out.push('}');
    return out.join('\n');
  }

  private jumpTarget(pc: number): number | undefined {
    const base = pc * INSTRUCTION_WIDTH;
    const info = OPCODES[this.proto.code[base]!]!;
    const operand = info.operands.indexOf('J');
    return operand < 0 ? undefined : pc + 1 + this.proto.code[base + 1 + operand]!;
  }

  private instruction(pc: number, childNames: string[]): string {
    const code = this.proto.code;
    const base = pc * INSTRUCTION_WIDTH;
    const op = code[base]!;
    const name = OPCODES[op]!.name as OpName;
    this.childNames = childNames;
    const text = EMITTERS[name].call(this, code[base + 1]!, code[base + 2]!, code[base + 3]!, pc);
    // Each instruction is one line of JS, marked with its source position: a runtime error
    // is placed by the line its stack names, at no cost until one happens (positions.ts).
    return `${this.rt.positions.marker(this.proto.source, this.proto.lines[pc]!)}${text}`;
  }

  // ---- operand helpers used by the emitters -----------------------------------------

  /** JS expression of an RK operand. */
  rk(operand: number): string {
    return operand >= 0 ? `r${operand}` : constantLiteral(this.proto.constants[-1 - operand]!);
  }

  constant(index: number): string {
    return constantLiteral(this.proto.constants[index]!);
  }

  /** A KS operand's string (GETGLOBAL's name). */
  constantString(index: number): string {
    return this.proto.constants[index] as string;
  }

  /** `x = <B>; y = <C>;` preamble for binary operations. */
  operands(b: number, c: number): string {
    return `x = ${this.rk(b)}; y = ${this.rk(c)};`;
  }

  /** Jump to the block starting at `target`, charging the budget on back-edges. */
  jump(pc: number, target: number): string {
    const backward = target <= pc;
    const charge = backward && this.counting ? `if ((rt.budget -= ${pc - target + 1}) < 0) rt.overBudget(); ` : '';
    if (this.jumpStyle === 'switch') return `{ ${charge}block = ${this.blockOf.get(target)}; continue; }`;
    return backward ? `{ ${charge}continue L${target}; }` : `break B${target};`;
  }

  global(name: string): string {
    let index = this.globalIndex.get(name);
    if (index === undefined) {
      index = this.globalValues.length;
      this.globalValues.push(this.globals.get(name));
      this.globalIndex.set(name, index);
      this.prelude.push(`const g${index} = globalValues[${index}];`);
    }
    return `g${index}`;
  }

  get maxStringLength(): number {
    return this.maxString;
  }

  callArguments(a: number, count: number): string {
    return Array.from({ length: count }, (_, index) => `r${a + 1 + index}`).join(', ');
  }

  upvalueSource(child: Proto, index: number): string {
    const descriptor = child.upvalues[index]!;
    return descriptor.from === 'cell' ? `c${descriptor.index}` : `u${descriptor.index}`;
  }

  /**
   * The handler registered at `pc` when the instruction before created it (the compiler's
   * CLOSURE + REGISTER pair): its prototype; undefined otherwise.
   */
  registeredProto(pc: number, register: number): Proto | undefined {
    if (pc === 0) return undefined;
    const previous = (pc - 1) * INSTRUCTION_WIDTH;
    const code = this.proto.code;
    if (code[previous] !== Op.CLOSURE || code[previous + 1] !== register) return undefined;
    return this.proto.protos[code[previous + 2]!]!;
  }

  /**
   * REGISTER's hints: user_string(argN) and user_string(args.NAME) calls of the handler,
   * its join(argN) and join(args.NAME) calls, the event fields it reads as args.NAME, and its prototype with the cells it captured, so the kernel tier can
   * compile it and share its globals.
   */
  registrationHints(pc: number, register: number): string {
    const child = this.registeredProto(pc, register);
    if (child === undefined) return '';
    const userStrings = capturedSources(child, 'argString');
    const argvs = capturedSources(child, 'argv');
    const sorted = (args: Set<number>): string => [...args].sort((a, b) => a - b).join(', ');
    const captures = child.upvalues.map((_, index) => this.upvalueSource(child, index)).join(', ');
    this.handlerProtos.push(child);
    return `, { userStrings: [${sorted(userStrings.args)}], userStringFields: ${JSON.stringify([...userStrings.fields])}, argvs: [${sorted(argvs.args)}], argvFields: ${JSON.stringify([...argvs.fields])}, fields: ${JSON.stringify(eventFieldNames(child))}, body: { proto: handlerProtos[${this.handlerProtos.length - 1}], cells: [${captures}] } }`;
  }

  childProto(index: number): Proto {
    return this.proto.protos[index]!;
  }
}

const SAFE = `<= ${MAX_SAFE} && t >= -${MAX_SAFE}`;

/** Inline fast path for + and -: both safe integers and a safe result; else the exact path. */
function additive(operator: '+' | '-', slow: 'add' | 'sub'): Emitter {
  return function (this: Translator, a, b, c) {
    return `${this.operands(b, c)} if (typeof x === 'number' && typeof y === 'number' && (t = x ${operator} y) ${SAFE}) r${a} = t; else r${a} = ops.${slow}(x, y);`;
  };
}

function comparison(operator: '<' | '<=', slow: 'lessThan' | 'lessEqual'): Emitter {
  return function (this: Translator, a, b, c) {
    return `${this.operands(b, c)} r${a} = typeof x === 'number' && typeof y === 'number' ? x ${operator} y : ops.${slow}(x, y);`;
  };
}

/** & | ~ on two int32 inline (JS's operators are exact there); all else through ops. */
function bitwise(operator: '&' | '|' | '^', slow: 'band' | 'bor' | 'bxor'): Emitter {
  return function (this: Translator, a, b, c) {
    return `${this.operands(b, c)} r${a} = typeof x === 'number' && typeof y === 'number' && (x | 0) === x && (y | 0) === y ? x ${operator} y : ops.${slow}(x, y);`;
  };
}

function callOps(name: 'shl' | 'shr' | 'ushr'): Emitter {
  return function (this: Translator, a, b, c) {
    return `r${a} = ops.${name}(${this.rk(b)}, ${this.rk(c)});`;
  };
}

/** `+=` on a place read by `get` and written by `set`. */
function incrementOf(get: string, set: (value: string) => string, delta: string): string {
  return `x = ${get}; y = ${delta}; if (typeof x === 'number' && typeof y === 'number' && (t = x + y) ${SAFE}) ${set('t')}; else ${set('ops.increment(x, y)')};`;
}

/** A store into a cell, counting references to tables (see EntryBudget). */
function cellStore(cell: string, value: string): string {
  return `x = ${value}; y = ${cell}.v; if (typeof x === 'object' || typeof y === 'object') rt.swapCellValue(y, x); ${cell}.v = x;`;
}

const RETURN_DEPTH = 'rt.depth--; ';

/** One emitter per opcode; the Record type makes a missing opcode a compile error. */
const EMITTERS: Record<OpName, (this: Translator, a: number, b: number, c: number, pc: number) => string> = {
  MOVE(a, b) { return `r${a} = r${b};`; },
  LOADK(a, b) { return `r${a} = ${this.constant(b)};`; },
  LOADNIL(a) { return `r${a} = undefined;`; },
  LOADBOOL(a, b) { return `r${a} = ${b === 1};`; },
  GETUPVAL(a, b) { return `r${a} = u${b}.v;`; },
  SETUPVAL(a, b) { return cellStore(`u${a}`, this.rk(b)); },
  NEWCELL(a) { return `c${a} = new Cell();`; },
  GETCELL(a, b) { return `r${a} = c${b}.v;`; },
  SETCELL(a, b) { return cellStore(`c${a}`, this.rk(b)); },
  GETGLOBAL(a, b) { return `r${a} = ${this.global(this.constantString(b))};`; },
  GETTABLE(a, b, c) { return `x = r${b}; r${a} = typeof x === 'object' ? x.get(${this.rk(c)}) : ops.getNonTable();`; },
  SETTABLE(a, b, c) { return `x = r${a}; if (typeof x === 'object') x.set(${this.rk(b)}, ${this.rk(c)}); else ops.setNonTable();`; },
  NEWTABLE(a) { return `r${a} = new KTable(rt.entries);`; },
  ADD: additive('+', 'add'),
  SUB: additive('-', 'sub'),
  MUL(a, b, c) {
    return `${this.operands(b, c)} if (typeof x === 'number' && typeof y === 'number' && (t = x * y) ${SAFE}) r${a} = t; else r${a} = ops.mul(x, y);`;
  },
  DIV(a, b, c) {
    return `${this.operands(b, c)} if (typeof x === 'number' && typeof y === 'number' && y !== 0) r${a} = (x - x % y) / y; else r${a} = ops.div(x, y);`;
  },
  MOD(a, b, c) {
    return `${this.operands(b, c)} if (typeof x === 'number' && typeof y === 'number' && y !== 0) r${a} = x % y; else r${a} = ops.mod(x, y);`;
  },
  CONCAT(a, b, c) {
    return `${this.operands(b, c)} r${a} = typeof x === 'string' && typeof y === 'string' && x.length + y.length <= ${this.maxStringLength} ? x + y : ops.concat(x, y, ${this.maxStringLength});`;
  },
  UNM(a, b) { return `x = ${this.rk(b)}; r${a} = typeof x === 'number' ? 0 - x : ops.unm(x);`; },
  NOT(a, b) { return `x = ${this.rk(b)}; r${a} = x === undefined || x === false;`; },
  EQ(a, b, c) { return `r${a} = ${this.rk(b)} === ${this.rk(c)};`; },
  NE(a, b, c) { return `r${a} = ${this.rk(b)} !== ${this.rk(c)};`; },
  LT: comparison('<', 'lessThan'),
  LE: comparison('<=', 'lessEqual'),
  INCR(a, b) { return incrementOf(`r${a}`, (value) => `r${a} = ${value}`, this.rk(b)); },
  INCRUPVAL(a, b) { return incrementOf(`u${a}.v`, (value) => `u${a}.v = ${value}`, this.rk(b)); },
  INCRCELL(a, b) { return incrementOf(`c${a}.v`, (value) => `c${a}.v = ${value}`, this.rk(b)); },
  INCRTABLE(a, b, c) {
    return `f = r${a}; if (typeof f !== 'object') ops.setNonTable(); k = ${this.rk(b)}; ` +
      incrementOf('f.get(k)', (value) => `f.set(k, ${value})`, this.rk(c));
  },
  JMP(a, _b, _c, pc) { return this.jump(pc, pc + 1 + a); },
  JMPT(a, b, _c, pc) { return `x = r${a}; if (x !== undefined && x !== false) ${this.jump(pc, pc + 1 + b)}`; },
  JMPF(a, b, _c, pc) { return `x = r${a}; if (x === undefined || x === false) ${this.jump(pc, pc + 1 + b)}`; },
  CALL(a, b) {
    return `f = r${a}; if (typeof f !== 'function') ops.callError(f); r${a} = f(${this.callArguments(a, b)}); if (r${a} === TAIL) r${a} = rt.finishTailCalls();`;
  },
  TAILCALL(a, b) {
    return `f = r${a}; if (typeof f !== 'function') ops.callError(f); rt.tailFunction = f; rt.tailArgs = [${this.callArguments(a, b)}]; ${RETURN_DEPTH}return TAIL;`;
  },
  RETURN(a) { return `${RETURN_DEPTH}return ${this.rk(a)};`; },
  RETNIL() { return `${RETURN_DEPTH}return undefined;`; },
  CLOSURE(a, b) {
    const child = this.childProto(b);
    const captures = child.upvalues.map((_, index) => this.upvalueSource(child, index)).join(', ');
    return `if (!rt.mainThread) ops.notMainThread(); r${a} = ${this.childNames[b]}(${captures});`;
  },
  FORPREP(a, b, _c, pc) {
    return `x = r${a}; y = r${a + 1}; t = r${a + 2}; ` +
      `if (typeof x !== 'number' || typeof y !== 'number' || typeof t !== 'number' || t === 0) ops.forCheck(x, y, t); ` +
      `if (t > 0 ? x > y : x < y) ${this.jump(pc, pc + 1 + b)} r${a + 3} = x;`;
  },
  FORLOOP(a, b, _c, pc) {
    return `x = r${a}; y = r${a + 2}; ` +
      `if (typeof x !== 'number' || typeof y !== 'number' || (t = x + y) > ${MAX_SAFE} || t < -${MAX_SAFE}) t = ops.forStep(x, y); ` +
      `if (t !== undefined && (y > 0 ? t <= r${a + 1} : t >= r${a + 1})) { r${a} = t; r${a + 3} = t; ${this.jump(pc, pc + 1 + b)} } ` +
      // Checked once, as the loop ends: the limit was checked by FORPREP, unless the bytecode was hand-made.
      `else if (typeof (k = r${a + 1}) !== 'number' && typeof k !== 'bigint') ops.forLimit(k);`;
  },
  ITERPREP(a, b) { return `i${a} = ops.iterate(${this.rk(b)});`; },
  ITERNEXT(a, b, c, pc) {
    return `if (i${a}.next()) { r${b} = i${a}.key; r${b + 1} = i${a}.value; } else ${this.jump(pc, pc + 1 + c)}`;
  },
  EVENTVAR(a, b) {
    const name = EVENT_VARIABLES[b]!;
    const arg = argNumber(name);
    return arg === null ? `r${a} = rt.${EVENT_VARIABLE_READERS[name as Exclude<EventVariable, ArgVariable>]}();` : `r${a} = rt.eventArg(${arg});`;
  },
  BAND: bitwise('&', 'band'),
  BOR: bitwise('|', 'bor'),
  BXOR: bitwise('^', 'bxor'),
  SHL: callOps('shl'),
  SHR: callOps('shr'),
  USHR: callOps('ushr'),
  BNOT(a, b) { return `r${a} = ops.bnot(${this.rk(b)});`; },
  FIELD(a, b) { return `r${a} = rt.eventField(${this.constant(b)});`; },
  TUPLE(a, b) { return `r${a} = tuple(${this.callArguments(a, b)});`; },
  REGISTER(a, b, c, pc) {
    return `rt.register(${c}, ${this.constant(b)}, r${a}${this.registrationHints(pc, a)});`;
  },
};

/** A constant as JS source: exact integers (bigint with `n`) and strings through JSON. */
function constantLiteral(value: Constant): string {
  if (typeof value === 'number') return value < 0 ? `(${value})` : String(value);
  if (typeof value === 'bigint') return `(${value}n)`;
  return JSON.stringify(value);
}

/** A JS function name derived from a ktap function name (for readable JS stack traces). */
function jsIdentifier(name: string): string {
  return 'ktap_' + name.replace(/[^A-Za-z0-9_]/g, '_');
}
