// eBPF assembler: instructions as 8-byte slots, labels resolved at the end (jump offsets
// count slots; ld_imm64 takes two), and the ktap source line of every instruction kept.

// Instruction classes, sizes, modes and operations (linux/bpf_common.h, linux/bpf.h).
const LD = 0x00, LDX = 0x01, ST = 0x02, STX = 0x03, JMP = 0x05, ALU64 = 0x07;
const IMM = 0x00, MEM = 0x60, ATOMIC = 0xc0;
const K = 0x00, X = 0x08;
export const Size = { W: 0x00, H: 0x08, B: 0x10, DW: 0x18 } as const;
export type SizeName = keyof typeof Size;
export const Alu = {
  add: 0x00, sub: 0x10, mul: 0x20, div: 0x30, or: 0x40, and: 0x50, lsh: 0x60, rsh: 0x70,
  neg: 0x80, mod: 0x90, xor: 0xa0, mov: 0xb0, arsh: 0xc0,
} as const;
export type AluName = keyof typeof Alu;
export const Jmp = {
  ja: 0x00, jeq: 0x10, jgt: 0x20, jge: 0x30, jset: 0x40, jne: 0x50, jsgt: 0x60, jsge: 0x70,
  jlt: 0xa0, jle: 0xb0, jslt: 0xc0, jsle: 0xd0,
} as const;
export type JmpName = keyof typeof Jmp;
const CALL = 0x80, EXIT = 0x90;
/** src_reg of an ld_imm64 whose immediate is a map fd. */
const PSEUDO_MAP_FD = 1;

/** Registers: R0 result, R1–R5 arguments (clobbered by calls), R6–R9 kept, R10 frame pointer. */
export type Reg = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10;
export const FP: Reg = 10;

/** Helper function ids (linux/bpf.h, enum bpf_func_id). */
export const Helper = {
  mapLookupElem: 1,
  mapUpdateElem: 2,
  mapDeleteElem: 3,
  ktimeGetNs: 5,
  getSmpProcessorId: 8,
  getCurrentPidTgid: 14,
  getCurrentUidGid: 15,
  getCurrentComm: 16,
  getStackid: 27,
  getCurrentTask: 35,
  getStack: 67,
  probeReadUser: 112,
  probeReadKernel: 113,
  probeReadUserStr: 114,
  ringbufOutput: 130,
  getAttachCookie: 174,
} as const;

export class Label {
  /** Slot index once placed. */
  slot = -1;
  constructor(readonly name: string) {}
}

interface Pending {
  readonly slot: number;
  readonly label: Label;
}

export class Assembler {
  private readonly words: number[] = []; // 2 × u32 per slot: [opcode|regs|off], imm
  private readonly lineOfSlot: number[] = [];
  private readonly pending: Pending[] = [];
  /** The ktap line the next instructions come from. */
  line = 0;

  get length(): number {
    return this.lineOfSlot.length;
  }

  private slot(opcode: number, dst: number, src: number, offset: number, imm: number): void {
    if (offset < -0x8000 || offset > 0x7fff) throw new RangeError(`eBPF offset ${offset} out of range`);
    this.words.push(opcode | (dst << 8) | (src << 12) | ((offset & 0xffff) << 16), imm | 0);
    this.lineOfSlot.push(this.line);
  }

  label(name = ''): Label {
    return new Label(name);
  }

  /** Places LABEL at the next instruction. */
  place(label: Label): void {
    label.slot = this.length;
  }

  /** dst = dst OP src (64-bit). */
  alu(op: AluName, dst: Reg, src: Reg, signed = false): void {
    // Signed division and remainder are the DIV/MOD encodings with offset 1 (kernel 6.6+).
    const offset = signed && (op === 'div' || op === 'mod') ? 1 : 0;
    this.slot(ALU64 | Alu[op] | X, dst, src, offset, 0);
  }

  aluImm(op: AluName, dst: Reg, imm: number, signed = false): void {
    const offset = signed && (op === 'div' || op === 'mod') ? 1 : 0;
    this.slot(ALU64 | Alu[op] | K, dst, 0, offset, imm);
  }

  mov(dst: Reg, src: Reg): void {
    this.slot(ALU64 | Alu.mov | X, dst, src, 0, 0);
  }

  /** dst = a 64-bit constant: a 32-bit signed move when it fits, else ld_imm64 (two slots). */
  movImm(dst: Reg, value: bigint | number): void {
    const big = BigInt.asIntN(64, BigInt(value));
    if (big >= -0x80000000n && big <= 0x7fffffffn) {
      this.slot(ALU64 | Alu.mov | K, dst, 0, 0, Number(big));
      return;
    }
    const unsigned = BigInt.asUintN(64, big);
    this.slot(LD | IMM | Size.DW, dst, 0, 0, Number(unsigned & 0xffffffffn));
    this.slot(0, 0, 0, 0, Number(unsigned >> 32n));
  }

  /** dst = the map with file descriptor FD (ld_imm64 with src BPF_PSEUDO_MAP_FD). */
  loadMap(dst: Reg, fd: number): void {
    this.slot(LD | IMM | Size.DW, dst, PSEUDO_MAP_FD, 0, fd);
    this.slot(0, 0, 0, 0, 0);
  }

  /** dst = *(size *)(src + offset) */
  load(size: SizeName, dst: Reg, src: Reg, offset: number): void {
    this.slot(LDX | MEM | Size[size], dst, src, offset, 0);
  }

  /** *(size *)(dst + offset) = src */
  store(size: SizeName, dst: Reg, offset: number, src: Reg): void {
    this.slot(STX | MEM | Size[size], dst, src, offset, 0);
  }

  /** *(size *)(dst + offset) = imm (sign-extended 32-bit immediate) */
  storeImm(size: SizeName, dst: Reg, offset: number, imm: number): void {
    this.slot(ST | MEM | Size[size], dst, 0, offset, imm);
  }

  /** *(u64 *)(dst + offset) += src, atomically (lock xadd). */
  atomicAdd(dst: Reg, offset: number, src: Reg): void {
    this.slot(STX | ATOMIC | Size.DW, dst, src, offset, Alu.add);
  }

  /** Conditional jump on registers: if (dst OP src) goto label. */
  jump(op: JmpName, dst: Reg, src: Reg, target: Label): void {
    this.pending.push({ slot: this.length, label: target });
    this.slot(JMP | Jmp[op] | X, dst, src, 0, 0);
  }

  /** Conditional jump on an immediate: if (dst OP imm) goto label. */
  jumpImm(op: JmpName, dst: Reg, imm: number, target: Label): void {
    this.pending.push({ slot: this.length, label: target });
    this.slot(JMP | Jmp[op] | K, dst, 0, 0, imm);
  }

  goto(target: Label): void {
    this.pending.push({ slot: this.length, label: target });
    this.slot(JMP | Jmp.ja, 0, 0, 0, 0);
  }

  call(helper: number): void {
    this.slot(JMP | CALL, 0, 0, 0, helper);
  }

  exit(): void {
    this.slot(JMP | EXIT, 0, 0, 0, 0);
  }

  /** R0 = the value of the map with file descriptor FD under the key at FP+KEY, or NULL. */
  mapLookup(fd: number, key: number): void {
    this.loadMap(1, fd);
    this.mov(2, FP);
    this.aluImm('add', 2, key);
    this.call(Helper.mapLookupElem);
  }

  /** Stores the value at FP+VALUE under the key at FP+KEY in the map with file descriptor FD (R0: 0 or -errno). */
  mapUpdate(fd: number, key: number, value: number, flags = 0): void {
    this.loadMap(1, fd);
    this.mov(2, FP);
    this.aluImm('add', 2, key);
    this.mov(3, FP);
    this.aluImm('add', 3, value);
    this.movImm(4, flags);
    this.call(Helper.mapUpdateElem);
  }

  /** The program: instructions as bytes, and the ktap line of each slot. */
  finish(): { code: Buffer; lines: Int32Array } {
    for (const { slot, label } of this.pending) {
      if (label.slot < 0) throw new Error(`eBPF label ${label.name || '?'} never placed`);
      const offset = label.slot - slot - 1;
      if (offset < -0x8000 || offset > 0x7fff) throw new RangeError(`eBPF jump of ${offset} slots out of range`);
      this.words[slot * 2] = (this.words[slot * 2]! & 0xffff) | ((offset & 0xffff) << 16);
    }
    const code = Buffer.alloc(this.words.length * 4);
    for (let index = 0; index < this.words.length; index++) code.writeInt32LE(this.words[index]! | 0, index * 4);
    return { code, lines: Int32Array.from(this.lineOfSlot) };
  }
}
