// Bytecode listings (SPEC-product §5 `-b`, the REPL's `.bytecode`): one block per function,
// its sizes and tables, then one line per instruction, laid out like `luac -l`.

import { EVENT_VARIABLES, HANDLER_KINDS, OPCODES, INSTRUCTION_WIDTH, type OperandKind, type OpName } from './opcodes';
import { instructionCount, type Constant, type Proto } from './proto';
import { quoteBytes } from './quote';

/** A name (function, local, upvalue) as listings show it: escaped, unquoted. */
function showName(name: string): string {
  return quoteBytes(name, '"').slice(1, -1);
}

function showConstant(constant: Constant): string {
  return typeof constant === 'string' ? quoteBytes(constant, '"') : String(constant);
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/** What an 'N' operand of these opcodes names, for the comment column. */
const IMMEDIATE_NAMES: Partial<Record<OpName, readonly string[]>> = {
  LOADBOOL: ['false', 'true'],
  EVENTVAR: EVENT_VARIABLES,
  REGISTER: HANDLER_KINDS,
};

/** Operand text by kind; `_` operands are not shown. */
const OPERAND_PREFIX: Record<Exclude<OperandKind, 'RK' | 'J' | 'N' | '_'>, string> = {
  R: 'r', K: 'K', KS: 'K', U: 'U', C: 'C', I: 'I', P: 'F',
};

function showOperand(kind: OperandKind, value: number): string {
  switch (kind) {
    case 'RK': return value >= 0 ? `r${value}` : `K${-1 - value}`;
    case 'J': return value >= 0 ? `+${value}` : String(value);
    case 'N': return String(value);
    case '_': return '';
    default: return OPERAND_PREFIX[kind] + value;
  }
}

/** The comment an operand deserves, or '' when its text says it all. */
function commentFor(proto: Proto, pc: number, opName: string, kind: OperandKind, value: number): string {
  switch (kind) {
    case 'RK': return value < 0 ? showConstant(proto.constants[-1 - value]!) : '';
    case 'K': case 'KS': return showConstant(proto.constants[value]!);
    case 'U': return showName(proto.upvalues[value]!.name);
    case 'C': return cellName(proto, pc, value);
    case 'J': return `to ${pc + 1 + value}`;
    case 'P': return `function '${showName(proto.protos[value]!.name)}'`;
    case 'N': return IMMEDIATE_NAMES[opName as OpName]?.[value] ?? '';
    default: return '';
  }
}

/** The local living in cell `cell` at `pc` (cells are named only through the locals table). */
function cellName(proto: Proto, pc: number, cell: number): string {
  const local = proto.locals.find((info) => info.slot === -1 - cell && info.startPc <= pc && pc <= info.endPc);
  return local === undefined ? '' : showName(local.name);
}

function showSlot(slot: number): string {
  return slot >= 0 ? showOperand('R', slot) : showOperand('C', -1 - slot);
}

/** Longest opcode name, so the operand column lines up across all functions. */
const OPCODE_WIDTH = Math.max(...OPCODES.map((info) => info.name.length));
const OPERANDS_WIDTH = 14;

/** A titled table of labelled rows, labels aligned; nothing when it has no rows. */
function listTable(lines: string[], title: string, rows: ReadonlyArray<readonly [string, string]>): void {
  if (rows.length === 0) return;
  // A loop, not Math.max(...): a table constructor can give hundreds of thousands of rows.
  const width = rows.reduce((widest, [label]) => Math.max(widest, label.length), 0);
  lines.push(`${title} (${rows.length}):`);
  for (const [label, text] of rows) lines.push(`  ${label.padEnd(width)}  ${text}`);
}

function listFunction(proto: Proto, lines: string[]): void {
  const count = instructionCount(proto);
  lines.push(
    `function '${showName(proto.name)}' <${showName(proto.source)}:${proto.lineDefined},${proto.lastLine}> (${plural(count, 'instruction')})`,
    [
      plural(proto.numParams, 'param'), plural(proto.numRegisters, 'register'), plural(proto.numCells, 'cell'),
      plural(proto.numIterators, 'iterator'), plural(proto.upvalues.length, 'upvalue'),
      plural(proto.constants.length, 'constant'), plural(proto.protos.length, 'function'),
    ].join(', '),
  );
  listTable(lines, 'constants', proto.constants.map((constant, index) => [`K${index}`, showConstant(constant)]));
  listTable(lines, 'upvalues', proto.upvalues.map((upvalue, index) => {
    const origin = upvalue.from === 'session' ? `session ${upvalue.index}` : showOperand(upvalue.from === 'cell' ? 'C' : 'U', upvalue.index);
    return [`U${index}`, `${showName(upvalue.name)}  from ${origin}`];
  }));
  listTable(lines, 'locals', proto.locals.map((local) => [showSlot(local.slot), `${showName(local.name)}  pc ${local.startPc}..${local.endPc}`]));
  lines.push('code:');
  const pcWidth = String(count - 1).length;
  const lineWidth = proto.lines.reduce((widest, line) => Math.max(widest, String(line).length + 2), 0);
  for (let pc = 0; pc < count; pc++) {
    const at = pc * INSTRUCTION_WIDTH;
    const info = OPCODES[proto.code[at]!]!;
    const operands: string[] = [];
    const comments: string[] = [];
    info.operands.forEach((kind, position) => {
      const value = proto.code[at + 1 + position]!;
      const text = showOperand(kind, value);
      if (text !== '') operands.push(text);
      const comment = commentFor(proto, pc, info.name, kind, value);
      if (comment !== '') comments.push(comment);
    });
    const head = `  ${String(pc).padStart(pcWidth)}  ${`[${proto.lines[pc]}]`.padEnd(lineWidth)}  ${info.name.padEnd(OPCODE_WIDTH)}  `;
    const line = comments.length === 0
      ? head + operands.join(' ')
      : head + operands.join(' ').padEnd(OPERANDS_WIDTH) + '; ' + comments.join(', ');
    lines.push(line.trimEnd());
  }
}

/** The listing of `main` and, after each function, the functions nested in it. Expects a verified proto. */
export function disassemble(main: Proto): string {
  const lines: string[] = [];
  const visit = (proto: Proto): void => {
    if (lines.length > 0) lines.push('');
    listFunction(proto, lines);
    proto.protos.forEach(visit);
  };
  visit(main);
  return lines.join('\n') + '\n';
}
