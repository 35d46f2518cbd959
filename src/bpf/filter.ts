// A handler's /filter/ (SPEC §4.8: the kernel's event filter syntax) compiled into its
// eBPF program, so filtered-out events cost one check at the probe. Only what this module
// can give exactly the kernel's meaning is compiled: integer fields compared with integers
// (`== != < <= > >= &`, signed or not as the field is), fixed-size char fields and the
// task's comm compared with strings without wildcards (`==`, `!=`), `common_pid`, `CPU`,
// and `&&`, `||`, `!`, parentheses. Anything else keeps the handler in the tracefs path,
// where the kernel reads the filter (and words its errors).

import { FP, type Assembler, type JmpName, type Label, type Reg, Helper } from './asm';
import type { FieldLayout } from '../probes/format';

export type FilterNode =
  | { readonly op: 'and' | 'or'; readonly left: FilterNode; readonly right: FilterNode }
  | { readonly op: 'not'; readonly operand: FilterNode }
  | { readonly op: 'compare'; readonly field: string; readonly compare: Comparison; readonly value: bigint }
  | { readonly op: 'string'; readonly field: string; readonly equal: boolean; readonly value: string };

type Comparison = '==' | '!=' | '<' | '<=' | '>' | '>=' | '&';

/** Why a filter is left to the kernel's own filter (the tracefs path). */
export class FilterNotCompiled extends Error {
  override name = 'FilterNotCompiled';
}

/** Fields every event's filter may name (kernel 6.x): the thread, the CPU, the task's comm. */
const PID_FIELDS = new Set(['common_pid']);
const CPU_FIELDS = new Set(['CPU', 'cpu', 'common_cpu']);
const COMM_FIELDS = new Set(['COMM', 'comm']);
const COMM_BYTES = 16;

/** Parses FILTER; throws FilterNotCompiled for what this module does not compile. */
export function parseFilter(filter: string): FilterNode {
  const tokens = tokenize(filter);
  let at = 0;
  const peek = (): string | undefined => tokens[at];
  const expect = (token: string): void => {
    if (tokens[at] !== token) throw new FilterNotCompiled(`the filter '${filter}' is read by the kernel`);
    at++;
  };
  const or = (): FilterNode => {
    let left = and();
    while (peek() === '||') {
      at++;
      left = { op: 'or', left, right: and() };
    }
    return left;
  };
  const and = (): FilterNode => {
    let left = unary();
    while (peek() === '&&') {
      at++;
      left = { op: 'and', left, right: unary() };
    }
    return left;
  };
  const unary = (): FilterNode => {
    if (peek() === '!') {
      at++;
      return { op: 'not', operand: unary() };
    }
    if (peek() === '(') {
      at++;
      const inner = or();
      expect(')');
      return inner;
    }
    return predicate();
  };
  const predicate = (): FilterNode => {
    const field = tokens[at++] ?? '';
    const compare = tokens[at++] ?? '';
    const value = tokens[at++] ?? '';
    if (!/^[A-Za-z_]\w*$/.test(field)) throw new FilterNotCompiled(`the filter '${filter}' is read by the kernel`);
    if (value.startsWith('"')) {
      const text = value.slice(1, -1);
      if ((compare !== '==' && compare !== '!=') || /[*?[\]\\]/.test(text)) {
        throw new FilterNotCompiled(`'${field} ${compare} ${value}' is matched by the kernel's filter`);
      }
      return { op: 'string', field, equal: compare === '==', value: text };
    }
    if (!['==', '!=', '<', '<=', '>', '>=', '&'].includes(compare) || !/^-?(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*)$/.test(value)) {
      throw new FilterNotCompiled(`'${field} ${compare} ${value}' is read by the kernel's filter`);
    }
    const negative = value.startsWith('-');
    const digits = negative ? value.slice(1) : value;
    // Base 0 as the kernel's kstrtoull reads it: 0x hex, a leading 0 octal.
    const magnitude = /^0[0-7]+$/.test(digits) ? BigInt(`0o${digits.slice(1)}`) : BigInt(digits);
    return { op: 'compare', field, compare: compare as Comparison, value: negative ? -magnitude : magnitude };
  };
  const tree = or();
  if (at !== tokens.length) throw new FilterNotCompiled(`the filter '${filter}' is read by the kernel`);
  return tree;
}

function tokenize(filter: string): string[] {
  const tokens: string[] = [];
  const pattern = /\s*(?:("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(&&|\|\||==|!=|<=|>=|[<>&!()~])|([^\s()&|!=<>~"']+))/y;
  let at = 0;
  while (at < filter.length) {
    if (/^\s*$/.test(filter.slice(at))) break;
    pattern.lastIndex = at;
    const match = pattern.exec(filter);
    if (match === null) throw new FilterNotCompiled(`the filter '${filter}' is read by the kernel`);
    const quoted = match[1];
    tokens.push(quoted !== undefined ? `"${quoted.slice(1, -1)}"` : (match[2] ?? match[3])!);
    at = pattern.lastIndex;
  }
  return tokens;
}

/** The fields FILTER names. */
export function filterFieldNames(node: FilterNode): string[] {
  switch (node.op) {
    case 'and': case 'or': return [...filterFieldNames(node.left), ...filterFieldNames(node.right)];
    case 'not': return filterFieldNames(node.operand);
    default: return [node.field];
  }
}

/** Where a filter's fields are read: a tracepoint record's fields, or the raw sys_enter/sys_exit context. */
export type FilterFields =
  | { readonly kind: 'record'; readonly fields: readonly FieldLayout[] }
  | { readonly kind: 'rawSysEnter' | 'rawSysExit' };

/** How a named field is read, or undefined when this module cannot read it for these events. */
type FieldSource =
  | { readonly kind: 'int'; readonly size: 1 | 2 | 4 | 8; readonly signed: boolean; read: (asm: Assembler, reg: Reg, context: Reg) => void }
  | { readonly kind: 'chars'; readonly size: number; byteAt: (asm: Assembler, reg: Reg, context: Reg, index: number) => void };

function sourceOf(name: string, fields: FilterFields): FieldSource | undefined {
  // An event's own field comes first, as the kernel looks it up.
  if (fields.kind === 'record') {
    const field = fields.fields.find((candidate) => candidate.name === name);
    if (field !== undefined) {
      // The first 8 bytes (the common fields) are not readable by a tracepoint program.
      if (field.offset < 8) return undefined;
      if (field.kind === 'chars' && !field.type.endsWith('[]')) {
        return { kind: 'chars', size: field.size, byteAt: (asm, reg, context, index) => asm.load('B', reg, context, field.offset + index) };
      }
      if (field.kind !== 'int' || ![1, 2, 4, 8].includes(field.size)) return undefined;
      const size = field.size as 1 | 2 | 4 | 8;
      return { kind: 'int', size, signed: field.signed, read: (asm, reg, context) => loadInt(asm, reg, context, field.offset, size, field.signed) };
    }
  } else if (name === '__syscall_nr' && fields.kind === 'rawSysEnter') {
    return { kind: 'int', size: 4, signed: true, read: (asm, reg, context) => loadInt(asm, reg, context, 8, 4, true) };
  } else if (name === 'ret' && fields.kind === 'rawSysExit') {
    return { kind: 'int', size: 8, signed: true, read: (asm, reg, context) => asm.load('DW', reg, context, 8) };
  }
  if (PID_FIELDS.has(name)) {
    return {
      kind: 'int', size: 4, signed: true, read: (asm, reg) => {
        asm.call(Helper.getCurrentPidTgid);
        signExtend(asm, 0, 4);
        asm.mov(reg, 0);
      },
    };
  }
  if (CPU_FIELDS.has(name)) {
    return {
      kind: 'int', size: 4, signed: true, read: (asm, reg) => {
        asm.call(Helper.getSmpProcessorId);
        asm.mov(reg, 0);
      },
    };
  }
  if (COMM_FIELDS.has(name)) {
    return {
      kind: 'chars', size: COMM_BYTES, byteAt: (asm, reg, _context, index) => {
        if (index === 0) {
          // The task's comm at FP-16 (slots the handler initialises only after its filter).
          asm.mov(1, FP);
          asm.aluImm('add', 1, -COMM_BYTES);
          asm.movImm(2, COMM_BYTES);
          asm.call(Helper.getCurrentComm);
        }
        asm.load('B', reg, FP, -COMM_BYTES + index);
      },
    };
  }
  return undefined;
}

function loadInt(asm: Assembler, reg: Reg, context: Reg, offset: number, size: 1 | 2 | 4 | 8, signed: boolean): void {
  asm.load(({ 1: 'B', 2: 'H', 4: 'W', 8: 'DW' } as const)[size], reg, context, offset);
  if (signed) signExtend(asm, reg, size);
}

function signExtend(asm: Assembler, reg: Reg, size: 1 | 2 | 4 | 8): void {
  if (size === 8) return;
  const shift = 64 - size * 8;
  asm.aluImm('lsh', reg, shift);
  asm.aluImm('arsh', reg, shift);
}

/**
 * Checks that every field FILTER names can be read for events with FIELDS, and that the
 * values fit them (the kernel truncates a value to its field; this module does not try).
 * Returns the reason it cannot, or null.
 */
export function filterProblem(node: FilterNode, fields: FilterFields): string | null {
  switch (node.op) {
    case 'and': case 'or': return filterProblem(node.left, fields) ?? filterProblem(node.right, fields);
    case 'not': return filterProblem(node.operand, fields);
    default: break;
  }
  const source = sourceOf(node.field, fields);
  if (source === undefined) return `the filter's field ${node.field} is read by the kernel's filter`;
  if (node.op === 'string') {
    if (source.kind !== 'chars') return `the filter compares ${node.field} with a string`;
    if (Buffer.byteLength(node.value) >= source.size) return `the filter's string "${node.value}" is as long as ${node.field}`;
    return null;
  }
  if (source.kind !== 'int') return `the filter compares ${node.field} with a number`;
  const bits = BigInt(source.size * 8);
  const [low, high] = source.signed ? [-(1n << (bits - 1n)), (1n << (bits - 1n)) - 1n] : [0n, (1n << bits) - 1n];
  if (node.value < low || node.value > high) return `the filter's value ${node.value} does not fit ${node.field}`;
  return null;
}

/** Emits FILTER: jumps to SKIP when the event does not pass. Clobbers R0–R5. */
export function emitFilter(asm: Assembler, node: FilterNode, fields: FilterFields, context: Reg, skip: Label): void {
  jumpIf(asm, node, false, skip, fields, context);
}

const NEGATED: Record<Exclude<Comparison, '&'>, Exclude<Comparison, '&'>> = { '==': '!=', '!=': '==', '<': '>=', '<=': '>', '>': '<=', '>=': '<' };

/** Jumps to TARGET when NODE's truth is SENSE; falls through otherwise. */
function jumpIf(asm: Assembler, node: FilterNode, sense: boolean, target: Label, fields: FilterFields, context: Reg): void {
  switch (node.op) {
    case 'not':
      jumpIf(asm, node.operand, !sense, target, fields, context);
      return;
    case 'and': case 'or': {
      // (a && b) is true / (a || b) is false only when both sides are; otherwise the first side decides.
      if ((node.op === 'and') === sense) {
        const past = asm.label();
        jumpIf(asm, node.left, !sense, past, fields, context);
        jumpIf(asm, node.right, sense, target, fields, context);
        asm.place(past);
      } else {
        jumpIf(asm, node.left, sense, target, fields, context);
        jumpIf(asm, node.right, sense, target, fields, context);
      }
      return;
    }
    case 'string': {
      const source = sourceOf(node.field, fields) as Extract<FieldSource, { kind: 'chars' }>;
      const bytes = [...Buffer.from(node.value), 0];
      // Equal when every byte up to the string's NUL is.
      const matches = node.equal === sense;
      const differ = matches ? asm.label() : target;
      bytes.forEach((byte, index) => {
        source.byteAt(asm, 1, context, index);
        asm.jumpImm('jne', 1, byte, differ);
      });
      if (matches) {
        asm.goto(target);
        asm.place(differ);
      }
      return;
    }
    case 'compare': {
      const source = sourceOf(node.field, fields) as Extract<FieldSource, { kind: 'int' }>;
      source.read(asm, 1, context);
      asm.movImm(2, node.value);
      if (node.compare === '&') {
        if (sense) asm.jump('jset', 1, 2, target);
        else {
          const set = asm.label();
          asm.jump('jset', 1, 2, set);
          asm.goto(target);
          asm.place(set);
        }
        return;
      }
      const compare = sense ? node.compare : NEGATED[node.compare];
      asm.jump(jumpOf(compare, source.signed), 1, 2, target);
      return;
    }
  }
}

function jumpOf(compare: Exclude<Comparison, '&'>, signed: boolean): JmpName {
  switch (compare) {
    case '==': return 'jeq';
    case '!=': return 'jne';
    case '<': return signed ? 'jslt' : 'jlt';
    case '<=': return signed ? 'jsle' : 'jle';
    case '>': return signed ? 'jsgt' : 'jgt';
    case '>=': return signed ? 'jsge' : 'jge';
  }
}
