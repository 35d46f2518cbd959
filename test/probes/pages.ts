// Hand-built ring-buffer pages for the decoder and reader tests: the record kinds of
// kernel/trace/ring_buffer.c laid out as a read of trace_pipe_raw returns them.

export const PAGE_SIZE = 4096;
export const DATA_OFFSET = 16;

export class PageBuilder {
  readonly page = Buffer.alloc(PAGE_SIZE);
  position = DATA_OFFSET;

  constructor(timestamp: bigint) {
    this.page.writeBigUInt64LE(timestamp, 0);
  }

  private header(typeLength: number, timeDelta: number): void {
    this.page.writeUInt32LE(((timeDelta << 5) | typeLength) >>> 0, this.position);
    this.position += 4;
  }

  /** A data record: type_len words when it fits in 112 bytes, else a length word. */
  data(timeDelta: number, payload: Buffer, forceLengthWord = false): this {
    const padded = Buffer.alloc(Math.ceil(payload.length / 4) * 4);
    payload.copy(padded);
    if (padded.length <= 112 && padded.length > 0 && !forceLengthWord) {
      this.header(padded.length / 4, timeDelta);
    } else {
      this.header(0, timeDelta);
      this.page.writeUInt32LE(padded.length + 4, this.position);
      this.position += 4;
    }
    padded.copy(this.page, this.position);
    this.position += padded.length;
    return this;
  }

  /** A discarded event of `size` bytes after the header (delta non-zero). */
  padding(timeDelta: number, size: number): this {
    this.header(29, timeDelta);
    this.page.writeUInt32LE(size, this.position);
    this.position += size;
    return this;
  }

  nullPadding(): this {
    this.header(29, 0);
    return this;
  }

  extend(delta: bigint): this {
    this.header(30, Number(delta & 0x7ffffffn));
    this.page.writeUInt32LE(Number(delta >> 27n), this.position);
    this.position += 4;
    return this;
  }

  absolute(timestamp: bigint): this {
    this.header(31, Number(timestamp & 0x7ffffffn));
    this.page.writeUInt32LE(Number((timestamp >> 27n) & 0xffffffffn), this.position);
    this.position += 4;
    return this;
  }

  /**
   * A page the kernel has finished: the data so far is committed and the unused end is one
   * padding record (delta 1), as rb_reset_tail leaves it when the writer moves on.
   */
  finish(): Buffer {
    return finishPage(this.commit());
  }

  /** Sets the commit word: the data size so far (or `size`) and flags. */
  commit(flags = 0, size = this.position - DATA_OFFSET): Buffer {
    this.page.writeUInt32LE((size | flags) >>> 0, 8);
    return this.page;
  }
}

/** A getppid entry payload: struct trace_entry + __syscall_nr. */
export function entry(eventId: number, pid: number, extra = 4): Buffer {
  const payload = Buffer.alloc(8 + extra);
  payload.writeUInt16LE(eventId, 0);
  payload.writeInt32LE(pid, 4);
  return payload;
}


/**
 * Writes over a page's unused end the padding record (delta 1) the kernel leaves there when
 * the writer moves on to the next page; in place, returns the page. A page whose end holds a
 * stored missed-events count, or fewer than 8 bytes, is left as it is.
 */
export function finishPage(page: Buffer): Buffer {
  const commit = page.readUInt32LE(8);
  const end = DATA_OFFSET + (commit & 0x3fffffff);
  const unused = page.length - end;
  if ((commit & 0x40000000) === 0 && unused >= 8) {
    page.writeUInt32LE(((1 << 5) | 29) >>> 0, end);
    page.writeUInt32LE(unused - 4, end + 4);
  }
  return page;
}
