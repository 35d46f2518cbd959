// A BPF ring buffer read from user space: one buffer shared by every CPU, mapped into our
// memory; records come out in the order programs committed them, without a system call.
//
// Layout (kernel/bpf/ringbuf.c): page 0 holds the consumer position (ours to write), page 1
// the producer position; the data pages follow and are mapped twice in a row, so a record
// that wraps around the end is still contiguous. Each record starts with an 8-byte header:
// a u32 length whose bit 31 says "still being written" and bit 30 "discarded", then a u32
// the kernel uses for itself. Records are padded to 8 bytes.

import type { PageBytes } from '../probes/fields';
import { BpfMap } from './maps';
import { PROT_READ, PROT_WRITE, mapShared, memoryAt, unmap } from './sys';

const PAGE = 4096;
const BUSY = 0x8000_0000;
const DISCARDED = 0x4000_0000;
const HEADER = 8;

/** Receives one record: its bytes are BYTES[OFFSET, OFFSET + LENGTH) until the callback returns. */
export type RecordCallback = (bytes: PageBytes, offset: number, length: number) => void;

export class BpfRingBuffer {
  // u64 positions of bytes ever written (a typed-array element is stored in one go, so the
  // kernel never sees half a position); 2^53 bytes is months at 1 GB/s.
  private readonly consumer: BigUint64Array;
  private readonly producer: BigUint64Array;
  private readonly data: PageBytes;
  private readonly mask: number;
  private mappings: Array<[bigint, number]>;

  private constructor(readonly map: BpfMap, readonly size: number) {
    const consumerAt = mapShared(map.fd, PAGE, 0, PROT_READ | PROT_WRITE);
    let producerAt: bigint;
    try {
      producerAt = mapShared(map.fd, PAGE + 2 * size, PAGE, PROT_READ);
    } catch (error) {
      unmap(consumerAt, PAGE);
      throw error;
    }
    this.mappings = [[consumerAt, PAGE], [producerAt, PAGE + 2 * size]];
    this.consumer = new BigUint64Array(memoryAt(consumerAt, PAGE), 0, 1);
    const producerMemory = memoryAt(producerAt, PAGE + 2 * size);
    this.producer = new BigUint64Array(producerMemory, 0, 1);
    const page = Buffer.from(producerMemory, PAGE, 2 * size);
    this.data = { page, view: new DataView(producerMemory, PAGE, 2 * size) };
    this.mask = size - 1;
  }

  /** A ring buffer of SIZE bytes (a power of two, at least a page). */
  static create(size: number, name = 'ktap_ring'): BpfRingBuffer {
    if (size < PAGE || (size & (size - 1)) !== 0) throw new RangeError(`BPF ring buffer of ${size} bytes: a power of two ≥ ${PAGE} is needed`);
    const map = BpfMap.create({ type: 'ringbuf', keySize: 0, valueSize: 0, maxEntries: size, name });
    try {
      return new BpfRingBuffer(map, size);
    } catch (error) {
      map.close();
      throw error;
    }
  }

  /** Bytes committed and not yet read. */
  pending(): number {
    return Number(this.producer[0]! - this.consumer[0]!);
  }

  /**
   * Hands every committed record to ON_RECORD (at most LIMIT of them), in commit order, and
   * gives their space back to the kernel; returns how many were handed over. A record still
   * being written ends the drain: the ones after it wait for the next call.
   */
  drain(onRecord: RecordCallback, limit = Infinity): number {
    const start = Number(this.consumer[0]!);
    const end = Number(this.producer[0]!);
    let position = start;
    const view = this.data.view;
    let count = 0;
    while (position < end && count < limit) {
      const at = position & this.mask;
      const header = view.getUint32(at, true);
      if ((header & BUSY) !== 0) break;
      const length = header & ~(BUSY | DISCARDED);
      if ((header & DISCARDED) === 0) {
        onRecord(this.data, at + HEADER, length);
        count++;
      }
      position += (length + HEADER + 7) & ~7;
    }
    if (position !== start) this.consumer[0] = BigInt(position);
    return count;
  }

  close(): void {
    for (const [address, length] of this.mappings) unmap(address, length);
    this.mappings = [];
    this.map.close();
  }
}
