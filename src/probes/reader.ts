// Per-CPU readers of the binary ring buffers (`per_cpu/cpuN/trace_pipe_raw`): read what is
// there without blocking, merge the CPUs' records by timestamp and count lost events.
//
// Reading the page the kernel is still writing into is what a reader must avoid: the read
// swaps that page out of the ring under the writer. Measured here, one such read per
// millisecond costs the traced CPU ~7 ns per event at 7.5 M events/s (~2 ns at 1 M/s), while
// reading only filled pages costs it 1–6 ns in all. So a busy buffer is read only as far as
// the pages the kernel has filled, which its `stats` file tells; the page being filled is
// read at once on a CPU that was caught up (it writes little), on a busy one once it has
// filled no page for FLUSH_MS, and before a timer handler runs and at the end.

import { closeSync, constants, openSync, readSync } from 'node:fs';
import { PAGE_HEADER_64 } from './format';
import { PageCursor, RingBufferError, isFinishedPage } from './ringbuf';

/** Receives each record in time order; the cursor's page/view/offset/length locate it. */
export type RecordHandler = (record: PageCursor, cpu: number, timeNs: number) => void;

/**
 * How far a pump reads: `filled` reads the pages the kernel has finished, and a page still
 * being filled only on a CPU that was caught up or has filled nothing for FLUSH_MS; `all`
 * reads everything there is.
 */
export type PumpReach = 'filled' | 'all';

/**
 * Pages read but not yet delivered may take this much memory (all CPUs together): a burst
 * the handlers cannot follow at once waits here instead of overflowing the kernel's buffers.
 * In a storm that never ends the queue stays full, so this is also what a storm adds to
 * ktap's memory, and what the end's drain may have to deliver or count as undelivered.
 */
const QUEUE_BUDGET_BYTES = 16 * 1024 * 1024;
/**
 * Pages one fill reads of a CPU at most: a pump reads again between batches of records, so
 * this bounds the time between the event loop's turns (signals) without slowing delivery.
 */
const FILL_PAGES = 256;
/**
 * A fill looks at the clock every this many pages and stops at the pump's PUMP_MS: when
 * every read is slow (a uprobe on each libc function traps ktap's own calls too, ~6 ms a
 * page), 256 pages took up to 0.8 s, and a signal waited that long for the event loop.
 */
const FILL_CLOCK_PAGES = 4;
/** Spare page buffers a CPU keeps for reuse after a burst. */
const SPARE_PAGES = 256;
/** While delivering a backlog, the buffers are read again after this many records... */
const TOPUP_RECORDS = 4096;
/** ...and a pump gives the event loop its turn after this long (keys, signals, timers). */
const PUMP_MS = 16;

/** A CPU's page that is being filled waits at most this long before it is read as it is. */
export const FLUSH_MS = 10;

const STATS_BYTES = Buffer.from('\nbytes: ');

/** The records of one CPU read and not yet delivered: a queue of pages walked with one cursor. */
class CpuStream {
  /** pages[0, count): read, not yet all delivered; the cursor is on pages[next - 1]. Beyond: spares. */
  private readonly pages: Buffer[] = [];
  private count = 0;
  private next = 0;
  /** The cursor is on a record not yet delivered. */
  hasRecord = false;
  /**
   * The kernel still held records of this CPU when the last pump stopped reading it: none
   * of other CPUs' records later than this CPU's last one read may be delivered yet.
   */
  behind = false;
  readonly cursor = new PageCursor();
  /** Time of the current record, ns since the reader's time base. */
  time = 0;
  private base = -1n;
  private baseTime = 0;
  /** When a pump last read something of this CPU (the reader's clock, ms). */
  private readAt = 0;
  lost = 0;
  corruptPages = 0;
  fd = -1;
  statsFd = -1;
  private readonly stats = Buffer.alloc(512);
  private readonly capacity: number;

  constructor(
    readonly cpu: number,
    readonly directory: string,
    private readonly pageSize: number,
    private readonly maxQueued: number,
    private readonly timeBase: () => bigint,
  ) {
    this.capacity = pageSize - PAGE_HEADER_64.dataOffset;
  }

  /** Reads pages as `reach` says, at most FILL_PAGES and until TIME_UP says so; returns how many. */
  fill(reach: PumpReach, now: number, timeUp: () => boolean): number {
    this.dropDelivered();
    const room = Math.min(FILL_PAGES, this.maxQueued - (this.count - this.next + (this.hasRecord ? 1 : 0)));
    if (room <= 0) return 0;
    let read = 0;
    if (reach === 'filled') {
      // The stats file first: for an idle CPU it is the only cost of a pump (a read that
      // finds nothing throws EAGAIN, several times dearer).
      const unread = this.unreadBytes();
      if (unread === 0) {
        this.behind = false;
        return 0;
      }
      const filled = Math.min(Math.floor(unread / this.capacity), room);
      while (read < filled && this.readPage() !== null) {
        read++;
        if (read % FILL_CLOCK_PAGES === 0 && timeUp()) break;
      }
      if (read > 0) {
        // What is left is the page being filled: it waits for the next pumps.
        this.behind = true;
        this.readAt = now;
        return read;
      }
      // No page filled: a CPU that was caught up writes little, its page is read now; one
      // that is behind had been busy, its page waits FLUSH_MS to fill.
      if (this.behind && now - this.readAt < FLUSH_MS) return 0;
    }
    // Everything there is, up to the page being filled: reading on would chase the writer
    // through that page. The first page read may be the rest of one read before.
    while (read < room) {
      const page = this.readPage();
      if (page !== null) read++;
      if (page === null || (read > 1 && !isFinishedPage(page))) {
        this.behind = false;
        this.readAt = now;
        return read;
      }
      if (read % FILL_CLOCK_PAGES === 0 && timeUp()) break;
    }
    this.behind = true;
    return read;
  }

  /** Reads one page into the queue; null when the buffer is empty. */
  private readPage(): Buffer | null {
    let page = this.pages[this.count];
    if (page === undefined) this.pages.push((page = Buffer.allocUnsafe(this.pageSize)));
    let bytes: number;
    try {
      bytes = readSync(this.fd, page, 0, this.pageSize, null);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN') return null;
      throw error;
    }
    if (bytes === 0) return null;
    this.count++;
    return page;
  }

  /** Bytes the kernel holds for this CPU that no read has taken yet (`bytes:` of `stats`). */
  private unreadBytes(): number {
    const length = readSync(this.statsFd, this.stats, 0, this.stats.length, 0);
    const at = this.stats.subarray(0, length).indexOf(STATS_BYTES);
    if (at < 0) return 0;
    let value = 0;
    for (let index = at + STATS_BYTES.length; index < length; index++) {
      const digit = this.stats[index]! - 48;
      if (digit < 0 || digit > 9) break;
      value = value * 10 + digit;
    }
    return value;
  }

  /** Moves the pages already delivered behind the ones still queued, for reuse. */
  private dropDelivered(): void {
    const keepFrom = this.hasRecord ? this.next - 1 : this.next;
    if (keepFrom <= 0) return;
    const delivered = this.pages.splice(0, keepFrom);
    this.count -= keepFrom;
    this.next -= keepFrom;
    // Spares stay after the queued pages (those past `count` are already spares).
    const keep = Math.max(0, SPARE_PAGES - (this.pages.length - this.count));
    this.pages.splice(this.count, 0, ...delivered.slice(0, keep));
  }

  /** Moves to the next record; false when the pages read so far are used up. */
  advance(): boolean {
    const cursor = this.cursor;
    for (;;) {
      try {
        if (this.next > 0 && cursor.next()) break;
      } catch (error) {
        if (!(error instanceof RingBufferError)) throw error;
        this.corruptPages++;
      }
      if (this.next >= this.count) return (this.hasRecord = false);
      try {
        cursor.reset(this.pages[this.next++]!);
      } catch (error) {
        if (!(error instanceof RingBufferError)) throw error;
        this.corruptPages++;
        continue;
      }
      if (cursor.missedEvents) this.lost += cursor.missedCount > 0 ? cursor.missedCount : 1;
    }
    // Records carry a bigint base that changes once per page; the time is kept as a
    // number of ns since the reader's base so that comparing two records allocates nothing.
    if (cursor.timestampBase !== this.base) {
      this.base = cursor.timestampBase;
      this.baseTime = Number(this.base - this.timeBase());
    }
    this.time = this.baseTime + cursor.timestampOffset;
    return (this.hasRecord = true);
  }

  /** The first page not yet walked (its header time starts the reader's time base). */
  firstUnwalkedPage(): Buffer | undefined {
    return this.next < this.count ? this.pages[this.next] : undefined;
  }
}

export class RingReader {
  private readonly streams: CpuStream[];
  private readonly active: CpuStream[] = [];
  private timeBaseNs = -1n;
  /** The last pump ended for time with records still to deliver. */
  pending = false;

  /** CLOCK gives milliseconds (performance.now() but in tests of the FLUSH_MS and PUMP_MS rules). */
  constructor(instancePath: string, cpus: readonly number[], pageSize: number, private readonly clock: () => number = () => performance.now()) {
    const timeBase = (): bigint => this.timeBaseNs;
    const maxQueued = Math.max(256, Math.floor(QUEUE_BUDGET_BYTES / pageSize / Math.max(1, cpus.length)));
    this.streams = cpus.map((cpu) => new CpuStream(cpu, `${instancePath}/per_cpu/cpu${cpu}`, pageSize, maxQueued, timeBase));
  }

  /** Trace-clock time that record times are relative to (the first page seen sets it). */
  get timeBase(): bigint {
    return this.timeBaseNs;
  }

  open(): void {
    for (const stream of this.streams) {
      stream.fd = openSync(`${stream.directory}/trace_pipe_raw`, constants.O_RDONLY | constants.O_NONBLOCK);
      stream.statsFd = openSync(`${stream.directory}/stats`, constants.O_RDONLY);
    }
  }

  close(): void {
    for (const stream of this.streams) {
      if (stream.fd >= 0) closeSync(stream.fd);
      if (stream.statsFd >= 0) closeSync(stream.statsFd);
      stream.fd = stream.statsFd = -1;
    }
  }

  /**
   * Reads the buffers as far as `reach` says and delivers the records in timestamp order
   * across CPUs, as far as that order is known: a CPU that still has records in the kernel
   * holds back the records of the others that are later than its last one read. A backlog
   * is delivered for at most PUMP_MS, reading filled pages again as it goes (`pending` then
   * says that records are left). Returns the number of pages read (0: nothing new).
   */
  pump(deliver: RecordHandler, reach: PumpReach = 'all'): number {
    const started = this.clock();
    this.pumpEnd = started + PUMP_MS;
    let pages = this.fill(reach, started);
    this.pending = false;
    while (this.merge(deliver, TOPUP_RECORDS) === TOPUP_RECORDS) {
      const now = this.clock();
      if (now >= this.pumpEnd) {
        this.pending = true;
        break;
      }
      pages += this.fill('filled', now);
    }
    return pages;
  }

  /** When the current pump's PUMP_MS are up (the reader's clock). */
  private pumpEnd = 0;
  private readonly pumpTimeUp = (): boolean => this.clock() >= this.pumpEnd;

  private fill(reach: PumpReach, now: number): number {
    let pages = 0;
    for (const stream of this.streams) {
      const count = stream.fill(reach, now, this.pumpTimeUp);
      if (count === 0) continue;
      pages += count;
      if (this.timeBaseNs < 0n) this.timeBaseNs = stream.firstUnwalkedPage()!.readBigUInt64LE(0);
    }
    return pages;
  }

  /** Delivers up to `limit` records in time order; returns how many. */
  private merge(deliver: RecordHandler, limit: number): number {
    const active = this.active;
    active.length = 0;
    for (const stream of this.streams) {
      if (stream.hasRecord || stream.advance()) active.push(stream);
      else if (stream.behind) return 0;
    }
    // A k-way merge; k is the number of CPUs with data, usually small.
    let delivered = 0;
    while (active.length > 0 && delivered < limit) {
      let earliest = 0;
      for (let index = 1; index < active.length; index++) {
        if (active[index]!.time < active[earliest]!.time) earliest = index;
      }
      const stream = active[earliest]!;
      deliver(stream.cursor, stream.cpu, stream.time);
      delivered++;
      if (!stream.advance()) {
        if (stream.behind) break;
        active.splice(earliest, 1);
      }
    }
    return delivered;
  }

  /**
   * Drops every record read and not yet delivered (the drain ran out of time); returns how
   * many each CPU had.
   */
  discard(): Map<number, number> {
    const dropped = new Map<number, number>();
    for (const stream of this.streams) {
      let count = 0;
      while (stream.hasRecord || stream.advance()) {
        count++;
        stream.hasRecord = false;
      }
      dropped.set(stream.cpu, count);
    }
    this.pending = false;
    return dropped;
  }

  /** Events the kernel reported lost per CPU (missed-events flags on the pages read). */
  lostPerCpu(): Map<number, number> {
    return new Map(this.streams.map((stream) => [stream.cpu, stream.lost]));
  }

  corruptPages(): number {
    return this.streams.reduce((sum, stream) => sum + stream.corruptPages, 0);
  }
}
