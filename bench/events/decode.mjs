#!/usr/bin/env node
// Decoder micro-benchmark: records per second through PageCursor over the recorded pages of
// test/fixtures/ringbuf, alone and with the per-record reads a dispatcher does.
//
//   node bench/events/decode.mjs [--seconds N]
//
// It measures the decoder as ktap ships it: this file bundles itself with esbuild (as
// build.mjs bundles the CLI; under tsx's per-module wrappers cross-module calls cost several
// times more), then runs each variant in a process of its own, since in one process the JIT
// specialises the shared decoder for the first variant and the others would measure
// deoptimised code.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const VARIANTS = {
  walk: 'walk (header, offset, length)',
  dispatch: 'walk + event id + pid',
  field: 'walk + id + first field',
  timestamp: 'walk + bigint timestamp',
};

function option(name, fallback) {
  const index = process.argv.indexOf(name);
  return index > 0 ? process.argv[index + 1] : fallback;
}
const seconds = Number(option('--seconds', '2'));
const self = fileURLToPath(import.meta.url);
// The bundle runs from a temporary directory, so it is told where the fixtures are.
const fixtures = option('--fixtures', join(dirname(self), '..', '..', 'test', 'fixtures', 'ringbuf'));
const variant = option('--variant', undefined);

if (variant === undefined) {
  const { build } = await import('esbuild');
  const directory = mkdtempSync(join(tmpdir(), 'ktap-bench-decode-'));
  const bundle = join(directory, 'decode.mjs');
  try {
    await build({
      entryPoints: [self], outfile: bundle, bundle: true, platform: 'node', target: 'node20',
      format: 'esm', logLevel: 'warning',
    });
    const pageCount = readdirSync(fixtures).filter((file) => file.endsWith('.bin')).length;
    process.stdout.write(`${pageCount} recorded pages, node ${process.version}\n`);
    for (const name of Object.keys(VARIANTS)) {
      const result = spawnSync(process.execPath, [bundle, '--variant', name, '--seconds', String(seconds), '--fixtures', fixtures], { stdio: 'inherit' });
      if (result.status !== 0) process.exit(1);
    }
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
} else {
  await measure(variant);
}

async function measure(name) {
  const { parseEventFormat } = await import('../../src/probes/format.ts');
  const { readField, recordEventId, recordPid } = await import('../../src/probes/fields.ts');
  const { PageCursor } = await import('../../src/probes/ringbuf.ts');
  const pages = readdirSync(fixtures).filter((file) => file.endsWith('.bin')).sort()
    .map((file) => readFileSync(join(fixtures, file)));
  // Layouts indexed by event id, as the dispatcher will hold them: a dense array (filled up
  // to the highest id), since a sparse one falls back to dictionary lookups.
  const parsed = readdirSync(join(fixtures, 'formats'))
    .map((file) => parseEventFormat(readFileSync(join(fixtures, 'formats', file), 'latin1'), file.split('.')[0]));
  const layouts = new Array(Math.max(...parsed.map((layout) => layout.id)) + 1).fill(undefined);
  for (const layout of parsed) layouts[layout.id] = layout;
  const cursor = new PageCursor();

  // What each variant reads per record; the sum of what it returns is printed, so that the
  // JIT cannot drop the reads.
  let checksum = 0;
  const perRecord = {
    walk: () => cursor.length,
    dispatch() {
      const layout = layouts[recordEventId(cursor, cursor.offset)];
      return layout === undefined ? 0 : recordPid(cursor, cursor.offset) + layout.fields.length;
    },
    field() {
      const layout = layouts[recordEventId(cursor, cursor.offset)];
      if (layout === undefined) return 0;
      const value = readField(cursor, cursor.offset, cursor.length, layout.fields[0]);
      return typeof value === 'number' ? value : 1;
    },
    timestamp: () => Number(cursor.timestamp & 0xffn),
  };
  const read = perRecord[name];
  /** One pass over every page: the number of records. */
  const pass = () => {
    let records = 0;
    let sum = 0;
    for (const page of pages) {
      cursor.reset(page);
      while (cursor.next()) {
        records++;
        sum += read();
      }
    }
    checksum = (checksum + sum) % 1000;
    return records;
  };

  for (let warm = 0; warm < 2000; warm++) pass();
  let records = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  let now = start;
  while (now < deadline) {
    for (let repeat = 0; repeat < 100; repeat++) records += pass();
    now = process.hrtime.bigint();
  }
  const perSecond = records / (Number(now - start) / 1e9);
  process.stdout.write(`${VARIANTS[name].padEnd(32)} ${(perSecond / 1e6).toFixed(1).padStart(6)} M records/s  ${(1e9 / perSecond).toFixed(1).padStart(5)} ns/record  (checksum ${checksum})\n`);
}
