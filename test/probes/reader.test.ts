// The ring-buffer reader: which pages count as finished (hand-built, recorded and live ones),
// and RingReader on a recorded-file source — per_cpu/cpuN/{trace_pipe_raw,stats} as plain
// files — for reading only filled pages, holding records back to keep the time order, the
// page being filled read after FLUSH_MS, a backlog delivered across pumps, and a fill bounded in time.

import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, closeSync, rmSync, writeFileSync, constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { recordPid } from '../../src/probes/fields';
import { FLUSH_MS, RingReader } from '../../src/probes/reader';
import { PageCursor, isFinishedPage } from '../../src/probes/ringbuf';
import { findTracefs, Instance } from '../../src/probes/tracefs';
import { PAGE_SIZE, PageBuilder, entry } from './pages';
import { skipFile } from '../support/skip';
import { compile, scratchDirectory, WORKLOAD_C } from '../support/workloads';

const FIXTURES = join(__dirname, '..', 'fixtures', 'ringbuf');
const CAPACITY = PAGE_SIZE - 16;

/** A page of records of event 1 whose pids label them, `step` ns apart from `start`. */
function page(start: bigint, pids: readonly number[], finished: boolean, step = 50): Buffer {
  const builder = new PageBuilder(start);
  pids.forEach((pid, index) => builder.data(index === 0 ? 0 : step, entry(1, pid)));
  return Buffer.from(finished ? builder.finish() : builder.commit());
}

/** A recorded source: each CPU's pages in its trace_pipe_raw, `bytes: N` in its stats. */
function source(t: Test, cpus: Buffer[][]): { directory: string; setUnread: (cpu: number, bytes: number) => void } {
  const directory = mkdtempSync(join(tmpdir(), 'ktap-reader-'));
  t.teardown(() => rmSync(directory, { recursive: true, force: true }));
  const setUnread = (cpu: number, bytes: number): void =>
    writeFileSync(join(directory, 'per_cpu', `cpu${cpu}`, 'stats'), `entries: 0\noverrun: 0\ncommit overrun: 0\nbytes: ${bytes}\n`);
  cpus.forEach((pages, cpu) => {
    mkdirSync(join(directory, 'per_cpu', `cpu${cpu}`), { recursive: true });
    writeFileSync(join(directory, 'per_cpu', `cpu${cpu}`, 'trace_pipe_raw'), Buffer.concat(pages));
    setUnread(cpu, 0);
  });
  return { directory, setUnread };
}

interface Delivered {
  pid: number;
  cpu: number;
  time: number;
}

function collector(): { records: Delivered[]; deliver: (record: PageCursor, cpu: number, time: number) => void } {
  const records: Delivered[] = [];
  return { records, deliver: (record, cpu, time) => records.push({ pid: recordPid(record, record.offset), cpu, time }) };
}

t.test('finished pages: full to the last bytes, or ending in the kernel’s padding', async (t) => {
  const records = Array.from({ length: 40 }, (_, index) => index + 1);
  t.ok(isFinishedPage(page(1000n, records, true)), 'unused end is one padding record');
  t.notOk(isFinishedPage(page(1000n, records, false)), 'committed data and stale bytes after it: still being written');

  const stale = page(1000n, records, false);
  stale.fill(0xab, 16 + (stale.readUInt32LE(8) & 0x3fffffff));
  t.notOk(isFinishedPage(stale), 'stale bytes after the data');

  const full = new PageBuilder(5n);
  while (PAGE_SIZE - full.position >= 16) full.data(1, entry(1, 7));
  t.ok(isFinishedPage(full.commit()), 'fewer than 8 bytes left: no room for a padding record, so full');

  const wrongLength = page(1000n, records, true);
  const end = 16 + (wrongLength.readUInt32LE(8) & 0x3fffffff);
  wrongLength.writeUInt32LE(wrongLength.readUInt32LE(end + 4) - 4, end + 4);
  t.notOk(isFinishedPage(wrongLength), 'a padding record that does not reach the end of the page');

  const stored = page(1000n, records, true);
  stored.writeUInt32LE((stored.readUInt32LE(8) | 0xc0000000) >>> 0, 8);
  t.notOk(isFinishedPage(stored), 'a stored missed-events count replaces the padding: undecided, so not finished');
  t.notOk(isFinishedPage(Buffer.alloc(8)), 'shorter than a page header');

  t.ok(isFinishedPage(readFileSync(join(FIXTURES, 'missed-cpu1-0.bin'))), 'recorded page filled to its last byte');
  t.notOk(isFinishedPage(readFileSync(join(FIXTURES, 'basic-cpu1-0.bin'))), 'recorded page read while the kernel still wrote into it');
});

t.test('filled pages only; a CPU that is behind holds back the later records of the others', async (t) => {
  const { directory, setUnread } = source(t, [
    [page(100n, [1, 2], true, 100), page(300n, [5], false)],
    [page(150n, [3, 4, 6], true, 100)],
  ]);
  // cpu0 has filled one page and is writing into the next; cpu1 has filled one.
  setUnread(0, CAPACITY + 60);
  setUnread(1, CAPACITY);
  const reader = new RingReader(directory, [0, 1], PAGE_SIZE);
  reader.open();
  t.teardown(() => reader.close());
  const { records, deliver } = collector();

  t.equal(reader.pump(deliver, 'filled'), 2, 'one finished page of each CPU');
  t.same(records.map((record) => record.pid), [1, 3, 2], 'cpu1’s records after cpu0’s last one wait: cpu0 may still have earlier ones');

  t.equal(reader.pump(deliver, 'all'), 1, 'the page being filled, read when everything is asked for');
  t.same(records.map((record) => record.pid), [1, 3, 2, 4, 5, 6], 'then in time order across both CPUs');
  t.same(records.map((record) => record.cpu), [0, 1, 0, 1, 0, 1]);
  t.ok(records.every((record, index) => index === 0 || record.time >= records[index - 1]!.time), 'times never go back');
  t.equal(reader.pump(deliver, 'all'), 0, 'nothing left');
});

t.test('the stats file says how many pages are filled; the page being filled waits FLUSH_MS', async (t) => {
  const pages = [1, 2, 3].map((index) => page(BigInt(index) * 10_000n, [index * 10, index * 10 + 1], true));
  const { directory, setUnread } = source(t, [[...pages, page(40_000n, [40], false)]]);
  setUnread(0, 3 * CAPACITY + 40);
  // The reader's clock is the test's: a busy machine cannot stretch the FLUSH_MS wait.
  let now = 1000;
  const reader = new RingReader(directory, [0], PAGE_SIZE, () => now);
  reader.open();
  t.teardown(() => reader.close());
  const { records, deliver } = collector();

  t.equal(reader.pump(deliver, 'filled'), 3, 'the three pages that stats counts as filled');
  t.same(records.map((record) => record.pid), [10, 11, 20, 21, 30, 31]);
  setUnread(0, 40);
  t.equal(reader.pump(deliver, 'filled'), 0, 'less than a page: the page being filled is left to the kernel');
  now += FLUSH_MS - 1;
  t.equal(reader.pump(deliver, 'filled'), 0, `still ${FLUSH_MS - 1} ms later`);
  now += 1;
  t.equal(reader.pump(deliver, 'filled'), 1, `after ${FLUSH_MS} ms without a filled page it is read as it is`);
  t.same(records.map((record) => record.pid), [10, 11, 20, 21, 30, 31, 40]);
  // A page the stats file does not count yet: only a read would find it.
  appendFileSync(join(directory, 'per_cpu', 'cpu0', 'trace_pipe_raw'), page(50_000n, [50], false));
  setUnread(0, 0);
  t.equal(reader.pump(deliver, 'filled'), 0, 'nothing unread: no read is tried');
  t.equal(reader.pump(deliver, 'all'), 1, 'a pump for everything reads it');
});

t.test('a CPU that was caught up has the page being filled read at once', async (t) => {
  const { directory, setUnread } = source(t, [[page(100n, [1, 2], false)]]);
  setUnread(0, 40);
  const reader = new RingReader(directory, [0], PAGE_SIZE);
  reader.open();
  t.teardown(() => reader.close());
  const { records, deliver } = collector();
  t.equal(reader.pump(deliver, 'filled'), 1);
  t.same(records.map((record) => record.pid), [1, 2]);
});

t.test('a backlog is delivered across pumps, in order, with `pending` set between them', async (t) => {
  const perPage = Math.floor(CAPACITY / 16);
  const pages = Array.from({ length: 30 }, (_, index) =>
    page(BigInt(index) * 100_000n, Array.from({ length: perPage }, (_, record) => index * perPage + record), true, 10));
  const { directory } = source(t, [pages]);
  // The reader's clock moves only in the handler, so a busy machine cannot make the fill
  // itself run out of time: what hands back here is the slow handler alone.
  let now = 0;
  const reader = new RingReader(directory, [0], PAGE_SIZE, () => now);
  reader.open();
  t.teardown(() => reader.close());
  const { records, deliver } = collector();
  let slow = true;
  const slowDeliver = (record: PageCursor, cpu: number, time: number): void => {
    if (slow) {
      // A handler that takes its time on the first record: the pump has to hand back.
      now += 60;
      slow = false;
    }
    deliver(record, cpu, time);
  };

  t.equal(reader.pump(slowDeliver, 'all'), 30);
  t.ok(reader.pending, 'records left for the next pump');
  t.ok(records.length > 0 && records.length < 30 * perPage, `part delivered (${records.length})`);
  while (reader.pump(deliver, 'all') > 0 || reader.pending);
  t.equal(records.length, 30 * perPage, 'all delivered');
  t.ok(records.every((record, index) => record.pid === index), 'in order, none twice');
});

t.test('a fill stops reading when the pump\'s time is up, and the next pumps go on in order', async (t) => {
  // Every read slow (the clock moves 8 ms each time it is looked at): 100 pages would hold
  // the event loop for long.
  const pages = Array.from({ length: 100 }, (_, index) => page(BigInt(index) * 1000n, [index], true));
  const { directory, setUnread } = source(t, [pages]);
  setUnread(0, 100 * CAPACITY);
  let now = 0;
  const reader = new RingReader(directory, [0], PAGE_SIZE, () => (now += 8));
  reader.open();
  t.teardown(() => reader.close());
  const { records, deliver } = collector();
  for (const reach of ['filled', 'all'] as const) {
    const first = reader.pump(deliver, reach);
    t.ok(first > 0 && first < 50, `${reach}: one pump read ${first} of the pages, not all`);
  }
  while (reader.pump(deliver, 'all') > 0 || reader.pending);
  t.same(records.map((record) => record.pid), pages.map((_, index) => index), 'every record once, in order');
});

let root = '';
let unavailable: string | undefined;
try {
  root = findTracefs();
  if (process.getuid?.() !== 0) unavailable = 'not running as root';
} catch (error) {
  unavailable = (error as Error).message;
}

if (unavailable !== undefined) {
  skipFile('tracefs unavailable', unavailable);
} else {
  t.test('live: every page the kernel moved on from is finished, the one it writes into is not', async (t) => {
    const instance = Instance.create(root);
    t.teardown(() => instance.remove());
    instance.setBufferSizeKb(256);
    // Only this test's workload: other processes' getppid calls (other tests running at the
    // same time) could overflow the small buffer, and a page with missed events is undecidable.
    instance.setEventPid([process.pid], true);
    instance.enableEvent('syscalls', 'sys_enter_getppid');
    const directory = scratchDirectory(t, 'reader-live');
    const workload = compile(directory, WORKLOAD_C, 'workload');
    const calls = 3000;
    const child = spawnSync(workload, ['getppid', String(calls)]);
    t.equal(child.status, 0, 'workload ran');
    instance.write('tracing_on', '0');

    let records = 0;
    const verdicts: boolean[][] = [];
    const cursor = new PageCursor();
    for (let cpu = 0; cpu < instance.cpuCount(); cpu++) {
      const fd = openSync(join(instance.directory, 'per_cpu', `cpu${cpu}`, 'trace_pipe_raw'), constants.O_RDONLY | constants.O_NONBLOCK);
      const pages: boolean[] = [];
      try {
        for (;;) {
          const buffer = Buffer.alloc(PAGE_SIZE);
          let bytes = 0;
          try {
            bytes = readSync(fd, buffer, 0, PAGE_SIZE, null);
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
          }
          if (bytes === 0) break;
          pages.push(isFinishedPage(buffer));
          cursor.reset(buffer);
          while (cursor.next()) if (recordPid(cursor, cursor.offset) === child.pid) records++;
        }
      } finally {
        closeSync(fd);
      }
      verdicts.push(pages);
    }
    t.equal(records, calls, 'every call recorded');
    const busy = verdicts.filter((pages) => pages.length > 1);
    t.ok(busy.length > 0, 'a CPU with more than one page');
    for (const pages of verdicts) {
      if (pages.length === 0) continue;
      t.same(pages.slice(0, -1).filter((finished) => !finished), [], 'all pages but the last finished');
      t.equal(pages[pages.length - 1], false, 'the last page is the one being written');
    }
  });
}
