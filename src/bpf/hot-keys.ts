// The hot keys of a table of sums: a small direct-mapped table per CPU, in front of the
// table's per-CPU hash map, that `t[k] += e` adds to without a map helper call.
//
// Why: on a host where every kernel entry starts with a cold TLB (page-table isolation, a
// paravirtual guest), a hash map lookup walks the bucket array, the element and the per-CPU
// value, each on its own page, and costs more than the rest of a counting program together.
// A key that owns its slot in this CPU's array (one inlined array lookup, a multiplicative
// hash, a compare per key word) is added to there instead.
//
// Exactness: a key claims a free slot the first time it is added to on a CPU and keeps it;
// a key whose slot another key holds goes to the hash map as before. Every addition lands in
// exactly one place and never moves, so the table's value of a key is the sum of its map
// entry and of its slots on every CPU (kernel-table.ts adds them up when it reads). A claim
// first gives the key its entry in the map (0 when new), so the map's keys are the table's
// keys: its size, and a table overflow when it is full, are what they were without slots.

import { FP, type Assembler, type Label, type Reg } from './asm';
import { EEXIST } from './codegen-frame';
import { BpfMap, Update } from './maps';

/** Slots per CPU: a power of two (the hash's top bits index them). */
const HOT_SLOTS = 128;
const SLOT_BITS = Math.log2(HOT_SLOTS);
/** Keys of up to this many bytes get slots (longer ones: a compare per word costs more than it saves). */
const HOT_KEY_MAX_BYTES = 32;
/** Fibonacci hashing's multiplier, 2^64 / the golden ratio. */
const MULTIPLIER = 0x9e3779b97f4a7c15n;

/** A slot: [used u64][key][value i64]. */
function slotBytes(keySize: number): number {
  return 8 + keySize + 8;
}

export function hasHotKeys(keySize: number): boolean {
  return keySize > 0 && keySize <= HOT_KEY_MAX_BYTES && keySize % 8 === 0;
}

/** One table's hot keys: a per-CPU array of one entry holding HOT_SLOTS slots. */
export class HotKeys {
  readonly map: BpfMap;
  private readonly slot: number;
  private static readonly KEY0 = Buffer.alloc(4);

  constructor(readonly keySize: number, name: string) {
    this.slot = slotBytes(keySize);
    this.map = BpfMap.create({ type: 'percpuArray', keySize: 4, valueSize: HOT_SLOTS * this.slot, maxEntries: 1, name });
  }

  /** Every used slot of every CPU as [key, value]: one system call. */
  entries(): Array<[Buffer, bigint]> {
    const all = this.map.lookup(HotKeys.KEY0);
    const out: Array<[Buffer, bigint]> = [];
    if (all === undefined) return out;
    this.eachUsed(all, (at) => out.push([all.subarray(at + 8, at + 8 + this.keySize), all.readBigInt64LE(at + 8 + this.keySize)]));
    return out;
  }

  /** Frees KEY's slots on every CPU (user space wrote the key: its value now lives in the map alone). */
  forget(key: Buffer): void {
    const all = this.map.lookup(HotKeys.KEY0);
    if (all === undefined) return;
    let changed = false;
    this.eachUsed(all, (at) => {
      if (all.compare(key, 0, this.keySize, at + 8, at + 8 + this.keySize) !== 0) return;
      all.fill(0, at, at + this.slot);
      changed = true;
    });
    if (changed) this.map.update(HotKeys.KEY0, all);
  }

  clear(): void {
    this.map.update(HotKeys.KEY0, Buffer.alloc(this.map.valueBytes));
  }

  close(): void {
    this.map.close();
  }

  private eachUsed(all: Buffer, visit: (at: number) => void): void {
    for (let cpu = 0; cpu * this.map.cpuStride < all.length; cpu++) {
      for (let index = 0; index < HOT_SLOTS; index++) {
        const at = cpu * this.map.cpuStride + index * this.slot;
        if (all.readBigUInt64LE(at) !== 0n) visit(at);
      }
    }
  }
}

/** Where the code of one `t[k] += e` finds what it needs (registers R0–R4 and R9 are its own). */
export interface HotIncrement {
  /** The per-CPU array of the hot keys, and the table's hash map. */
  readonly hotFd: number;
  readonly tableFd: number;
  /** The key, KEY_SIZE bytes at FP+KEY. */
  readonly key: number;
  readonly keySize: number;
  /** The register holding e. */
  readonly delta: Reg;
  /** 8 bytes at FP+SCRATCH this code may overwrite. */
  readonly scratch: number;
  /** Where to go once added; where to go when the table is full. */
  readonly done: Label;
  readonly full: Label;
}

/**
 * eBPF for `t[k] += e` through the hot keys: adds and jumps to DONE when the key owns its
 * slot on this CPU, or claims a free one. A claim first inserts the key into the hash map
 * with 0 (if it is not there yet), so the map's keys stay the table's keys and a full map is
 * a table overflow as before. Falls through when another key holds the slot, for the hash
 * map path.
 */
export function emitHotIncrement(asm: Assembler, at: HotIncrement): void {
  const { key, keySize, delta, scratch } = at;
  const slot = slotBytes(keySize);
  const words = keySize / 8;
  const miss = asm.label('hot_miss');
  const claim = asm.label('hot_claim');
  const inserted = asm.label('hot_inserted');
  asm.storeImm('DW', FP, scratch, 0);
  asm.mapLookup(at.hotFd, scratch);
  asm.jumpImm('jeq', 0, 0, miss);
  // R2 = the slot's offset: the key's words folded by multiply and xor, top bits.
  asm.movImm(3, MULTIPLIER);
  asm.load('DW', 2, FP, key);
  asm.alu('mul', 2, 3);
  for (let word = 1; word < words; word++) {
    asm.load('DW', 4, FP, key + 8 * word);
    asm.alu('xor', 2, 4);
    asm.alu('mul', 2, 3);
  }
  asm.aluImm('rsh', 2, 64 - SLOT_BITS);
  asm.aluImm('mul', 2, slot);
  asm.alu('add', 0, 2);
  asm.load('DW', 3, 0, 0);
  asm.jumpImm('jeq', 3, 0, claim);
  for (let word = 0; word < words; word++) {
    asm.load('DW', 3, 0, 8 + 8 * word);
    asm.load('DW', 4, FP, key + 8 * word);
    asm.jump('jne', 3, 4, miss);
  }
  asm.load('DW', 3, 0, 8 + keySize);
  asm.alu('add', 3, delta);
  asm.store('DW', 0, 8 + keySize, 3);
  asm.goto(at.done);
  asm.place(claim);
  asm.mov(9, 0);
  asm.mapUpdate(at.tableFd, key, scratch, Update.noexist); // the value at FP+SCRATCH is 0
  asm.jumpImm('jeq', 0, 0, inserted);
  asm.jumpImm('jne', 0, -EEXIST, at.full);
  asm.place(inserted);
  for (let word = 0; word < words; word++) {
    asm.load('DW', 4, FP, key + 8 * word);
    asm.store('DW', 9, 8 + 8 * word, 4);
  }
  asm.store('DW', 9, 8 + keySize, delta);
  asm.storeImm('DW', 9, 0, 1);
  asm.goto(at.done);
  asm.place(miss);
}
