// eBPF for the handler's kernel maps: table keys (a single part, or a tuple built in its own
// stack area), reading, writing, deleting and adding to table entries, and the scalars
// (globals kept in a one-entry map of {value, set}).

import { FP, Helper } from './asm';
import { PART_BYTES, keyBytes, type Kind, type KeyKind, type PartKind } from './analyze';
import { emitHotIncrement } from './hot-keys';
import type { MapBinding, TableBinding } from './codegen-input';
import { CTX, EEXIST, TABLE_FULL, type Frame } from './codegen-frame';

/**
 * The map key of a table laid out as KEY from an RK operand: a tuple's is in its stack
 * area already, another is written at the key slot. Returns the key's offset from FP.
 */
function buildKey(frame: Frame, key: KeyKind, kinds: readonly Kind[], operand: number): number {
  const kind = frame.kindOf(kinds, operand);
  if (kind.startsWith('tuple:')) return frame.tupleOffsets.get(Number(kind.slice('tuple:'.length)))!;
  storePart(frame, key as PartKind, kinds, operand, frame.keyOffset);
  return frame.keyOffset;
}

/** Writes the key part PART that an RK operand holds at FP+OFFSET. */
function storePart(frame: Frame, part: PartKind, kinds: readonly Kind[], operand: number, offset: number): void {
  const { asm } = frame;
  switch (part) {
    case 'comm':
      asm.storeImm('DW', FP, offset, 0);
      asm.storeImm('DW', FP, offset + 8, 0);
      frame.keyPointer(1, offset);
      asm.movImm(2, 16);
      asm.call(Helper.getCurrentComm);
      return;
    case 'name':
      asm.mov(1, CTX);
      asm.call(Helper.getAttachCookie);
      asm.store('DW', FP, offset, 0);
      return;
    case 'int': case 'bool': case 'kstack': // a boolean's value slot holds 0 or 1, a stack's its id
      frame.loadInt(1, kinds, operand);
      asm.store('DW', FP, offset, 1);
  }
}

/** TUPLE: the key of its parts, built now in its own area (the parts' registers may be reused before the key is). */
export function tuple(frame: Frame, pc: number, kinds: readonly Kind[], a: number): void {
  let offset = frame.tupleOffsets.get(pc)!;
  frame.input.analysis.tuples.get(pc)!.forEach((part, index) => {
    storePart(frame, part, kinds, a + 1 + index, offset);
    offset += PART_BYTES[part];
  });
}

function table(frame: Frame, kinds: readonly Kind[], register: number): TableBinding {
  const id = Number(kinds[register]!.slice('table:'.length));
  return frame.input.tables.get(id)!;
}

/** The global id of upvalue U (the analysis bound globals by upvalue index). */
function upvalueId(frame: Frame, upvalue: number): number {
  return frame.input.analysis.globals[upvalue]?.id ?? -1;
}

/** R0 = the scalar's map value {value, set}, never null past this point. */
function scalarValue(frame: Frame, binding: MapBinding): void {
  const { asm } = frame;
  asm.storeImm('W', FP, frame.keyOffset, 0);
  asm.mapLookup(binding.fd, frame.keyOffset);
  asm.jumpImm('jeq', 0, 0, frame.exitLabel);
}

/** GETUPVAL: R(A) = the scalar global of upvalue B (a table's register is only a name for it: no code). */
export function getUpvalue(frame: Frame, a: number, b: number): void {
  const { asm } = frame;
  const scalar = frame.input.scalars.get(upvalueId(frame, b));
  if (scalar === undefined) return;
  scalarValue(frame, scalar);
  asm.load('DW', 1, 0, 0);
  asm.store('DW', FP, frame.value(a), 1);
  asm.load('DW', 1, 0, 8);
  asm.store('DW', FP, frame.present(a), 1);
}

/** SETUPVAL / INCRUPVAL: the scalar global of upvalue A = RK(B), or += RK(B). */
export function setUpvalue(frame: Frame, kinds: readonly Kind[], a: number, b: number, increment: boolean): void {
  const { asm } = frame;
  const binding = frame.input.scalars.get(upvalueId(frame, a))!;
  const kind = frame.kindOf(kinds, b);
  if (kind !== 'nil') frame.loadInt(7, kinds, b);
  scalarValue(frame, binding);
  if (increment) {
    if (binding.percpu) {
      asm.load('DW', 1, 0, 0);
      asm.alu('add', 1, 7);
      asm.store('DW', 0, 0, 1);
    } else asm.atomicAdd(0, 0, 7);
    asm.storeImm('DW', 0, 8, 1);
  } else if (kind === 'nil') {
    asm.storeImm('DW', 0, 0, 0);
    asm.storeImm('DW', 0, 8, 0);
  } else {
    asm.store('DW', 0, 0, 7);
    asm.storeImm('DW', 0, 8, 1);
  }
}

/** GETTABLE: R(A) = R(B)[RK(C)], nil when the entry is missing. */
export function getTable(frame: Frame, kinds: readonly Kind[], a: number, b: number, c: number): void {
  const { asm } = frame;
  const binding = table(frame, kinds, b);
  asm.mapLookup(binding.fd, buildKey(frame, binding.key, kinds, c));
  const missing = asm.label();
  const done = asm.label();
  asm.jumpImm('jeq', 0, 0, missing);
  asm.load('DW', 1, 0, 0);
  frame.setInt(a, 1);
  asm.goto(done);
  asm.place(missing);
  frame.setNil(a);
  asm.place(done);
}

/** SETTABLE: R(A)[RK(B)] = RK(C); nil deletes the entry. */
export function setTable(frame: Frame, kinds: readonly Kind[], a: number, b: number, c: number): void {
  const { asm } = frame;
  const binding = table(frame, kinds, a);
  const kind = frame.kindOf(kinds, c);
  const remove = asm.label();
  const done = asm.label();
  if (kind === 'maybe') {
    asm.load('DW', 1, FP, frame.present(c));
    asm.jumpImm('jeq', 1, 0, remove);
  }
  if (kind !== 'nil') {
    frame.loadInt(7, kinds, c);
    const key = buildKey(frame, binding.key, kinds, b);
    asm.store('DW', FP, frame.valueOffset, 7);
    asm.mapUpdate(binding.fd, key, frame.valueOffset, 0);
    asm.jumpImm('jne', 0, 0, frame.fail(TABLE_FULL));
    if (kind !== 'maybe') return; // no nil to delete: the verifier refuses dead code
    asm.goto(done);
  }
  asm.place(remove);
  const key = buildKey(frame, binding.key, kinds, b);
  asm.loadMap(1, binding.fd);
  frame.keyPointer(2, key);
  asm.call(Helper.mapDeleteElem);
  asm.place(done);
}

/**
 * INCRTABLE, t[k] += e: in the key's hot slot when the table has them (hot-keys.ts), else an
 * existing entry is added to in place, a new one inserted (or found again after a race).
 */
export function incrementTable(frame: Frame, kinds: readonly Kind[], a: number, key: number, delta: number): void {
  const { asm } = frame;
  const binding = table(frame, kinds, a);
  frame.loadInt(7, kinds, delta);
  const keyOffset = buildKey(frame, binding.key, kinds, key);
  const insert = asm.label();
  const added = asm.label();
  if (binding.hotFd !== undefined) {
    emitHotIncrement(asm, {
      hotFd: binding.hotFd, tableFd: binding.fd, key: keyOffset, keySize: keyBytes(binding.key), delta: 7,
      scratch: frame.valueOffset, done: added, full: frame.fail(TABLE_FULL),
    });
  }
  const lookup = (): void => {
    asm.mapLookup(binding.fd, keyOffset);
  };
  const add = (): void => {
    if (binding.percpu) {
      asm.load('DW', 1, 0, 0);
      asm.alu('add', 1, 7);
      asm.store('DW', 0, 0, 1);
    } else asm.atomicAdd(0, 0, 7);
  };
  lookup();
  asm.jumpImm('jeq', 0, 0, insert);
  add();
  asm.goto(added);
  asm.place(insert);
  asm.store('DW', FP, frame.valueOffset, 7);
  asm.mapUpdate(binding.fd, keyOffset, frame.valueOffset, 1); // BPF_NOEXIST: another CPU may have inserted it meanwhile
  asm.jumpImm('jeq', 0, 0, added);
  asm.jumpImm('jne', 0, -EEXIST, frame.fail(TABLE_FULL));
  lookup();
  asm.jumpImm('jeq', 0, 0, added);
  add();
  asm.place(added);
}
