// BPF maps from user space: create, lookup, update, delete, iterate (batched where the kernel
// can), with per-CPU values as the kernel lays them out (possible CPUs × value size rounded to 8).

import { readFileSync } from 'node:fs';
import { addressOf, bpfCall, bpfTry, closeFd } from './sys';

/** bpf(2) commands (enum bpf_cmd). */
export const Cmd = {
  mapCreate: 0, mapLookupElem: 1, mapUpdateElem: 2, mapDeleteElem: 3, mapGetNextKey: 4,
  progLoad: 5, objGetInfoByFd: 15, rawTracepointOpen: 17, mapLookupBatch: 24, mapDeleteBatch: 27,
  linkCreate: 28,
} as const;

export const MapType = {
  hash: 1, array: 2, perfEventArray: 4, percpuHash: 5, percpuArray: 6, stackTrace: 7, ringbuf: 27,
} as const;
export type MapTypeName = keyof typeof MapType;

/** Flags of an update (BPF_ANY, BPF_NOEXIST, BPF_EXIST). */
export const Update = { any: 0, noexist: 1, exist: 2 } as const;

const ENOENT = 2;

let possible: number | null = null;
/** Number of possible CPUs (/sys/devices/system/cpu/possible): the slots of a per-CPU value. */
export function possibleCpus(): number {
  if (possible !== null) return possible;
  let highest = 0;
  for (const range of readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim().split(',')) {
    const last = Number(range.split('-').pop());
    if (last > highest) highest = last;
  }
  possible = highest + 1;
  return possible;
}

export interface MapSpec {
  readonly type: MapTypeName;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  /** Up to 15 characters, shown by bpftool. */
  readonly name?: string;
  readonly flags?: number;
}

/** One map, owned by its file descriptor: closing it (or the process dying) frees it. */
export class BpfMap {
  readonly percpu: boolean;
  /** Bytes of one value as user space reads and writes it (all CPUs for a per-CPU map). */
  readonly valueBytes: number;
  /** Bytes between two CPUs' copies in a per-CPU value. */
  readonly cpuStride: number;
  private readonly attr = Buffer.alloc(32);
  private fdOpen: number;

  private constructor(readonly spec: MapSpec, fd: number) {
    this.fdOpen = fd;
    this.percpu = spec.type === 'percpuHash' || spec.type === 'percpuArray';
    this.cpuStride = (spec.valueSize + 7) & ~7;
    this.valueBytes = this.percpu ? this.cpuStride * possibleCpus() : spec.valueSize;
  }

  static create(spec: MapSpec): BpfMap {
    const attr = Buffer.alloc(72);
    attr.writeUInt32LE(MapType[spec.type], 0);
    attr.writeUInt32LE(spec.keySize, 4);
    attr.writeUInt32LE(spec.valueSize, 8);
    attr.writeUInt32LE(spec.maxEntries, 12);
    attr.writeUInt32LE(spec.flags ?? 0, 16);
    if (spec.name !== undefined) attr.write(spec.name.replace(/[^A-Za-z0-9_.]/g, '_').slice(0, 15), 28, 'latin1');
    return new BpfMap(spec, bpfCall(Cmd.mapCreate, attr, 'bpf(BPF_MAP_CREATE)'));
  }

  get fd(): number {
    if (this.fdOpen < 0) throw new Error('BPF map used after close');
    return this.fdOpen;
  }

  private elemAttr(key: Buffer | null, value: Buffer | null, flags: number): Buffer {
    const attr = this.attr;
    attr.fill(0);
    attr.writeUInt32LE(this.fd, 0);
    if (key !== null) attr.writeBigUInt64LE(addressOf(key), 8);
    if (value !== null) attr.writeBigUInt64LE(addressOf(value), 16);
    attr.writeBigUInt64LE(BigInt(flags), 24);
    return attr;
  }

  /** The value under KEY (a fresh buffer of valueBytes), or undefined when absent. */
  lookup(key: Buffer): Buffer | undefined {
    const value = Buffer.alloc(this.valueBytes);
    return this.lookupInto(key, value) ? value : undefined;
  }

  /** Reads the value under KEY into VALUE (valueBytes long, reused by pollers); false when absent. */
  lookupInto(key: Buffer, value: Buffer): boolean {
    const result = bpfTry(Cmd.mapLookupElem, this.elemAttr(key, value, 0));
    if (result === -ENOENT) return false;
    if (result < 0) bpfCall(Cmd.mapLookupElem, this.elemAttr(key, value, 0), 'bpf(BPF_MAP_LOOKUP_ELEM)');
    return true;
  }

  update(key: Buffer, value: Buffer, flags: number = Update.any): void {
    if (value.length !== this.valueBytes) throw new RangeError(`BPF map value of ${value.length} bytes, expected ${this.valueBytes}`);
    bpfCall(Cmd.mapUpdateElem, this.elemAttr(key, value, flags), 'bpf(BPF_MAP_UPDATE_ELEM)');
  }

  /** Removes KEY; false when it was not there. */
  delete(key: Buffer): boolean {
    const result = bpfTry(Cmd.mapDeleteElem, this.elemAttr(key, null, 0));
    if (result === -ENOENT) return false;
    if (result < 0) bpfCall(Cmd.mapDeleteElem, this.elemAttr(key, null, 0), 'bpf(BPF_MAP_DELETE_ELEM)');
    return true;
  }

  /** Every key, by BPF_MAP_GET_NEXT_KEY. */
  keys(): Buffer[] {
    const keys: Buffer[] = [];
    let current: Buffer | null = null;
    for (;;) {
      const next = Buffer.alloc(this.spec.keySize);
      const result = bpfTry(Cmd.mapGetNextKey, this.elemAttr(current, next, 0));
      if (result === -ENOENT) return keys;
      if (result < 0) bpfCall(Cmd.mapGetNextKey, this.elemAttr(current, next, 0), 'bpf(BPF_MAP_GET_NEXT_KEY)');
      keys.push(next);
      current = next;
    }
  }

  /**
   * Every entry as [key, value] buffers: BPF_MAP_LOOKUP_BATCH (one system call per
   * CHUNK entries), or key by key where the kernel lacks batches for this map type.
   */
  entries(chunk = 1024): Array<[Buffer, Buffer]> {
    try {
      return this.batchEntries(chunk);
    } catch (error) {
      if ((error as { code?: string }).code !== 'EINVAL' && (error as { code?: string }).code !== 'ENOTSUPP') throw error;
      const out: Array<[Buffer, Buffer]> = [];
      for (const key of this.keys()) {
        const value = this.lookup(key);
        if (value !== undefined) out.push([key, value]);
      }
      return out;
    }
  }

  private batchEntries(chunk: number): Array<[Buffer, Buffer]> {
    const count = Math.max(1, Math.min(chunk, this.spec.maxEntries));
    const { keySize } = this.spec;
    const keys = Buffer.alloc(count * keySize);
    const values = Buffer.alloc(count * this.valueBytes);
    // The batch position token is opaque; a key-sized (at least 8-byte) buffer holds it.
    let inBatch: Buffer | null = null;
    let outBatch: Buffer = Buffer.alloc(Math.max(8, keySize));
    const attr = Buffer.alloc(56);
    const out: Array<[Buffer, Buffer]> = [];
    for (;;) {
      attr.fill(0);
      if (inBatch !== null) attr.writeBigUInt64LE(addressOf(inBatch), 0);
      attr.writeBigUInt64LE(addressOf(outBatch), 8);
      attr.writeBigUInt64LE(addressOf(keys), 16);
      attr.writeBigUInt64LE(addressOf(values), 24);
      attr.writeUInt32LE(count, 32);
      attr.writeUInt32LE(this.fd, 36);
      const result = bpfTry(Cmd.mapLookupBatch, attr);
      if (result < 0 && result !== -ENOENT) bpfCall(Cmd.mapLookupBatch, attr, 'bpf(BPF_MAP_LOOKUP_BATCH)');
      const got = attr.readUInt32LE(32);
      for (let index = 0; index < got; index++) {
        out.push([
          Buffer.from(keys.subarray(index * keySize, (index + 1) * keySize)),
          Buffer.from(values.subarray(index * this.valueBytes, (index + 1) * this.valueBytes)),
        ]);
      }
      if (result === -ENOENT) return out;
      const next: Buffer = inBatch ?? Buffer.alloc(outBatch.length);
      inBatch = outBatch;
      outBatch = next;
    }
  }

  /** Removes every entry. */
  clear(): void {
    for (const key of this.keys()) this.delete(key);
  }

  close(): void {
    if (this.fdOpen >= 0) closeFd(this.fdOpen);
    this.fdOpen = -1;
  }
}

/** Sum of the signed 64-bit per-CPU copies of a per-CPU value at byte OFFSET of each copy. */
export function sumPerCpu(map: BpfMap, value: Buffer, offset = 0): bigint {
  let sum = 0n;
  for (let cpu = 0; cpu * map.cpuStride < value.length; cpu++) sum += value.readBigInt64LE(cpu * map.cpuStride + offset);
  return BigInt.asIntN(64, sum);
}
