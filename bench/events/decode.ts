// Decoder micro-benchmark: records per second through PageCursor over the recorded pages of
// test/fixtures/ringbuf, alone and with the per-record reads a dispatcher does.
//
//   node --import=tsx bench/events/decode.ts [--seconds N]
//
// Each variant runs in a process of its own: in one process the JIT specialises the shared
// decoder for the first variant and the later ones measure its deoptimised code.

import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseEventFormat, type EventLayout } from '../../src/probes/format';
import { readField, recordEventId, recordPid } from '../../src/probes/fields';
import { PageCursor } from '../../src/probes/ringbuf';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'fixtures', 'ringbuf');
const secondsIndex = process.argv.indexOf('--seconds');
const SECONDS = secondsIndex > 0 ? Number(process.argv[secondsIndex + 1]) : 2;

const pages = readdirSync(FIXTURES).filter((name) => name.endsWith('.bin')).sort()
  .map((name) => readFileSync(join(FIXTURES, name)));
// Layouts indexed by event id, as the dispatcher will hold them: a dense array (filled up to
// the highest id), since a sparse one falls back to dictionary lookups at several times the cost.
const parsed = readdirSync(join(FIXTURES, 'formats'))
  .map((name) => parseEventFormat(readFileSync(join(FIXTURES, 'formats', name), 'latin1'), name.split('.')[0]!));
const layouts: (EventLayout | undefined)[] = new Array(Math.max(...parsed.map((layout) => layout.id)) + 1).fill(undefined);
for (const layout of parsed) layouts[layout.id] = layout;

const cursor = new PageCursor();

/** One pass over every page; returns the number of records and a checksum the JIT cannot drop. */
type Pass = () => [records: number, checksum: number];

const walk: Pass = () => {
  let records = 0;
  let checksum = 0;
  for (const page of pages) {
    cursor.reset(page);
    while (cursor.next()) {
      records++;
      checksum += cursor.length;
    }
  }
  return [records, checksum];
};

const dispatch: Pass = () => {
  let records = 0;
  let checksum = 0;
  for (const page of pages) {
    cursor.reset(page);
    while (cursor.next()) {
      const layout = layouts[recordEventId(cursor, cursor.offset)];
      if (layout === undefined) continue;
      records++;
      checksum += recordPid(cursor, cursor.offset) + layout.fields.length;
    }
  }
  return [records, checksum];
};

const firstField: Pass = () => {
  let records = 0;
  let checksum = 0;
  for (const page of pages) {
    cursor.reset(page);
    while (cursor.next()) {
      const layout = layouts[recordEventId(cursor, cursor.offset)];
      if (layout === undefined) continue;
      records++;
      const value = readField(cursor, cursor.offset, cursor.length, layout.fields[0]!);
      checksum += typeof value === 'number' ? value : 1;
    }
  }
  return [records, checksum];
};

const withTimestamp: Pass = () => {
  let records = 0;
  let checksum = 0;
  for (const page of pages) {
    cursor.reset(page);
    while (cursor.next()) {
      records++;
      checksum += Number(cursor.timestamp & 0xffn);
    }
  }
  return [records, checksum];
};

function measure(name: string, pass: Pass): void {
  for (let warm = 0; warm < 2000; warm++) pass();
  let records = 0;
  let checksum = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(SECONDS * 1e9);
  let now = start;
  while (now < deadline) {
    for (let repeat = 0; repeat < 100; repeat++) {
      const [count, sum] = pass();
      records += count;
      checksum += sum;
    }
    now = process.hrtime.bigint();
  }
  const seconds = Number(now - start) / 1e9;
  const perSecond = records / seconds;
  process.stdout.write(`${name.padEnd(34)} ${(perSecond / 1e6).toFixed(1).padStart(6)} M records/s  ${(1e9 / perSecond).toFixed(1).padStart(5)} ns/record  (checksum ${checksum % 1000})\n`);
}

const VARIANTS: Record<string, [description: string, pass: Pass]> = {
  walk: ['walk (header, offset, length)', walk],
  dispatch: ['walk + event id + pid', dispatch],
  field: ['walk + id + first field', firstField],
  timestamp: ['walk + bigint timestamp', withTimestamp],
};

const variantIndex = process.argv.indexOf('--variant');
if (variantIndex > 0) {
  const [description, pass] = VARIANTS[process.argv[variantIndex + 1]!]!;
  measure(description, pass);
} else {
  process.stdout.write(`${pages.length} pages, node ${process.version}\n`);
  for (const variant of Object.keys(VARIANTS)) {
    const result = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--variant', variant, '--seconds', String(SECONDS)], { stdio: 'inherit' });
    if (result.status !== 0) process.exit(1);
  }
}
