#!/usr/bin/env node
// Event-path benchmark: the recorded ring-buffer pages of test/fixtures/ringbuf replayed
// through ktap's live classes (RingReader → KernelEvents.deliver → Session → VM), no kernel.
//
//   node bench/events/event-path.mjs [--runs N] [--seconds S]
//
// The work is done by event-path-worker.ts, bundled here with esbuild as build.mjs bundles
// the CLI (cross-module calls under tsx's per-module wrappers cost several times more), and
// run once per variant and run in a process of its own: in one process the JIT would
// specialise the shared code for the first variant and measure the others deoptimised.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
const FIXTURES = join(ROOT, 'test', 'fixtures', 'ringbuf');
const FORMATS = join(HERE, 'formats');

export const TARGET_EVENTS_PER_SECOND = 3_000_000;

/** The variants, primary first: name and what the figure includes. */
export const VARIANTS = [
  { name: 'full', what: 'RingReader (read(2) per page) → deliver → s[execname] += 1' },
  { name: 'pages', what: 'pages in memory → deliver → s[execname] += 1' },
  { name: 'empty', what: 'RingReader → deliver → empty handler {}' },
  { name: 'reader', what: 'RingReader alone (decode + merge, no-op callback)' },
  { name: 'argstr', what: 'RingReader → deliver → n += len(argstr) (every event rendered as text)' },
];

/**
 * Runs every variant `runs` times for `seconds` each; returns, per variant, the best run
 * and the spread of all runs. A variant that fails has `error`.
 */
export async function measureEventPath({ runs = 3, seconds = 2, log = (line) => process.stdout.write(line) } = {}) {
  const { build } = await import('esbuild');
  const directory = mkdtempSync(join(tmpdir(), 'ktap-bench-event-path-'));
  const bundle = join(directory, 'event-path-worker.js');
  try {
    await build({
      entryPoints: [join(HERE, 'event-path-worker.ts')], outfile: bundle, bundle: true, platform: 'node',
      target: 'node20', format: 'cjs', logLevel: 'warning',
    });
    const results = [];
    for (const variant of VARIANTS) {
      log(`  event path: ${variant.name} (${variant.what}) ...`);
      const samples = [];
      let error = null;
      for (let run = 0; run < runs && error === null; run++) {
        const result = spawnSync(process.execPath,
          [bundle, '--variant', variant.name, '--fixtures', FIXTURES, '--formats', FORMATS, '--seconds', String(seconds)],
          { encoding: 'utf8', timeout: (seconds + 60) * 1000 });
        const line = (result.stdout ?? '').trim().split('\n').pop() ?? '';
        if (result.status !== 0 || !line.startsWith('{')) {
          const lines = (result.stderr ?? '').split('\n').map((text) => text.trim()).filter((text) => text !== '');
          error = lines.find((text) => /^[A-Za-z]*Error\b/.test(text)) ?? lines[0] ?? `exit status ${result.status}`;
          break;
        }
        samples.push(JSON.parse(line));
      }
      if (error !== null) {
        log(` failed: ${error}\n`);
        results.push({ ...variant, error });
        continue;
      }
      const rates = samples.map((sample) => sample.perSecond);
      const best = samples[rates.indexOf(Math.max(...rates))];
      log(` ${(best.perSecond / 1e6).toFixed(2)} M events/s (runs: ${rates.map((rate) => (rate / 1e6).toFixed(2)).join(', ')})\n`);
      results.push({
        ...variant,
        perSecond: best.perSecond,
        nsPerEvent: best.nsPerEvent,
        worstPerSecond: Math.min(...rates),
        recordsPerPass: best.recordsPerPass,
        checked: samples.every((sample) => sample.checked !== false),
      });
    }
    return results;
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

/** The table of results as text lines. */
export function formatEventPath(results) {
  const lines = [];
  lines.push(`${'variant'.padEnd(8)} ${'includes'.padEnd(58)} ${'M events/s'.padStart(10)} ${'ns/event'.padStart(9)}  ${'spread'.padStart(6)}`);
  lines.push('-'.repeat(lines[0].length));
  for (const result of results) {
    if (result.error) {
      lines.push(`${result.name.padEnd(8)} ${result.what.padEnd(58)} failed: ${result.error}`);
      continue;
    }
    const spread = `${(100 * (1 - result.worstPerSecond / result.perSecond)).toFixed(0)} %`;
    lines.push(`${result.name.padEnd(8)} ${result.what.padEnd(58)} ${(result.perSecond / 1e6).toFixed(2).padStart(10)} ` +
      `${result.nsPerEvent.toFixed(1).padStart(9)}  ${spread.padStart(6)}${result.checked ? '' : '  COUNT MISMATCH'}`);
  }
  const by = Object.fromEntries(results.filter((result) => !result.error).map((result) => [result.name, result.nsPerEvent]));
  if (by.full !== undefined && by.empty !== undefined && by.reader !== undefined) {
    lines.push(`cost per event: reading + decoding ${by.reader.toFixed(1)} ns, dispatch + handler call ` +
      `${(by.empty - by.reader).toFixed(1)} ns, \`s[execname] += 1\` ${(by.full - by.empty).toFixed(1)} ns`);
  }
  return lines;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const option = (name, fallback) => {
    const index = process.argv.indexOf(name);
    return index > 0 ? process.argv[index + 1] : fallback;
  };
  const runs = Number(option('--runs', '3'));
  const seconds = Number(option('--seconds', '2'));
  process.stdout.write(`event path from recorded pages, node ${process.version}, best of ${runs} × ${seconds} s\n`);
  const results = await measureEventPath({ runs, seconds });
  for (const line of formatEventPath(results)) process.stdout.write(line + '\n');
  const full = results.find((result) => result.name === 'full');
  if (full && !full.error) {
    process.stdout.write(`target ≥ ${(TARGET_EVENTS_PER_SECOND / 1e6).toFixed(1)} M events/s: ` +
      `${full.perSecond >= TARGET_EVENTS_PER_SECOND && full.checked ? 'PASS' : 'FAIL'}\n`);
  }
  if (results.some((result) => result.error)) process.exitCode = 1;
}
