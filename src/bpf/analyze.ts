// Which handlers the kernel can run: walks a verified handler Proto with the kind of value
// each register holds at each instruction, and either refuses (naming the line and the first
// thing that keeps it in user space) or describes what the handler does with the globals.

import { EVENT_VARIABLES, INSTRUCTION_WIDTH, OPCODES, argNumber, type OpName } from '../vm/opcodes';
import type { Constant, Proto } from '../vm/proto';

/** A global (an upvalue of the handler) as the kernel tier sees it. */
export type GlobalBinding =
  | { readonly kind: 'table'; readonly id: number; readonly name: string }
  | { readonly kind: 'scalar'; readonly id: number; readonly name: string }
  | null;

/** Builtins a kernel-tier handler may call, with their argument count. */
export const KERNEL_BUILTINS: ReadonlyMap<string, number> = new Map([
  ['log2', 1],
  ['linear', 4],
  ['min', 2],
  ['max', 2],
  ['gettimeofday_s', 0],
  ['gettimeofday_ms', 0],
  ['gettimeofday_us', 0],
  ['gettimeofday_ns', 0],
  // Only as a key of a profile-N handler's table: an id in the kernel's stack map (see Analysis.kernelStackLine).
  ['stack', 0],
]);

/**
 * What a register holds: nil, an integer, an integer or nil (a table lookup), a boolean,
 * the task's comm (execname), the probe's name, the kernel stack (stack(): an id in the
 * stack map), a global table, a builtin, the tuple made by the TUPLE at a pc; `conflict`
 * when paths that meet disagree (fine unless it is read).
 */
export type Kind =
  | 'unset' | 'nil' | 'int' | 'maybe' | 'bool' | 'comm' | 'name' | 'kstack' | 'conflict'
  | `table:${number}` | `fn:${string}` | `tuple:${number}`;

/**
 * One value of a kernel table's key: a 64-bit integer, a boolean, a comm (16 bytes), a
 * probe-name index, or a kernel stack's id in the stack map (negative: no kernel stack).
 */
export type PartKind = 'int' | 'bool' | 'comm' | 'name' | 'kstack';

/** The key of a kernel table: one value, or a tuple of values (`t[pid, execname]`) laid out one after another. */
export type KeyKind = PartKind | { readonly tuple: readonly PartKind[] };

/** Bytes of a part in a map key (every part is 8-byte aligned). */
export const PART_BYTES: Readonly<Record<PartKind, number>> = { int: 8, bool: 8, comm: 16, name: 8, kstack: 8 };

/** Bytes of a map key laid out as KEY. */
export function keyBytes(key: KeyKind): number {
  return typeof key === 'string' ? PART_BYTES[key] : key.tuple.reduce((sum, part) => sum + PART_BYTES[part], 0);
}

export function sameKey(left: KeyKind, right: KeyKind): boolean {
  if (typeof left === 'string' || typeof right === 'string') return left === right;
  return left.tuple.length === right.tuple.length && left.tuple.every((part, index) => part === right.tuple[index]);
}

export interface TableUse {
  key: KeyKind | null;
  /** Written with `+=` only (a per-CPU map of sums), or also assigned and read (a shared map). */
  increments: boolean;
  assigns: boolean;
  reads: boolean;
  deletes: boolean;
}

export interface ScalarUse {
  increments: boolean;
  assigns: boolean;
  reads: boolean;
}

export interface Analysis {
  readonly proto: Proto;
  /** The handler's upvalues as globals of the kernel tier, by upvalue index. */
  readonly globals: readonly GlobalBinding[];
  /** Kinds of every register before each instruction (null: unreachable). */
  readonly kinds: ReadonlyArray<readonly Kind[] | null>;
  readonly tables: ReadonlyMap<number, TableUse>;
  readonly scalars: ReadonlyMap<number, ScalarUse>;
  /** argN the handler reads. */
  readonly args: ReadonlySet<number>;
  /** args.NAME the handler reads (integer fields of its events, checked when they are known). */
  readonly fields: ReadonlySet<string>;
  readonly usesProbename: boolean;
  /** The first line calling stack() (which only a profile-N sample's program can key by), or null. */
  readonly kernelStackLine: number | null;
  /** The parts of the tuple each TUPLE makes, by its pc (the program builds each in a stack area of its own). */
  readonly tuples: ReadonlyMap<number, readonly PartKind[]>;
}

/** Why a handler stays in user space: the ktap line and the first reason. */
export class NotForKernel extends Error {
  constructor(
    readonly line: number,
    readonly reason: string,
  ) {
    super(`line ${line}: ${reason}`);
    this.name = 'NotForKernel';
  }
}

const MAX_REGISTERS = 24;
/** The kernel's stack for one program (MAX_BPF_STACK). */
const STACK_BYTES = 512;

/**
 * Bytes of a program's frame: a value and a presence slot per register, the key and value
 * slots of map calls (16 each), and the stack area of each tuple.
 */
export function frameBytes(registers: number, tuples: Iterable<readonly PartKind[]>): number {
  let bytes = 16 * registers + 32;
  for (const parts of tuples) bytes += keyBytes({ tuple: parts });
  return bytes;
}

/** Analyses HANDLER; throws NotForKernel when something in it cannot run in the kernel. */
export function analyze(proto: Proto, globals: readonly GlobalBinding[]): Analysis {
  return new Analyzer(proto, globals).run();
}

class Analyzer {
  private readonly count: number;
  private readonly kinds: Array<Kind[] | null>;
  private readonly tables = new Map<number, TableUse>();
  private readonly scalars = new Map<number, ScalarUse>();
  private readonly args = new Set<number>();
  private readonly fields = new Set<string>();
  private readonly tuples = new Map<number, readonly PartKind[]>();
  private usesProbename = false;
  private kernelStackLine: number | null = null;
  private pc = 0;

  constructor(
    private readonly proto: Proto,
    private readonly globals: readonly GlobalBinding[],
  ) {
    this.count = proto.lines.length;
    this.kinds = new Array(this.count).fill(null);
  }

  private refuse(reason: string): never {
    throw new NotForKernel(this.proto.lines[this.pc] ?? this.proto.lineDefined, reason);
  }

  run(): Analysis {
    const proto = this.proto;
    this.pc = 0;
    if (proto.numParams > 0 || proto.numCells > 0 || proto.protos.length > 0) this.refuse('closures run in user space');
    if (proto.numRegisters > MAX_REGISTERS) this.refuse(`more than ${MAX_REGISTERS} registers do not fit the kernel's stack`);
    // Forward jumps only (loops stay in user space), so one pass in instruction order
    // sees every predecessor of an instruction before the instruction itself.
    this.kinds[0] = new Array<Kind>(proto.numRegisters).fill('unset');
    for (let pc = 0; pc < this.count; pc++) {
      const state = this.kinds[pc];
      if (state === null || state === undefined) continue;
      this.pc = pc;
      this.step(pc, [...state]);
    }
    if (frameBytes(proto.numRegisters, this.tuples.values()) > STACK_BYTES) {
      this.pc = [...this.tuples.keys()].pop()!;
      this.refuse(`the handler's registers and tuple keys do not fit the kernel's stack of ${STACK_BYTES} bytes`);
    }
    return {
      proto, globals: this.globals, kinds: this.kinds, tables: this.tables, scalars: this.scalars, args: this.args, fields: this.fields,
      usesProbename: this.usesProbename, kernelStackLine: this.kernelStackLine, tuples: this.tuples,
    };
  }

  private flow(target: number, state: readonly Kind[]): void {
    if (target <= this.pc) this.refuse('loops run in user space');
    const existing = this.kinds[target];
    if (existing === null || existing === undefined) {
      this.kinds[target] = [...state];
      return;
    }
    for (let register = 0; register < state.length; register++) existing[register] = join(existing[register]!, state[register]!);
  }

  private constant(index: number): Constant {
    return this.proto.constants[index]!;
  }

  /** The kind of an RK operand. */
  private rk(state: readonly Kind[], operand: number): Kind {
    if (operand >= 0) return state[operand]!;
    const value = this.constant(-1 - operand);
    if (typeof value === 'string') this.refuse(`the string "${value}" runs in user space`);
    return 'int';
  }

  private readInt(state: readonly Kind[], operand: number, what: string): Kind {
    const kind = this.rk(state, operand);
    if (kind === 'int' || kind === 'maybe') return kind;
    this.refuse(`${what} of ${describe(kind)} runs in user space`);
  }

  private tableOf(kind: Kind): number {
    if (!kind.startsWith('table:')) this.refuse(`indexing ${describe(kind)} runs in user space`);
    return Number(kind.slice('table:'.length));
  }

  private keyOf(id: number, kind: Kind): void {
    const key: KeyKind | null = kind.startsWith('tuple:') ? { tuple: this.tuples.get(Number(kind.slice('tuple:'.length)))! } : partKind(kind);
    if (key === null) this.refuse(`a key of ${describe(kind)} runs in user space`);
    const use = this.tableUse(id);
    if (use.key !== null && !sameKey(use.key, key)) this.refuse(`table ${this.globalName(id)} has keys of two kinds`);
    use.key = key;
  }

  private tableUse(id: number): TableUse {
    let use = this.tables.get(id);
    if (use === undefined) this.tables.set(id, (use = { key: null, increments: false, assigns: false, reads: false, deletes: false }));
    return use;
  }

  private scalarUse(id: number): ScalarUse {
    let use = this.scalars.get(id);
    if (use === undefined) this.scalars.set(id, (use = { increments: false, assigns: false, reads: false }));
    return use;
  }

  private globalName(id: number): string {
    return this.globals.find((binding) => binding?.id === id)?.name ?? `#${id}`;
  }

  private scalar(upvalue: number): number {
    const binding = this.globals[upvalue];
    if (binding === null || binding === undefined) this.refuse(`${this.proto.upvalues[upvalue]?.name ?? 'an upvalue'} runs in user space`);
    if (binding.kind !== 'scalar') this.refuse(`assigning the table ${binding.name} runs in user space`);
    return binding.id;
  }

  private step(pc: number, state: Kind[]): void {
    const code = this.proto.code;
    const base = pc * INSTRUCTION_WIDTH;
    const name = OPCODES[code[base]!]!.name as OpName;
    const a = code[base + 1]!;
    const b = code[base + 2]!;
    const c = code[base + 3]!;
    let next = true;
    switch (name) {
      case 'MOVE':
        state[a] = state[b]!;
        break;
      case 'LOADK':
        if (typeof this.constant(b) === 'string') this.refuse(`the string "${String(this.constant(b))}" runs in user space`);
        state[a] = 'int';
        break;
      case 'LOADNIL':
        state[a] = 'nil';
        break;
      case 'LOADBOOL':
        state[a] = 'bool';
        break;
      case 'GETUPVAL': {
        const binding = this.globals[b];
        if (binding === null || binding === undefined) this.refuse(`${this.proto.upvalues[b]?.name ?? 'an upvalue'} runs in user space`);
        if (binding.kind === 'table') state[a] = `table:${binding.id}`;
        else {
          this.scalarUse(binding.id).reads = true;
          state[a] = 'maybe';
        }
        break;
      }
      case 'SETUPVAL': {
        const kind = this.rk(state, b);
        if (kind !== 'int' && kind !== 'nil' && kind !== 'maybe') this.refuse(`storing ${describe(kind)} in a global runs in user space`);
        this.scalarUse(this.scalar(a)).assigns = true;
        break;
      }
      case 'INCRUPVAL':
        if (this.rk(state, b) !== 'int') this.refuse(`'+=' of ${describe(this.rk(state, b))} runs in user space`);
        this.scalarUse(this.scalar(a)).increments = true;
        break;
      case 'GETGLOBAL': {
        const global = this.constant(b) as string;
        if (!KERNEL_BUILTINS.has(global)) this.refuse(`${global} runs in user space`);
        state[a] = `fn:${global}`;
        break;
      }
      case 'GETTABLE': {
        const id = this.tableOf(state[b]!);
        this.keyOf(id, this.rk(state, c));
        this.tableUse(id).reads = true;
        state[a] = 'maybe';
        break;
      }
      case 'SETTABLE': {
        const id = this.tableOf(state[a]!);
        this.keyOf(id, this.rk(state, b));
        const value = this.rk(state, c);
        if (value === 'nil') this.tableUse(id).deletes = true;
        else if (value === 'int' || value === 'maybe') {
          this.tableUse(id).assigns = true;
          if (value === 'maybe') this.tableUse(id).deletes = true;
        } else this.refuse(`storing ${describe(value)} in a table runs in user space`);
        break;
      }
      case 'INCRTABLE': {
        const id = this.tableOf(state[a]!);
        this.keyOf(id, this.rk(state, b));
        if (this.rk(state, c) !== 'int') this.refuse(`'+=' of ${describe(this.rk(state, c))} runs in user space`);
        this.tableUse(id).increments = true;
        break;
      }
      case 'ADD': case 'SUB': case 'MUL': case 'DIV': case 'MOD':
        this.readInt(state, b, 'arithmetic');
        this.readInt(state, c, 'arithmetic');
        state[a] = 'int';
        break;
      case 'UNM':
        this.readInt(state, b, 'arithmetic');
        state[a] = 'int';
        break;
      case 'BAND': case 'BOR': case 'BXOR': case 'SHL': case 'SHR': case 'USHR':
        this.readInt(state, b, 'a bitwise operation');
        this.readInt(state, c, 'a bitwise operation');
        state[a] = 'int';
        break;
      case 'BNOT':
        this.readInt(state, b, 'a bitwise operation');
        state[a] = 'int';
        break;
      case 'TUPLE': {
        const parts = Array.from({ length: b }, (_, index) => {
          const kind = state[a + 1 + index]!;
          return partKind(kind) ?? this.refuse(`a tuple holding ${describe(kind)} runs in user space`);
        });
        this.tuples.set(pc, parts);
        state[a] = `tuple:${pc}`;
        break;
      }
      case 'LT': case 'LE':
        this.readInt(state, b, 'comparison');
        this.readInt(state, c, 'comparison');
        state[a] = 'bool';
        break;
      case 'EQ': case 'NE': {
        const left = this.rk(state, b);
        const right = this.rk(state, c);
        if (!comparable(left) || !comparable(right)) this.refuse(`comparing ${describe(left)} with ${describe(right)} runs in user space`);
        state[a] = 'bool';
        break;
      }
      case 'NOT':
        if (!testable(this.rk(state, b))) this.refuse(`'!' of ${describe(this.rk(state, b))} runs in user space`);
        state[a] = 'bool';
        break;
      case 'INCR':
        this.readInt(state, a, "'+='");
        if (this.rk(state, b) !== 'int') this.refuse(`'+=' of ${describe(this.rk(state, b))} runs in user space`);
        state[a] = 'int';
        break;
      case 'JMP':
        this.flow(pc + 1 + a, state);
        next = false;
        break;
      case 'JMPT': case 'JMPF':
        if (!testable(state[a]!)) this.refuse(`testing ${describe(state[a]!)} runs in user space`);
        this.flow(pc + 1 + b, state);
        break;
      case 'CALL': {
        const callee = state[a]!;
        if (!callee.startsWith('fn:')) this.refuse(`calling ${describe(callee)} runs in user space`);
        const builtin = callee.slice(3);
        if (KERNEL_BUILTINS.get(builtin) !== b) this.refuse(`${builtin} with ${b} argument${b === 1 ? '' : 's'} runs in user space`);
        if (builtin === 'stack') {
          this.kernelStackLine ??= this.proto.lines[pc]!;
          state[a] = 'kstack';
          break;
        }
        const kinds = Array.from({ length: b }, (_, index) => this.readInt(state, a + 1 + index, `${builtin}()`));
        // linear's range is checked where it is used: never nil there.
        if (builtin === 'linear' && kinds.slice(1).some((kind) => kind !== 'int')) this.refuse('linear() with a range that may be nil runs in user space');
        // min and max skip a nil argument, so their result is nil only when both are.
        state[a] = (builtin === 'min' || builtin === 'max') && kinds.every((kind) => kind === 'maybe') ? 'maybe' : 'int';
        break;
      }
      case 'RETURN': case 'RETNIL':
        next = false;
        break;
      case 'FIELD':
        this.fields.add(this.constant(b) as string);
        state[a] = 'int'; // the plan keeps handlers whose events lack the field, or have it as a string, in user space
        break;
      case 'EVENTVAR': {
        const variable = EVENT_VARIABLES[b]!;
        if (variable === 'argstr') this.refuse('argstr runs in user space');
        if (variable === 'execname') state[a] = 'comm';
        else if (variable === 'probename') {
          state[a] = 'name';
          this.usesProbename = true;
        } else {
          const arg = argNumber(variable);
          if (arg !== null) this.args.add(arg);
          state[a] = 'int';
        }
        break;
      }
      default:
        this.refuse(`${describeOp(name)} runs in user space`);
    }
    if (next && pc + 1 < this.count) this.flow(pc + 1, state);
  }
}

/** The part of a key a register of KIND gives, or null when it cannot be one. */
function partKind(kind: Kind): PartKind | null {
  return kind === 'int' || kind === 'bool' || kind === 'comm' || kind === 'name' || kind === 'kstack' ? kind : null;
}

function join(left: Kind, right: Kind): Kind {
  if (left === right || right === 'unset') return left;
  if (left === 'unset') return right;
  const numeric = new Set<Kind>([left, right]);
  if ([...numeric].every((kind) => kind === 'int' || kind === 'nil' || kind === 'maybe')) return 'maybe';
  return 'conflict';
}

function comparable(kind: Kind): boolean {
  return kind === 'int' || kind === 'nil' || kind === 'maybe' || kind === 'bool';
}

function testable(kind: Kind): boolean {
  return kind === 'int' || kind === 'nil' || kind === 'maybe' || kind === 'bool';
}

function describe(kind: Kind): string {
  if (kind === 'comm') return 'execname';
  if (kind === 'name') return 'probename';
  if (kind === 'kstack') return 'stack()';
  if (kind.startsWith('table:')) return 'a table';
  if (kind.startsWith('fn:')) return kind.slice(3);
  if (kind.startsWith('tuple:')) return 'a tuple';
  if (kind === 'maybe') return 'a number or nil';
  if (kind === 'int') return 'a number';
  if (kind === 'conflict') return 'a value of several types';
  return kind === 'unset' ? 'nil' : `a ${kind}`;
}

function describeOp(name: OpName): string {
  switch (name) {
    case 'CONCAT': return "'..'";
    case 'NEWTABLE': return 'creating a table';
    case 'CLOSURE': return 'a function';
    case 'TAILCALL': return 'a call';
    case 'FORPREP': case 'FORLOOP': return 'a for loop';
    case 'ITERPREP': case 'ITERNEXT': return 'iterating a table';
    default: return name.toLowerCase();
  }
}

/**
 * The upvalues a handler that stays in user space may write (tables it stores into, scalars
 * it assigns); `all` when it calls a script function, which could write any of them.
 */
export function upvaluesWritten(proto: Proto): Set<number> | 'all' {
  const written = new Set<number>();
  const upvalueIn = new Map<number, number>();
  for (let pc = 0; pc < proto.lines.length; pc++) {
    const base = pc * INSTRUCTION_WIDTH;
    const name = OPCODES[proto.code[base]!]!.name as OpName;
    const a = proto.code[base + 1]!;
    switch (name) {
      case 'GETUPVAL':
        upvalueIn.set(a, proto.code[base + 2]!);
        continue;
      case 'SETUPVAL': case 'INCRUPVAL':
        written.add(a);
        continue;
      case 'SETTABLE': case 'INCRTABLE': {
        const upvalue = upvalueIn.get(a);
        if (upvalue === undefined) return 'all';
        written.add(upvalue);
        continue;
      }
      case 'CALL': case 'TAILCALL':
        if (upvalueIn.has(a)) return 'all';
        break;
      default:
        break;
    }
    // Any other instruction writing register A makes it something else.
    if (OPCODES[proto.code[base]!]!.operands[0] === 'R') upvalueIn.delete(a);
  }
  return written;
}
