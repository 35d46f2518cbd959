// One page of a per-CPU ring buffer, as a read of `trace_pipe_raw` returns it, → its data
// records with absolute timestamps. Pure decoding (no I/O), nothing allocated per record.

import { endianness } from 'node:os';
import { PAGE_HEADER_64, type EventHeaderLayout, type PageHeaderLayout } from './format';
import type { PageBytes } from './fields';

/** The record header this decoder implements (kernel/trace/ring_buffer.c); compare with `header_event`. */
export const EVENT_HEADER: EventHeaderLayout = {
  typeLengthBits: 5,
  timeDeltaBits: 27,
  paddingType: 29,
  timeExtendType: 30,
  timeStampType: 31,
  dataMaxTypeLength: 28,
};

const TYPE_LENGTH_MASK = 0x1f;
const TIME_DELTA_SHIFT = 5;
const TYPE_PADDING = 29;
const TYPE_TIME_EXTEND = 30;
const TIME_SHIFT = 2 ** 27; // a time extend's array[0] holds bits 27 and up
const TIME_SHIFT_BITS = 27n;

// The commit word's high bits are flags set by ring_buffer_read_page (RB_MISSED_*).
const MISSED_EVENTS = 0x80000000;
const MISSED_STORED = 0x40000000;
const COMMIT_SIZE_MASK = 0x3fffffff;
/** The smallest padding record (RB_EVNT_MIN_SIZE): a page with less room left is full. */
const MIN_PADDING = 8;

// The top 5 bits an absolute-timestamp record cannot hold (TS_MSB of rb_fix_abs_ts).
const TIMESTAMP_TOP_BITS = 0xf8n << 56n;
const TIMESTAMP_WRAP = 1n << 59n;

// The running time is a bigint base plus a number of nanoseconds: adding a record's delta
// then costs a number addition, not a bigint allocation. Past this the offset is folded
// into the base so that it stays an exact integer.
const FOLD_LIMIT = 2 ** 52;

/** A page that cannot be what the kernel wrote: truncated, or lengths pointing outside it. */
export class RingBufferError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RingBufferError';
  }
}

const EMPTY_PAGE = Buffer.alloc(0);

/**
 * Walks the data records of one page. `reset(page)` reads the page header; each `next()`
 * moves to the following data record and returns false at the end of the page. The record
 * is the payload `page[offset, offset + length)` (struct trace_entry first) with the
 * absolute time `timestamp`. Time extends, absolute timestamps and padding are consumed
 * on the way and only counted.
 *
 * A corrupt page throws RingBufferError from `reset` or `next`; the records before the
 * fault have been delivered, and the cursor then stays at the end of the page.
 *
 * Decoding follows the kernel's own reader (rb_update_read_stamp); records are little-endian.
 */
export class PageCursor implements PageBytes {
  page: Buffer = EMPTY_PAGE;
  view: DataView = new DataView(EMPTY_PAGE.buffer, 0, 0);

  /** Time of the page header, which the first record's delta is relative to. */
  pageTimestamp = 0n;
  /** End of the committed data within the page. */
  dataEnd = 0;
  /** The kernel dropped events (ring buffer overrun) between the previous page and this one. */
  missedEvents = false;
  /** How many it dropped: 0 without the flag, -1 when the kernel could not store the count. */
  missedCount = 0;

  /** Payload of the current record. */
  offset = 0;
  length = 0;
  /** The current record's time is `timestampBase + timestampOffset` ns (see `timestamp`). */
  timestampBase = 0n;
  timestampOffset = 0;

  /** Non-data records met so far on this page. */
  paddingRecords = 0;
  timeExtendRecords = 0;
  timeStampRecords = 0;

  private position = 0;
  /** The array last passed to reset, so that reading into one buffer reuses its views. */
  private source: Uint8Array = EMPTY_PAGE;

  constructor(private readonly layout: PageHeaderLayout = PAGE_HEADER_64) {
    if (endianness() !== 'LE') throw new RingBufferError('ring-buffer pages of big-endian kernels are not supported');
  }

  /** Absolute time of the current record in ns of the instance's trace clock. */
  get timestamp(): bigint {
    return this.timestampBase + BigInt(this.timestampOffset);
  }

  /** Starts on a new page (the whole buffer that one read returned). */
  reset(page: Uint8Array): void {
    this.setPage(page);
    const layout = this.layout;
    const view = this.view;
    this.position = this.dataEnd = this.offset = this.length = 0;
    this.paddingRecords = this.timeExtendRecords = this.timeStampRecords = 0;
    if (page.byteLength < layout.dataOffset) {
      throw new RingBufferError(`corrupt ring-buffer page: ${page.byteLength} bytes, shorter than its header`);
    }
    // Only the low 32 bits count, as in the kernel (rb_page_commit): the kernel adds
    // RB_MISSED_EVENTS as the int 1 << 31, which sign-extends into the high half of a 64-bit
    // local_t, so a page with missed events has a commit word of 0xffffffff8000XXXX.
    const commit = view.getUint32(layout.commitOffset, true);
    const dataSize = commit & COMMIT_SIZE_MASK;
    const capacity = page.byteLength - layout.dataOffset;
    if (dataSize > capacity) {
      throw new RingBufferError(`corrupt ring-buffer page: commit ${dataSize} beyond the page's ${capacity} data bytes`);
    }
    this.pageTimestamp = view.getBigUint64(layout.timestampOffset, true);
    this.timestampBase = this.pageTimestamp;
    this.timestampOffset = 0;
    this.dataEnd = layout.dataOffset + dataSize;
    this.position = layout.dataOffset;
    this.missedEvents = (commit & MISSED_EVENTS) !== 0;
    this.missedCount = this.missedEvents ? -1 : 0;
    if ((commit & MISSED_STORED) !== 0) {
      // The count is an unsigned long right after the data, where the kernel had room for it.
      if (!this.missedEvents || capacity - dataSize < layout.commitSize) {
        this.position = this.dataEnd;
        throw new RingBufferError('corrupt ring-buffer page: missed-events count flagged but not stored');
      }
      const countOffset = this.dataEnd;
      this.missedCount = view.getUint32(countOffset, true)
        + (layout.commitSize === 8 ? view.getUint32(countOffset + 4, true) * 2 ** 32 : 0);
    }
  }

  /** Moves to the next data record; false when the page has no more. */
  next(): boolean {
    const view = this.view;
    const end = this.dataEnd;
    let position = this.position;
    while (position < end) {
      if (end - position < 4) return this.corrupt(position, 'truncated record header');
      const header = view.getUint32(position, true);
      const typeLength = header & TYPE_LENGTH_MASK;
      const timeDelta = header >>> TIME_DELTA_SHIFT;
      if (typeLength !== 0 && typeLength < TYPE_PADDING) {
        // Small data record: the payload (type_len words) follows the header.
        const length = typeLength << 2;
        if (length > end - position - 4) return this.corrupt(position, `data length ${length} runs past the data end`);
        this.offset = position + 4;
        this.length = length;
        this.position = position + 4 + length;
        this.advanceTime(timeDelta);
        return true;
      }
      // Every other kind has array[0].
      if (end - position < 8) return this.corrupt(position, 'truncated record');
      const word = view.getUint32(position + 4, true);
      if (typeLength === 0) {
        // Large data record: array[0] is the size after the header, itself included.
        if (word < 4 || word > end - position - 4) return this.corrupt(position, `data length ${word} runs past the data end`);
        this.offset = position + 8;
        this.length = word - 4;
        this.position = position + 4 + word;
        this.advanceTime(timeDelta);
        return true;
      }
      if (typeLength === TYPE_PADDING) {
        // A null padding (delta 0) ends the used part of the page. Otherwise it is a
        // discarded event of array[0] bytes after the header; like the kernel's reader, its
        // delta is not added to the running time.
        if (timeDelta === 0) break;
        if (word < 4 || word > end - position - 4) return this.corrupt(position, `padding length ${word} runs past the data end`);
        this.paddingRecords++;
        position += 4 + word;
      } else if (typeLength === TYPE_TIME_EXTEND) {
        this.timeExtendRecords++;
        this.extendTime(word, timeDelta);
        position += 8;
      } else {
        this.timeStampRecords++;
        this.setAbsoluteTime(word, timeDelta);
        position += 8;
      }
    }
    this.position = end;
    return false;
  }

  private setPage(page: Uint8Array): void {
    if (page === this.source) return;
    this.source = page;
    const buffer = Buffer.isBuffer(page) ? page : Buffer.from(page.buffer, page.byteOffset, page.byteLength);
    this.page = buffer;
    this.view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  }

  private advanceTime(delta: number): void {
    this.timestampOffset += delta;
    if (this.timestampOffset > FOLD_LIMIT) this.fold();
  }

  /** A time extend: the next record's delta is too wide for 27 bits; array[0] has the rest. */
  private extendTime(high: number, low: number): void {
    if (high < 2 ** 24 && this.timestampOffset < FOLD_LIMIT / 2) {
      this.timestampOffset += high * TIME_SHIFT + low;
    } else {
      this.timestampBase += BigInt(this.timestampOffset) + ((BigInt(high) << TIME_SHIFT_BITS) | BigInt(low));
      this.timestampOffset = 0;
    }
  }

  /**
   * An absolute timestamp (timestamp_mode absolute): it lacks the top 5 bits, which come
   * from the running time, a carry added when the low bits wrapped (the kernel's rb_fix_abs_ts).
   */
  private setAbsoluteTime(high: number, low: number): void {
    const previous = this.timestamp;
    let absolute = (BigInt(high) << TIME_SHIFT_BITS) | BigInt(low);
    if ((previous & TIMESTAMP_TOP_BITS) !== 0n) {
      absolute |= previous & TIMESTAMP_TOP_BITS;
      if (absolute < previous) absolute += TIMESTAMP_WRAP;
    }
    this.timestampBase = absolute;
    this.timestampOffset = 0;
  }

  private fold(): void {
    this.timestampBase += BigInt(this.timestampOffset);
    this.timestampOffset = 0;
  }

  private corrupt(position: number, reason: string): never {
    this.position = this.dataEnd;
    throw new RingBufferError(`corrupt ring-buffer page: record at offset ${position}: ${reason}`);
  }
}

/**
 * Whether the kernel had finished writing a page when it was read: its data reaches the last
 * few bytes, or what follows the data is the padding record the kernel writes over the unused
 * end when it moves on to the next page. A copy of the page the kernel is still writing into
 * has neither (what lies after its data is stale).
 */
export function isFinishedPage(page: Uint8Array, layout: PageHeaderLayout = PAGE_HEADER_64): boolean {
  if (page.byteLength < layout.dataOffset) return false;
  const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
  const commit = view.getUint32(layout.commitOffset, true);
  // A count of missed events stored after the data replaces the padding: not decidable here.
  if ((commit & MISSED_STORED) !== 0) return false;
  const capacity = page.byteLength - layout.dataOffset;
  const unused = capacity - (commit & COMMIT_SIZE_MASK);
  if (unused < 0) return false;
  if (unused < MIN_PADDING) return true;
  const end = layout.dataOffset + capacity - unused;
  const header = view.getUint32(end, true);
  return (header & TYPE_LENGTH_MASK) === TYPE_PADDING && header >>> TIME_DELTA_SHIFT !== 0 && view.getUint32(end + 4, true) === unused - 4;
}

/**
 * The data records that follow the cursor's current record on its page, up to `limit`,
 * without moving the cursor: the stacks the kernel records right after an event (the
 * stacktrace trigger, the userstacktrace option) are read with their event. Time extends
 * and padding in between are skipped; anything malformed ends the walk.
 */
export function followingRecords(cursor: PageCursor, limit: number, visit: (offset: number, length: number) => void): void {
  const view = cursor.view;
  const end = cursor.dataEnd;
  let position = cursor.offset + cursor.length;
  for (let found = 0; found < limit && end - position >= 4; ) {
    const header = view.getUint32(position, true);
    const typeLength = header & TYPE_LENGTH_MASK;
    if (typeLength !== 0 && typeLength < TYPE_PADDING) {
      const length = typeLength << 2;
      if (length > end - position - 4) return;
      visit(position + 4, length);
      found++;
      position += 4 + length;
      continue;
    }
    if (end - position < 8) return;
    const word = view.getUint32(position + 4, true);
    if (typeLength === 0) {
      if (word < 4 || word > end - position - 4) return;
      visit(position + 8, word - 4);
      found++;
      position += 4 + word;
    } else if (typeLength === TYPE_PADDING) {
      if (header >>> TIME_DELTA_SHIFT === 0 || word < 4 || word > end - position - 4) return;
      position += 4 + word;
    } else {
      position += 8;
    }
  }
}
