// Per-CPU readers of the binary ring buffers (`per_cpu/cpuN/trace_pipe_raw`): read what is
// there without blocking, merge the CPUs' records by timestamp and count lost events.

import { closeSync, constants, openSync, readSync } from 'node:fs';
import { PageCursor, RingBufferError } from './ringbuf';

/** Receives each record in time order; the cursor's page/view/offset/length locate it. */
export type RecordHandler = (record: PageCursor, cpu: number, timeNs: number) => void;

/** Pages read per CPU in one pump before records are delivered (bounds memory and latency). */
const PAGES_PER_PUMP = 256;

/** The records of one CPU read in one pump: a list of pages walked with one cursor. */
class CpuStream {
  readonly pages: Buffer[] = [];
  pageCount = 0;
  private pageIndex = 0;
  readonly cursor = new PageCursor();
  /** Time of the current record, ns since the reader's time base. */
  time = 0;
  private base = -1n;
  private baseTime = 0;
  lost = 0;
  corruptPages = 0;
  fd = -1;

  constructor(
    readonly cpu: number,
    readonly path: string,
    private readonly pageSize: number,
    private readonly timeBase: () => bigint,
  ) {}

  /** Reads up to PAGES_PER_PUMP pages; returns how many. */
  fill(): number {
    this.pageCount = 0;
    this.pageIndex = 0;
    while (this.pageCount < PAGES_PER_PUMP) {
      let page = this.pages[this.pageCount];
      if (page === undefined) this.pages.push((page = Buffer.allocUnsafe(this.pageSize)));
      let bytes: number;
      try {
        bytes = readSync(this.fd, page, 0, this.pageSize, null);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EAGAIN') break;
        throw error;
      }
      if (bytes === 0) break;
      this.pageCount++;
    }
    return this.pageCount;
  }

  /** Moves to the next record of this pump; false when the pages are used up. */
  advance(): boolean {
    const cursor = this.cursor;
    for (;;) {
      try {
        if (this.pageIndex > 0 && cursor.next()) break;
      } catch (error) {
        if (!(error instanceof RingBufferError)) throw error;
        this.corruptPages++;
      }
      if (this.pageIndex >= this.pageCount) return false;
      try {
        cursor.reset(this.pages[this.pageIndex++]!);
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
    return true;
  }
}

export class RingReader {
  private readonly streams: CpuStream[];
  private timeBaseNs = -1n;

  constructor(instancePath: string, cpus: readonly number[], pageSize: number) {
    const timeBase = (): bigint => this.timeBaseNs;
    this.streams = cpus.map((cpu) => new CpuStream(cpu, `${instancePath}/per_cpu/cpu${cpu}/trace_pipe_raw`, pageSize, timeBase));
  }

  /** Trace-clock time that record times are relative to (the first page seen sets it). */
  get timeBase(): bigint {
    return this.timeBaseNs;
  }

  open(): void {
    for (const stream of this.streams) stream.fd = openSync(stream.path, constants.O_RDONLY | constants.O_NONBLOCK);
  }

  close(): void {
    for (const stream of this.streams) {
      if (stream.fd >= 0) closeSync(stream.fd);
      stream.fd = -1;
    }
  }

  /**
   * Reads what the buffers hold now and delivers it in timestamp order across CPUs.
   * Returns the number of pages read (0: the buffers were empty).
   */
  pump(deliver: RecordHandler): number {
    let pages = 0;
    const active: CpuStream[] = [];
    for (const stream of this.streams) {
      const count = stream.fill();
      if (count === 0) continue;
      pages += count;
      if (this.timeBaseNs < 0n) this.timeBaseNs = stream.pages[0]!.readBigUInt64LE(0);
      if (stream.advance()) active.push(stream);
    }
    // A k-way merge; k is the number of CPUs with data, usually small.
    while (active.length > 0) {
      let earliest = 0;
      for (let index = 1; index < active.length; index++) {
        if (active[index]!.time < active[earliest]!.time) earliest = index;
      }
      const stream = active[earliest]!;
      deliver(stream.cursor, stream.cpu, stream.time);
      if (!stream.advance()) active.splice(earliest, 1);
    }
    return pages;
  }

  /** Events the kernel reported lost per CPU (missed-events flags on the pages read). */
  lostPerCpu(): Map<number, number> {
    return new Map(this.streams.map((stream) => [stream.cpu, stream.lost]));
  }

  corruptPages(): number {
    return this.streams.reduce((sum, stream) => sum + stream.corruptPages, 0);
  }
}
