// The stack map of stack() keys (BPF_MAP_TYPE_STACK_TRACE): a profile-N program keys its
// tables by the id bpf_get_stackid gives the sampled kernel stack, and user space reads an
// id back as the text stack() shows — the first DEFAULT_STACK_DEPTH frames, named as the
// user tier names them — and finds the id of such a text again (a write from user space).

import { DEFAULT_STACK_DEPTH, stackText } from '../vm/lib/base';
import { BpfMap, sumPerCpu } from './maps';

/** The id a program stores for a sample without a kernel stack (it interrupted user space): "". */
export const NO_KERNEL_STACK = -1n;

export class KernelStacks {
  readonly map: BpfMap;
  /**
   * Per-CPU array, one u64: samples whose stack the map could not hold (its bucket held
   * another stack, or it was full). The program counts them and drops the sample: it is not
   * an error of the script, and an id for it would name another stack.
   */
  readonly dropped: BpfMap;
  /** Texts by id: an id names one stack as long as the map lives (ids are never reused). */
  private readonly texts = new Map<bigint, string>([[NO_KERNEL_STACK, '']]);
  private readonly ids = new Map<string, bigint>([['', NO_KERNEL_STACK]]);

  /**
   * A map of ENTRIES stacks of DEFAULT_STACK_DEPTH frames (the kernel hashes only those, so
   * stacks that differ deeper down share an id, as their texts are the same); FRAME names a
   * kernel address as stack() does.
   */
  constructor(entries: number, private readonly frame: (address: bigint) => string) {
    this.map = BpfMap.create({ type: 'stackTrace', keySize: 4, valueSize: DEFAULT_STACK_DEPTH * 8, maxEntries: entries, name: 'ktap_stacks' });
    this.dropped = BpfMap.create({ type: 'percpuArray', keySize: 4, valueSize: 8, maxEntries: 1, name: 'ktap_stk_drop' });
  }

  /** Samples dropped so far (see `dropped`). */
  droppedCount(): number {
    const value = this.dropped.lookup(Buffer.alloc(4));
    return value === undefined ? 0 : Number(sumPerCpu(this.dropped, value));
  }

  /** The text of stack ID ("" for a negative id or a stack no longer in the map). */
  text(id: bigint): string {
    const known = this.texts.get(id < 0n ? NO_KERNEL_STACK : id);
    if (known !== undefined) return known;
    const key = Buffer.alloc(4);
    key.writeUInt32LE(Number(id));
    const value = this.map.lookup(key);
    const frames: string[] = [];
    for (let at = 0; value !== undefined && at < value.length; at += 8) {
      const address = value.readBigUInt64LE(at);
      if (address === 0n) break;
      frames.push(this.frame(address));
    }
    const text = stackText(frames);
    this.texts.set(id, text);
    this.ids.set(text, id);
    return text;
  }

  /** The id of a stack's TEXT as read back before, or undefined. */
  id(text: string): bigint | undefined {
    return this.ids.get(text);
  }

  close(): void {
    this.map.close();
    this.dropped.close();
  }
}
