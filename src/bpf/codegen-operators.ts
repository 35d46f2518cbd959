// eBPF for ktap's comparisons and shifts: the boolean of a comparison, equality with nil
// (both nil equal, one nil not), and shifts by any count as the VM shifts.

import { FP, type JmpName, type Label, type Reg } from './asm';
import type { Kind } from './analyze';
import { NIL_BITWISE, type Frame } from './codegen-frame';

/** R(A) = (R1 OP R2) as a boolean. */
export function condition(frame: Frame, a: number, op: JmpName): void {
  const { asm } = frame;
  const yes = asm.label();
  asm.movImm(3, 1);
  asm.jump(op, 1, 2, yes);
  asm.movImm(3, 0);
  asm.place(yes);
  asm.store('DW', FP, frame.value(a), 3);
  asm.storeImm('DW', FP, frame.present(a), 1);
}

export function equality(frame: Frame, kinds: readonly Kind[], a: number, b: number, c: number, negate: boolean): void {
  const { asm } = frame;
  const left = frame.kindOf(kinds, b);
  const right = frame.kindOf(kinds, c);
  const nilable = (kind: Kind) => kind === 'nil' || kind === 'maybe' || kind === 'unset';
  // Presence first: both nil are equal, one nil is not; then the values (a boolean and a
  // number never are equal: their kinds differ).
  const result: Reg = 3;
  const done = asm.label();
  const present = (reg: Reg, operand: number, kind: Kind): void => {
    if (operand < 0 || kind === 'int' || kind === 'bool') asm.movImm(reg, 1);
    else if (kind === 'maybe') asm.load('DW', reg, FP, frame.present(operand));
    else asm.movImm(reg, 0);
  };
  const sameFamily = (left === 'bool') === (right === 'bool');
  asm.movImm(result, 0);
  present(1, b, left);
  present(2, c, right);
  const bothPresent = asm.label();
  if (nilable(left) || nilable(right)) {
    asm.jump('jne', 1, 2, done); // one nil, one not: unequal
    asm.jumpImm('jne', 1, 0, bothPresent);
    asm.movImm(result, 1); // both nil
    asm.goto(done);
  }
  asm.place(bothPresent);
  if (sameFamily) {
    if (b < 0) asm.movImm(1, frame.input.analysis.proto.constants[-1 - b] as number | bigint);
    else asm.load('DW', 1, FP, frame.value(b));
    if (c < 0) asm.movImm(2, frame.input.analysis.proto.constants[-1 - c] as number | bigint);
    else asm.load('DW', 2, FP, frame.value(c));
    asm.jump('jne', 1, 2, done);
    asm.movImm(result, 1);
  }
  asm.place(done);
  if (negate) asm.aluImm('xor', result, 1);
  asm.store('DW', FP, frame.value(a), result);
  asm.storeImm('DW', FP, frame.present(a), 1);
}

/**
 * R(A) = RK(B) shifted by RK(C) bits as the VM shifts (docs/language.md): SHL left, SHR
 * right copying the sign, USHR right with zeros; a negative count shifts the other way
 * (SHL's the way of USHR), and 64 bits or more shift everything out.
 */
export function shift(frame: Frame, name: 'SHL' | 'SHR' | 'USHR', kinds: readonly Kind[], a: number, b: number, c: number): void {
  const { asm } = frame;
  const left = name === 'SHL';
  const sign = name === 'SHR';
  frame.loadInt(1, kinds, b, NIL_BITWISE);
  if (c < 0) {
    // A constant count: its direction and range are known now.
    let count = BigInt(frame.input.analysis.proto.constants[-1 - c] as number | bigint);
    const toLeft = count < 0n ? !left : left;
    if (count < 0n) count = -count;
    if (!toLeft && sign) asm.aluImm('arsh', 1, Number(count >= 63n ? 63n : count));
    else if (count >= 64n) asm.movImm(1, 0);
    else asm.aluImm(toLeft ? 'lsh' : 'rsh', 1, Number(count));
  } else {
    frame.loadInt(2, kinds, c, NIL_BITWISE);
    const negative = asm.label();
    const done = asm.label();
    asm.jumpImm('jslt', 2, 0, negative);
    shiftBy(frame, left, sign, done);
    asm.place(negative);
    asm.aluImm('neg', 2, 0); // -(-2^63) stays 2^63 unsigned: out of range, as in the VM
    shiftBy(frame, !left, sign, done);
    asm.place(done);
  }
  frame.setInt(a, 1);
}

/** R1 shifted by the count in R2 (unsigned), then to DONE: left, or right copying the sign (SIGN) or with zeros. */
function shiftBy(frame: Frame, left: boolean, sign: boolean, done: Label): void {
  const { asm } = frame;
  const inRange = asm.label();
  if (!left && sign) {
    // 63 bits or more leave only copies of the sign bit.
    asm.jumpImm('jlt', 2, 64, inRange);
    asm.movImm(2, 63);
    asm.place(inRange);
    asm.alu('arsh', 1, 2);
    asm.goto(done);
    return;
  }
  asm.jumpImm('jlt', 2, 64, inRange);
  asm.movImm(1, 0);
  asm.goto(done);
  asm.place(inRange);
  asm.alu(left ? 'lsh' : 'rsh', 1, 2);
  asm.goto(done);
}
