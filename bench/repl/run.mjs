#!/usr/bin/env node
// The REPL benchmarks (bench/README.md, "REPL"): on a real pseudo-terminal (bench/repl/
// pty_bench.py), the time from Enter to "attached" for `trace syscalls:sys_enter_* {}`, and
// the keystroke echo latency with and without 100,000 events/s flowing through a handler
// (and with that handler printing a line every N events).
//
//   node build.mjs && node bench/repl/run.mjs [--sessions N] [--reattaches N] [--keys N] [--rate R]
//                                             [--print-every N]
//
// Needs root (tracefs), python3 and cc. Exit code 0 whether or not the targets are met (a
// benchmark, not a test); non-zero only when the harness itself breaks.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
const KTAP = join(ROOT, 'bin', 'ktap');
const TARGET_ATTACH_MS = 300;
const TARGET_ECHO_P99_MS = 20;

const options = { sessions: 5, reattaches: 4, keys: 500, rate: 100_000, 'print-every': 50 };
const argv = process.argv.slice(2);
for (let index = 0; index < argv.length; index += 2) {
  const name = argv[index]?.replace(/^--/, '');
  const value = Number(argv[index + 1]);
  if (!(name in options) || !Number.isInteger(value) || value < 0) {
    process.stderr.write('usage: node bench/repl/run.mjs [--sessions N] [--reattaches N] [--keys N] [--rate R] [--print-every N]\n');
    process.exit(2);
  }
  options[name] = value;
}

function unavailable() {
  if (process.getuid?.() !== 0) return 'needs root (tracefs)';
  const events = spawnSync(process.execPath, [KTAP, '-le', 'syscalls:sys_enter_getppid'], { encoding: 'utf8' });
  if (events.status !== 0 || !events.stdout.includes('sys_enter_getppid')) return `no syscall tracepoints: ${events.stderr.trim()}`;
  for (const tool of ['python3', 'cc']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `needs ${tool}`;
  }
  return undefined;
}

const reason = unavailable();
if (reason !== undefined) {
  process.stdout.write(`REPL benchmark skipped: ${reason}\n`);
  process.exit(0);
}

const work = mkdtempSync(join(tmpdir(), 'ktap-bench-repl-'));
try {
  const load = join(work, 'load');
  execFileSync('cc', ['-O2', '-o', load, join(HERE, 'load.c')]);
  const driver = (...args) => {
    const result = spawnSync('python3', [join(HERE, 'pty_bench.py'), ...args.map(String)], {
      encoding: 'utf8',
      env: { ...process.env, KTAP_BENCH_HOME: work, KTAP_BENCH_NODE: process.execPath },
      timeout: 600_000,
    });
    if (result.status !== 0) throw new Error(`pty_bench.py ${args[0]} failed:\n${result.stderr || result.error}`);
    return JSON.parse(result.stdout);
  };

  process.stdout.write(`REPL benchmarks (Node ${process.version}, ${cpus().length} CPUs, load average ${loadavg()[0].toFixed(2)})\n\n`);
  const attach = driver('attach', KTAP, options.sessions, options.reattaches);
  const idle = driver('echo', KTAP, load, 0, options.keys);
  const busy = driver('echo', KTAP, load, options.rate, options.keys);
  const printing = driver('echo', KTAP, load, options.rate, options.keys, options['print-every']);

  const verdict = (value, target) => (value <= target ? 'PASS' : 'FAIL');
  const rows = [
    ['measure', 'p50 ms', 'p99 ms', 'max ms', 'target', 'verdict'],
    [`Enter → attached, first in a session (${attach.events} events, ${attach.first_ms.count} sessions)`,
      attach.first_ms.p50, attach.first_ms.p99, attach.first_ms.max, `≤ ${TARGET_ATTACH_MS} ms`, verdict(attach.first_ms.max, TARGET_ATTACH_MS)],
    [`Enter → attached, again after .detach all (${attach.reattach_ms.count} times)`,
      attach.reattach_ms.p50, attach.reattach_ms.p99, attach.reattach_ms.max, `≤ ${TARGET_ATTACH_MS} ms`, verdict(attach.reattach_ms.max, TARGET_ATTACH_MS)],
    [`key echo, no events (${idle.echo_ms.count} keys)`, idle.echo_ms.p50, idle.echo_ms.p99, idle.echo_ms.max, '', ''],
    [`key echo, ${busy.rate_made} getppid/s through { n += 1 } (${busy.echo_ms.count} keys)`,
      busy.echo_ms.p50, busy.echo_ms.p99, busy.echo_ms.max, `p99 ≤ ${TARGET_ECHO_P99_MS} ms`, verdict(busy.echo_ms.p99, TARGET_ECHO_P99_MS)],
    [`key echo, the same, printing ${Math.round(printing.rate_made / printing.print_every)} lines/s above the line (${printing.echo_ms.count} keys)`,
      printing.echo_ms.p50, printing.echo_ms.p99, printing.echo_ms.max, `p99 ≤ ${TARGET_ECHO_P99_MS} ms`, verdict(printing.echo_ms.p99, TARGET_ECHO_P99_MS)],
  ];
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => String(row[column]).length)));
  for (const row of rows) process.stdout.write(row.map((cell, column) => String(cell).padEnd(widths[column])).join('  ').trimEnd() + '\n');
  for (const [label, run] of [['under load', busy], ['under load, printing', printing]]) {
    process.stdout.write(`${label}: ${run.handler_runs} handler runs for ${run.calls} calls, ${run.lost} events lost; ` +
      `ktap used ${(run.ktap_cpu * 100).toFixed(1)} % of a CPU while the keys were typed\n`);
  }
  // Instances of ktap processes that are gone (others may be running tests meanwhile).
  const left = readdirSync('/sys/kernel/tracing/instances').filter((name) => /^ktap-\d+-/.test(name) && !alive(Number(name.split('-')[1])));
  if (left.length > 0) process.stdout.write(`WARNING: tracefs instances left behind: ${left.join(' ')}\n`);
} finally {
  rmSync(work, { recursive: true, force: true });
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}
