// The page decoder and field accessors on pages recorded from this kernel (test/fixtures/
// ringbuf, see record.ts there), on hand-built pages for the rarer records, and on hostile ones.

import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEventFormat, type EventLayout, type FieldLayout } from '../../src/probes/format';
import {
  readField, recordEventId, recordFlags, recordPid, recordPreemptCount,
  TRACE_FLAG_HARDIRQ, TRACE_FLAG_IRQS_OFF, TRACE_FLAG_NMI, TRACE_FLAG_SOFTIRQ, type FieldValue,
} from '../../src/probes/fields';
import { PageCursor, RingBufferError } from '../../src/probes/ringbuf';
import { DATA_OFFSET, PAGE_SIZE, PageBuilder, entry } from './pages';

const FIXTURES = join(__dirname, '..', 'fixtures', 'ringbuf');

interface Scenario {
  events: string[];
  cpu: number;
  childPid: number;
  getppidCalls: number;
  pages: string[];
}
const description = JSON.parse(readFileSync(join(FIXTURES, 'fixtures.json'), 'utf8')) as {
  recorderPid: number;
  basic: Scenario & { sleepMs: number; execPath: string };
  missed: Scenario;
  stored: Scenario;
};

const layouts = new Map<number, EventLayout>();
for (const file of readdirSync(join(FIXTURES, 'formats'))) {
  const layout = parseEventFormat(readFileSync(join(FIXTURES, 'formats', file), 'latin1'), file.split('.')[0]!);
  layouts.set(layout.id, layout);
}

interface DecodedRecord {
  timestamp: bigint;
  offset: number;
  length: number;
  event: string;
  pid: number;
  flags: number;
  preemptCount: number;
  fields: Record<string, FieldValue>;
}

/** Every record of a page with its fields decoded (the slow, convenient way). */
function decode(page: Uint8Array, cursor = new PageCursor()): DecodedRecord[] {
  cursor.reset(page);
  const records: DecodedRecord[] = [];
  while (cursor.next()) {
    const layout = layouts.get(recordEventId(cursor, cursor.offset));
    const fields: Record<string, FieldValue> = {};
    for (const field of layout?.fields ?? []) fields[field.name] = readField(cursor, cursor.offset, cursor.length, field);
    records.push({
      timestamp: cursor.timestamp,
      offset: cursor.offset,
      length: cursor.length,
      event: layout ? `${layout.system}:${layout.name}` : `unknown ${recordEventId(cursor, cursor.offset)}`,
      pid: recordPid(cursor, cursor.offset),
      flags: recordFlags(cursor, cursor.offset),
      preemptCount: recordPreemptCount(cursor, cursor.offset),
      fields,
    });
  }
  return records;
}

function fixturePage(name: string): Buffer {
  return readFileSync(join(FIXTURES, name));
}

function count(records: DecodedRecord[], event: string, pid: number): number {
  return records.filter((record) => record.event === event && record.pid === pid).length;
}

function isNonDecreasing(timestamps: bigint[]): boolean {
  return timestamps.every((timestamp, index) => index === 0 || timestamp >= timestamps[index - 1]!);
}

t.test('basic page: the child’s calls, with its pid and the recorded event ids', async (t) => {
  const { basic, recorderPid } = description;
  t.equal(basic.pages.length, 1);
  const cursor = new PageCursor();
  const records = decode(fixturePage(basic.pages[0]!), cursor);
  const child = basic.childPid;

  t.equal(count(records, 'syscalls:sys_enter_getppid', child), basic.getppidCalls);
  t.equal(count(records, 'syscalls:sys_exit_getppid', child), basic.getppidCalls);
  const exits = records.filter((record) => record.event === 'syscalls:sys_exit_getppid');
  t.ok(exits.every((record) => record.fields.ret === recorderPid), 'getppid returned the recorder’s pid');
  t.ok(records.every((record) => !record.event.startsWith('unknown')), 'every id is one of the recorded formats');
  t.ok(records.every((record) => (record.flags & TRACE_FLAG_NMI) === 0), 'no NMI context');

  const timestamps = records.map((record) => record.timestamp);
  t.ok(isNonDecreasing(timestamps), 'timestamps never go back');
  t.equal(timestamps[0], cursor.pageTimestamp, 'the first record is at the page’s time');

  // The child slept between its two bursts of getppid: the gap needs a time extend.
  t.ok(cursor.timeExtendRecords >= 1, 'a time-extend record');
  const gaps = timestamps.slice(1).map((timestamp, index) => timestamp - timestamps[index]!);
  const longest = gaps.reduce((a, b) => (a > b ? a : b));
  t.ok(longest > 2n ** 27n && longest >= BigInt(basic.sleepMs) * 900_000n, `a gap of ${longest} ns`);
  t.equal(cursor.paddingRecords, 0);
  t.equal(cursor.timeStampRecords, 0, 'this kernel writes delta timestamps');

  const exec = records.find((record) => record.event === 'sched:sched_process_exec');
  t.equal(exec?.fields.filename, basic.execPath, '__data_loc string');
  const fork = records.find((record) => record.event === 'sched:sched_process_fork' && record.pid === child);
  t.equal(fork?.fields.parent_pid, child);
  t.equal(fork?.fields.child_pid, exec?.pid, 'the forked child is the one that exec’d');
  t.equal(fork?.fields.parent_comm, 'node');
  t.equal(fork?.fields.child_comm, 'node');

  const switches = records.filter((record) => record.event === 'sched:sched_switch');
  t.ok(switches.length > 0);
  t.ok(switches.every((record) => record.pid === record.fields.prev_pid), 'sched_switch is recorded by the task leaving');
  t.ok(switches.every((record) => (record.flags & TRACE_FLAG_IRQS_OFF) !== 0), 'the scheduler runs with irqs off');
  t.ok(switches.some((record) => record.fields.prev_comm === 'true' || record.fields.next_comm === 'true'), 'char[16] comm');
  t.ok(switches.every((record) => typeof record.fields.prev_state === 'number'));
  const syscalls = records.filter((record) => record.event.startsWith('syscalls:'));
  t.ok(syscalls.every((record) => (record.flags & (TRACE_FLAG_HARDIRQ | TRACE_FLAG_SOFTIRQ)) === 0), 'syscalls in task context');

  // The C library passes AT_FDCWD as a 32-bit int: the 8-byte argument holds 0xffffff9c.
  const openat = records.find((record) => record.event === 'syscalls:sys_enter_openat' && record.pid === child);
  t.equal(openat?.fields.dfd, 0xffffff9c);
  t.equal(typeof openat?.fields.filename, 'number', 'a user pointer is a number');

  t.ok(syscalls.every((record) => (record.preemptCount & 0x0f) === 0), 'syscalls run preemptible');
  t.ok(switches.every((record) => (record.preemptCount & 0x0f) > 0), 'the scheduler runs with preemption off');
});

t.test('missed events: the flag without a count', async (t) => {
  const { missed } = description;
  t.ok(missed.pages.length >= 2);
  const cursor = new PageCursor();
  const first = decode(fixturePage(missed.pages[0]!), cursor);
  t.equal(cursor.missedEvents, true);
  t.equal(cursor.missedCount, -1, 'a full page has no room for the count');
  t.equal(cursor.dataEnd, PAGE_SIZE, '20 + 28 byte records fill the page exactly');
  t.ok(first.every((record) => record.pid === missed.childPid && record.event.startsWith('syscalls:sys_')));
  const all = [first];
  for (const name of missed.pages.slice(1)) {
    all.push(decode(fixturePage(name), cursor));
    t.equal(cursor.missedEvents, false, `${name}: nothing missed since the previous page`);
    t.equal(cursor.missedCount, 0);
  }
  t.ok(isNonDecreasing(all.flat().map((record) => record.timestamp)), 'timestamps increase across pages');
  t.ok(all.flat().length < 2 * missed.getppidCalls);
});

t.test('missed events: the stored count accounts for every call', async (t) => {
  const { stored } = description;
  const cursor = new PageCursor();
  let decoded = 0;
  let missedTotal = 0;
  for (const name of stored.pages) {
    const records = decode(fixturePage(name), cursor);
    t.ok(records.every((record) => record.event === 'syscalls:sys_exit_getppid' && record.pid === stored.childPid));
    decoded += records.length;
    if (cursor.missedEvents) {
      t.ok(cursor.missedCount > 0, `${name}: ${cursor.missedCount} missed`);
      missedTotal += cursor.missedCount;
    }
  }
  t.ok(missedTotal > 0);
  t.equal(decoded + missedTotal, stored.getppidCalls, 'decoded + missed = calls');
});

t.test('every recorded record lies inside its page’s data', async (t) => {
  const cursor = new PageCursor();
  const names = readdirSync(FIXTURES).filter((name) => name.endsWith('.bin'));
  t.ok(names.length >= 5);
  for (const name of names) {
    const page = fixturePage(name);
    t.equal(page.length, PAGE_SIZE);
    const records = decode(page, cursor);
    t.ok(records.length > 0, name);
    t.ok(records.every((record) => record.offset >= DATA_OFFSET && record.offset + record.length <= cursor.dataEnd), name);
  }
});

/** Writes records into a page the way the kernel does. */
function walk(page: Uint8Array, cursor = new PageCursor()): { timestamps: bigint[]; pids: number[]; lengths: number[] } {
  cursor.reset(page);
  const result = { timestamps: [] as bigint[], pids: [] as number[], lengths: [] as number[] };
  while (cursor.next()) {
    result.timestamps.push(cursor.timestamp);
    result.pids.push(recordPid(cursor, cursor.offset));
    result.lengths.push(cursor.length);
  }
  return result;
}

t.test('hand-built pages: every record type', async (t) => {
  const cursor = new PageCursor();
  const page = new PageBuilder(1_000_000n)
    .data(0, entry(1, 10))
    .data(5, entry(1, 11, 200)) // 208 bytes: needs the length word
    .data(7, entry(1, 12), true) // small, but written with a length word (8-byte-aligned arches)
    .padding(1000, 20) // a discarded event: skipped, its delta ignored
    .data(3, entry(1, 13))
    .extend(5n * 2n ** 27n + 9n)
    .data(0, entry(1, 14))
    .commit();
  const result = walk(page, cursor);
  t.same(result.pids, [10, 11, 12, 13, 14]);
  t.same(result.lengths, [12, 208, 12, 12, 12]);
  t.same(result.timestamps, [1_000_000n, 1_000_005n, 1_000_012n, 1_000_015n, 1_000_015n + 5n * 2n ** 27n + 9n]);
  t.equal(cursor.paddingRecords, 1);
  t.equal(cursor.timeExtendRecords, 1);

  const nulls = new PageBuilder(50n).data(1, entry(1, 20)).nullPadding().data(0, entry(1, 21)).commit();
  t.same(walk(nulls).pids, [20], 'a null padding ends the page');

  const empty = new PageBuilder(50n).commit();
  t.same(walk(empty, cursor).pids, []);
  t.equal(cursor.pageTimestamp, 50n);
  t.equal(cursor.next(), false, 'stays at the end');
});

t.test('hand-built pages: absolute timestamps and wide time', async (t) => {
  // rb_fix_abs_ts: the record holds 59 bits; the top 5 come from the running time, plus a
  // carry when the low part wrapped.
  const top = 0b10101n << 59n;
  const before = top | ((1n << 59n) - 100n);
  const page = new PageBuilder(before)
    .data(0, entry(1, 1))
    .absolute(before + 50n) // same top bits
    .data(2, entry(1, 2))
    .absolute(before + 200n) // low bits wrapped past 2^59: the carry goes into the top bits
    .data(0, entry(1, 3))
    .commit();
  const cursor = new PageCursor();
  const result = walk(page, cursor);
  t.same(result.timestamps, [before, before + 52n, before + 200n]);
  t.equal(cursor.timeStampRecords, 2);

  const small = new PageBuilder(7n).absolute(123_456_789_012n).data(1, entry(1, 1)).commit();
  t.same(walk(small).timestamps, [123_456_789_013n], 'clocks below 2^59 need no fix');

  // Extends that add up past 2^53 ns stay exact.
  const huge = 2n ** 58n + 12345n;
  const wide = new PageBuilder(2n ** 62n).extend(huge).data(1, entry(1, 1)).extend(huge).data(0, entry(1, 2)).commit();
  t.same(walk(wide).timestamps, [2n ** 62n + huge + 1n, 2n ** 62n + 2n * huge + 1n]);
});

t.test('missed-event flags on hand-built pages', async (t) => {
  const cursor = new PageCursor();
  const builder = new PageBuilder(1n).data(0, entry(1, 1));
  const stored = Buffer.from(builder.commit(0xc0000000));
  stored.writeUInt32LE(77, builder.position);
  stored.writeUInt32LE(1, builder.position + 4);
  cursor.reset(stored);
  t.equal(cursor.missedEvents, true);
  t.equal(cursor.missedCount, 2 ** 32 + 77, 'the count is an unsigned long');
  t.equal(cursor.dataEnd, builder.position, 'the count is not data');

  // The kernel's 64-bit commit word after local_add(1 << 31): the high half sign-extended.
  const flagged = Buffer.from(builder.commit(0x80000000));
  flagged.writeUInt32LE(0xffffffff, 12);
  cursor.reset(flagged);
  t.equal(cursor.missedEvents, true);
  t.equal(cursor.missedCount, -1);
  t.same(walk(flagged, cursor).pids, [1]);
});

t.test('a cursor takes Uint8Arrays and starts afresh on each page', async (t) => {
  const cursor = new PageCursor();
  const buffer = new PageBuilder(9n).data(0, entry(1, 5)).extend(2n ** 30n).data(0, entry(1, 6)).commit();
  const copy = new Uint8Array(PAGE_SIZE + 8);
  copy.set(buffer, 8);
  const view = copy.subarray(8); // not at the start of its ArrayBuffer
  t.same(walk(view, cursor).pids, [5, 6]);
  t.equal(cursor.timeExtendRecords, 1);
  t.ok(walk(fixturePage(description.stored.pages[0]!), cursor).pids.length > 0);
  t.equal(cursor.timeExtendRecords, 0, 'counters restart');
  t.same(walk(view, cursor).timestamps, [9n, 9n + 2n ** 30n]);
});

t.test('hostile pages: a RingBufferError or a clean stop, never a read outside the page', async (t) => {
  const rejection = (page: Uint8Array): string => {
    const cursor = new PageCursor();
    try {
      cursor.reset(page);
      while (cursor.next()) { /* records before the fault are fine */ }
      return 'accepted';
    } catch (error) {
      t.type(error, RingBufferError);
      t.equal(cursor.next(), false, 'the cursor stays at the end after an error');
      return (error as Error).message;
    }
  };
  const good = () => new PageBuilder(1n).data(0, entry(1, 1)).data(0, entry(1, 2));

  t.equal(rejection(new Uint8Array(10)), 'corrupt ring-buffer page: 10 bytes, shorter than its header');
  t.equal(rejection(new Uint8Array(16)), 'accepted', 'a bare header with commit 0');
  t.equal(rejection(good().commit(0, PAGE_SIZE)), 'corrupt ring-buffer page: commit 4096 beyond the page\'s 4080 data bytes');
  t.equal(rejection(good().commit().subarray(0, 30)), 'corrupt ring-buffer page: commit 32 beyond the page\'s 14 data bytes', 'truncated page');
  t.equal(rejection(good().commit(0, 34)), 'corrupt ring-buffer page: record at offset 48: truncated record header');
  t.equal(rejection(good().commit(0, 20)), 'corrupt ring-buffer page: record at offset 32: data length 12 runs past the data end');

  const large = new PageBuilder(1n).data(0, entry(1, 1, 200));
  large.page.writeUInt32LE(5000, DATA_OFFSET + 4);
  t.equal(rejection(large.commit()), 'corrupt ring-buffer page: record at offset 16: data length 5000 runs past the data end');
  large.page.writeUInt32LE(2, DATA_OFFSET + 4);
  t.equal(rejection(large.commit()), 'corrupt ring-buffer page: record at offset 16: data length 2 runs past the data end');
  t.equal(rejection(new PageBuilder(1n).data(0, entry(1, 1, 200)).commit(0, 6)), 'corrupt ring-buffer page: record at offset 16: truncated record');

  const padding = new PageBuilder(1n).padding(1, 4000);
  t.equal(rejection(padding.commit(0, 64)), 'corrupt ring-buffer page: record at offset 16: padding length 4000 runs past the data end');
  t.equal(rejection(new PageBuilder(1n).padding(1, 0).commit(0, 8)), 'corrupt ring-buffer page: record at offset 16: padding length 0 runs past the data end', 'a zero-length padding would loop');
  t.equal(rejection(new PageBuilder(1n).extend(5n).commit(0, 4)), 'corrupt ring-buffer page: record at offset 16: truncated record');

  t.equal(rejection(good().commit(0x40000000, 4080 - 4)), 'corrupt ring-buffer page: missed-events count flagged but not stored');
  t.equal(rejection(good().commit(0x40000000)), 'corrupt ring-buffer page: missed-events count flagged but not stored', 'stored without the missed flag');
});

t.test('fuzzed pages: only RingBufferError, records always inside the data', async (t) => {
  let seed = 0x12345678;
  const random = (limit: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % limit;
  };
  const sources = readdirSync(FIXTURES).filter((name) => name.endsWith('.bin')).map(fixturePage);
  const cursor = new PageCursor();
  let errors = 0;
  let records = 0;
  let outside = 0;
  let wrongClass = 0;
  for (let round = 0; round < 3000; round++) {
    const page = Buffer.from(sources[round % sources.length]!);
    const mutations = 1 + random(8);
    for (let index = 0; index < mutations; index++) {
      const where = random(4) === 0 ? 8 + random(8) : random(PAGE_SIZE); // the commit word often
      page[where] = random(256);
    }
    const length = random(5) === 0 ? random(PAGE_SIZE) : PAGE_SIZE;
    try {
      cursor.reset(page.subarray(0, length));
      while (cursor.next()) {
        records++;
        if (cursor.offset < DATA_OFFSET || cursor.offset + cursor.length > cursor.dataEnd || cursor.dataEnd > length) outside++;
        const layout = layouts.get(recordEventId(cursor, cursor.offset));
        for (const field of layout?.fields ?? []) readField(cursor, cursor.offset, cursor.length, field);
      }
    } catch (error) {
      if (error instanceof RingBufferError) errors++;
      else wrongClass++;
    }
  }
  t.equal(wrongClass, 0, 'no RangeError or TypeError');
  t.equal(outside, 0);
  t.ok(errors > 0 && records > 0, `${errors} rejected pages, ${records} records decoded`);
});

t.test('field values', async (t) => {
  const cursor = new PageCursor();
  const field = (name: string, type: string, offset: number, size: number, signed: boolean, kind: FieldLayout['kind']): FieldLayout =>
    ({ name, type, offset, size, signed, kind });
  const payload = Buffer.alloc(96);
  payload.writeBigUInt64LE(0xffffffffffffffffn, 8);
  payload.writeBigUInt64LE(2n ** 63n, 16);
  payload.writeBigInt64LE(2n ** 53n, 24);
  payload.writeBigInt64LE(2n ** 53n - 1n, 32);
  payload.writeBigInt64LE(-(2n ** 53n) + 1n, 40);
  payload.writeUInt32LE(0xffffffff, 48);
  payload.write('abc\0def', 52, 'latin1');
  payload.write('0123456789abcdef', 60, 'latin1'); // char[16] without a NUL
  payload.writeUInt32LE((6 << 16) | 84, 76); // data_loc: 6 bytes at 84
  payload.writeUInt32LE((4 << 16) | 0, 80); // rel_loc: 4 bytes right after the field
  payload.write('h\xe9\xffo\0x', 84, 'latin1');
  const page = new PageBuilder(1n).data(0, payload).commit();
  cursor.reset(page);
  t.ok(cursor.next());
  const read = (layout: FieldLayout, length = cursor.length) => readField(cursor, cursor.offset, length, layout);

  t.equal(read(field('u64', 'u64', 8, 8, false, 'int')), -1, 'unsigned 64-bit ≥ 2^63 reads as negative');
  t.equal(read(field('min', 'u64', 16, 8, false, 'int')), -(2n ** 63n));
  t.equal(read(field('big', 's64', 24, 8, true, 'int')), 2n ** 53n, 'beyond the safe range: bigint');
  t.equal(read(field('safe', 's64', 32, 8, true, 'int')), 2 ** 53 - 1);
  t.equal(read(field('negative', 's64', 40, 8, true, 'int')), -(2 ** 53) + 1);
  t.equal(read(field('u32', 'u32', 48, 4, false, 'int')), 0xffffffff);
  t.equal(read(field('s32', 's32', 48, 4, true, 'int')), -1);
  t.equal(read(field('u16', 'u16', 48, 2, false, 'int')), 0xffff);
  t.equal(read(field('s16', 's16', 48, 2, true, 'int')), -1);
  t.equal(read(field('u8', 'u8', 48, 1, false, 'int')), 0xff);
  t.equal(read(field('s8', 's8', 48, 1, true, 'int')), -1);
  t.equal(read(field('name', 'char[8]', 52, 8, false, 'chars')), 'abc', 'up to the first NUL');
  t.equal(read(field('comm', 'char[16]', 60, 16, false, 'chars')), '0123456789abcdef', 'a full array');
  t.equal(read(field('path', '__data_loc char[]', 76, 4, false, 'dataloc')), 'h\xe9\xffo', 'bytes as char codes');
  t.equal(read(field('tail', '__rel_loc char[]', 80, 4, false, 'relloc')), 'h\xe9\xffo');
  t.equal(read(field('buf', 'char[]', 84, 0, false, 'chars')), 'h\xe9\xffo', 'char[] runs to the record end');
  t.equal(read(field('uuid', 'u8[16]', 8, 16, false, 'other')), undefined);

  t.equal(read(field('outside', 'u64', 92, 8, false, 'int')), undefined, 'a field past the record is nil');
  t.equal(read(field('path', '__data_loc char[]', 76, 4, false, 'dataloc'), 88), undefined, 'a string past the record is nil');
  payload.writeUInt32LE(0xffffffff, 76);
  const hostile = new PageBuilder(1n).data(0, payload).commit();
  cursor.reset(hostile);
  t.ok(cursor.next());
  t.equal(read(field('path', '__data_loc char[]', 76, 4, false, 'dataloc')), undefined);
  t.equal(read(field('buf', 'char[]', 84, 0, false, 'chars'), 80), undefined, 'a tail past the record is nil');
});
