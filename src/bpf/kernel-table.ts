// A global written in the kernel as user space sees it: a ktap table (or a variable's cell)
// whose entries live in a BPF map, read in one batch when user code reads it (at most once
// per turn of the event loop) and written through to the map when user code writes it.

import { RuntimeError } from '../vm/errors';
import type { EntryBudget } from '../vm/limits';
import { KTable, type TableIterator } from '../vm/table';
import { KTuple, tuple } from '../vm/tuple';
import type { Cell } from '../vm/translate';
import { fromBigInt, type Value } from '../vm/value';
import { PART_BYTES, keyBytes, type KeyKind, type PartKind } from './analyze';
import type { HotKeys } from './hot-keys';
import type { KernelStacks } from './kernel-stacks';
import type { BpfMap } from './maps';
import { sumPerCpu } from './maps';

/** How keys of one kernel table are laid out in its map. */
export interface KeyCodec {
  readonly size: number;
  /** The map key of a ktap key, or undefined when this table cannot hold that key. */
  encode(key: Value): Buffer | undefined;
  decode(bytes: Buffer): Value;
  /** What the keys are, for the error when one cannot be stored. */
  readonly description: string;
}

/** One value of a key, at an offset of the map key (the program's layout: analyze.ts PART_BYTES). */
interface PartCodec {
  /** Writes VALUE at OFFSET of BYTES (zeroed); false when this part cannot hold it. */
  write(value: Value, bytes: Buffer, offset: number): boolean;
  read(bytes: Buffer, offset: number): Value;
  readonly description: string;
}

const INT_PART: PartCodec = {
  description: 'numbers',
  write(value, bytes, offset) {
    if (typeof value !== 'number' && typeof value !== 'bigint') return false;
    bytes.writeBigInt64LE(BigInt(value), offset);
    return true;
  },
  read: (bytes, offset) => fromBigInt(bytes.readBigInt64LE(offset)),
};

const BOOL_PART: PartCodec = {
  description: 'booleans',
  write(value, bytes, offset) {
    if (typeof value !== 'boolean') return false;
    bytes.writeBigUInt64LE(value ? 1n : 0n, offset);
    return true;
  },
  read: (bytes, offset) => bytes.readBigUInt64LE(offset) !== 0n,
};

const COMM_PART: PartCodec = {
  description: 'process names of up to 15 bytes',
  write(value, bytes, offset) {
    if (typeof value !== 'string' || value.length > 15 || value.includes('\0')) return false;
    bytes.write(value, offset, 'latin1');
    return true;
  },
  read(bytes, offset) {
    const end = bytes.indexOf(0, offset);
    return bytes.toString('latin1', offset, end < 0 || end > offset + 16 ? offset + 16 : end);
  },
};

/** Probe names, stored as their index in NAMES (the attachment's cookie). */
function namePart(names: readonly string[]): PartCodec {
  return {
    description: 'names of the traced probes',
    write(value, bytes, offset) {
      const index = typeof value === 'string' ? names.indexOf(value) : -1;
      if (index < 0) return false;
      bytes.writeBigUInt64LE(BigInt(index), offset);
      return true;
    },
    read: (bytes, offset) => names[Number(bytes.readBigUInt64LE(offset))],
  };
}

/** Kernel stacks, stored as their id in the stack map (kernel-stacks.ts). */
function stackPart(stacks: () => KernelStacks): PartCodec {
  return {
    description: 'kernel stacks of the samples',
    write(value, bytes, offset) {
      const id = typeof value === 'string' ? stacks().id(value) : undefined;
      if (id === undefined) return false;
      bytes.writeBigInt64LE(id, offset);
      return true;
    },
    read: (bytes, offset) => stacks().text(bytes.readBigInt64LE(offset)),
  };
}

/**
 * The codec of keys laid out as KEY; NAMES are the probe names by attach cookie, STACKS the
 * stack map of stack() keys.
 */
export function keyCodec(key: KeyKind, names: readonly string[], stacks?: () => KernelStacks): KeyCodec {
  const codecs: Record<PartKind, () => PartCodec> = {
    int: () => INT_PART, bool: () => BOOL_PART, comm: () => COMM_PART, name: () => namePart(names),
    kstack: () => {
      if (stacks === undefined) throw new Error('kernel tier: a stack() key without a stack map');
      return stackPart(stacks);
    },
  };
  const partOf = (part: PartKind): PartCodec => codecs[part]();
  const size = keyBytes(key);
  if (typeof key === 'string') {
    const part = partOf(key);
    return {
      size,
      description: part.description,
      encode(value) {
        const bytes = Buffer.alloc(size);
        return part.write(value, bytes, 0) ? bytes : undefined;
      },
      decode: (bytes) => part.read(bytes, 0),
    };
  }
  const parts = key.tuple.map(partOf);
  const offsets: number[] = [];
  key.tuple.reduce((offset, part) => (offsets.push(offset), offset + PART_BYTES[part]), 0);
  return {
    size,
    description: `tuples of ${parts.map((part) => part.description).join(', ')}`,
    encode(value) {
      if (!(value instanceof KTuple) || value.parts.length !== parts.length) return undefined;
      const bytes = Buffer.alloc(size);
      return parts.every((part, index) => part.write(value.parts[index], bytes, offsets[index]!)) ? bytes : undefined;
    },
    // Interned: the same parts give the same key object as the user tier's tuple() does.
    decode: (bytes) => tuple(...parts.map((part, index) => part.read(bytes, offsets[index]!))),
  };
}

/** The value of a map entry: the sum of the per-CPU copies, or the one shared copy. */
function readValue(map: BpfMap, bytes: Buffer, offset = 0): Value {
  return fromBigInt(map.percpu ? sumPerCpu(map, bytes, offset) : bytes.readBigInt64LE(offset));
}

/** A map value holding V (all of it on the first CPU's copy for a per-CPU map). */
function valueBytes(map: BpfMap, value: bigint, extra?: bigint): Buffer {
  const bytes = Buffer.alloc(map.valueBytes);
  bytes.writeBigInt64LE(BigInt.asIntN(64, value), 0);
  if (extra !== undefined) bytes.writeBigInt64LE(extra, 8);
  return bytes;
}

function numberValue(name: string, value: Value): bigint {
  if (typeof value === 'number' || typeof value === 'bigint') return BigInt(value);
  throw new RuntimeError(`table ${name} lives in the kernel: its values are numbers`);
}

export class KernelTable extends KTable {
  /** Read from the map in this turn of the event loop. */
  private fresh = false;
  /** The map is gone (the session ended): the last entries read stay, as an ordinary table. */
  private frozen = false;

  constructor(
    budget: EntryBudget,
    readonly map: BpfMap,
    readonly keys: KeyCodec,
    readonly name: string,
    /** A table of sums: the hot keys in front of its map, whose slots add to its entries. */
    private readonly hot: HotKeys | null = null,
  ) {
    super(budget);
  }

  /** Mirrors the map into the table's own storage, keeping the order keys were first seen in. */
  refresh(): void {
    if (this.fresh || this.frozen) return;
    this.fresh = true;
    queueMicrotask(() => {
      this.fresh = false;
    });
    const current = new Map<Value, Value>();
    for (const [key, value] of this.map.entries()) current.set(this.keys.decode(key), readValue(this.map, value));
    if (this.hot !== null) {
      for (const [bytes, slotValue] of this.hot.entries()) {
        const key = this.keys.decode(bytes);
        const before = current.get(key);
        current.set(key, fromBigInt(BigInt.asIntN(64, (before === undefined ? 0n : BigInt(before as number | bigint)) + slotValue)));
      }
    }
    const order: Value[] = [];
    const walk = super.iterate();
    while (walk.next()) order.push(walk.key);
    super.clear();
    for (const key of order) {
      const value = current.get(key);
      if (value === undefined) continue;
      super.set(key, value);
      current.delete(key);
    }
    for (const [key, value] of current) super.set(key, value);
  }

  override get length(): number {
    this.refresh();
    return super.length;
  }

  override get(key: Value): Value {
    this.refresh();
    return super.get(key);
  }

  override set(key: Value, value: Value): void {
    this.write(key, value, true);
  }

  /** Writes through to the map; SLOTS_IN_USE: the hot keys may hold KEY (no program ran yet: they cannot). */
  private write(key: Value, value: Value, slotsInUse: boolean): void {
    if (this.frozen) return super.set(key, value);
    if (key === undefined) throw new RuntimeError('table nil index');
    const encoded = this.keys.encode(key);
    if (encoded === undefined) {
      if (value === undefined) return; // such a key cannot be in the map
      throw new RuntimeError(`table ${this.name} lives in the kernel: its keys are ${this.keys.description}`);
    }
    if (slotsInUse) this.hot?.forget(encoded);
    if (value === undefined) this.map.delete(encoded);
    else this.map.update(encoded, valueBytes(this.map, numberValue(this.name, value)));
    super.set(key, value);
  }

  override clear(): void {
    if (!this.frozen) {
      this.hot?.clear();
      this.map.clear();
    }
    super.clear();
  }

  override iterate(): TableIterator {
    this.refresh();
    return super.iterate();
  }

  /** Reads the map a last time and keeps its entries as an ordinary table from now on. */
  freeze(): void {
    this.fresh = false;
    this.refresh();
    this.frozen = true;
  }

  /** Writes the entries the table had before it moved to the kernel into its map. */
  adopt(entries: Iterable<[Value, Value]>): void {
    for (const [key, value] of entries) this.write(key, value, false);
  }
}

/**
 * Makes a variable's cell read and write its kernel map: value {i64 value, u64 set} under
 * key 0 of an array map (per-CPU copies summed; set in any copy means not nil).
 */
export function bindScalarCell(cell: Cell, map: BpfMap, name: string): void {
  const key = Buffer.alloc(4);
  const initial = cell.v;
  const write = (value: Value): void => {
    if (value === undefined) map.update(key, Buffer.alloc(map.valueBytes));
    else map.update(key, valueBytes(map, numberValue(name, value), 1n));
  };
  write(initial);
  Object.defineProperty(cell, 'v', {
    configurable: true,
    enumerable: true,
    get(): Value {
      const bytes = map.lookup(key);
      if (bytes === undefined) return undefined;
      const set = map.percpu ? sumPerCpu(map, bytes, 8) : bytes.readBigInt64LE(8);
      return set === 0n ? undefined : readValue(map, bytes);
    },
    set: write,
  });
}

/** Gives a cell back its own storage (the map is closing), keeping the last value. */
export function unbindScalarCell(cell: Cell): void {
  const last = cell.v;
  Object.defineProperty(cell, 'v', { configurable: true, enumerable: true, writable: true, value: last });
}
