#!/usr/bin/env node
// Ctrl-C during and after the largest attach: `trace probe:LIBC:*` places a uprobe on each of
// libc's ~2,600 functions. SIGINT is sent at four moments (while the probes are defined,
// while they are enabled, right after the banner, 3 s later with the ring buffers full of
// every process's libc calls); for each the bench prints the time from SIGINT to ktap's
// exit, until malloc is no longer probed (every process on the machine traps at each malloc
// until then), and until nothing of the run is left in tracefs and its guardian is gone
// (the guardian disables the enabled uprobes, ~27 ms each, from the signal on).
//
//   node bench/attach-interrupt.mjs [--defined 1000] [--enabled 300] [--signal SIGINT]
//                                   [--moments defining,enabling,banner,running]
//   node bench/run.mjs --only interrupt
//
// Needs root and tracefs. Exits 0 unless the harness itself fails.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tracefs = '/sys/kernel/tracing';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const read = (path) => {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return '';
  }
};
const instances = (pid) => readdirSync(join(tracefs, 'instances')).filter((name) => name.startsWith(`ktap-${pid}-`));
const definitions = (pid) => read(join(tracefs, 'uprobe_events')).split('\n').filter((line) => line.includes(`ktap_${pid}`)).length;
const enabled = (pid) => instances(pid).reduce((sum, name) => sum + read(join(tracefs, 'instances', name, 'set_event')).split('\n').filter(Boolean).length, 0);
/** Whether the run's uprobe on malloc (under either of its names) is enabled in one of its instances. */
const mallocProbed = (pid) => instances(pid).some((name) => ['malloc', '__libc_malloc'].some((event) =>
  read(join(tracefs, 'instances', name, 'events', `ktap_${pid}`, event, 'enable')).startsWith('1')));

/** The pid of the guardian of ktap PID (src/probes/guardian.ts: `… ktap-guardian TRACEFS PID`). */
function guardianOf(pid) {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const args = read(`/proc/${name}/cmdline`).split('\0');
    if (args.slice(-4, -1).join(' ') === `ktap-guardian ${tracefs} ${pid}`) return Number(name);
  }
  return undefined;
}

/** Why the bench cannot run here, or null. */
export function interruptUnavailable() {
  if (process.getuid?.() !== 0 || !existsSync(join(tracefs, 'instances'))) return 'needs root and tracefs';
  if (libcPath() === undefined) return 'no libc.so.6 mapped';
  return null;
}

function libcPath() {
  return /\s(\/\S*\/libc\.so\.6)$/m.exec(readFileSync('/proc/self/maps', 'latin1'))?.[1];
}

/** One run: ktap on the libc glob, SIGNAL once READY says so; the times after it. */
async function interrupt(libc, signal, ready) {
  const ktap = spawn(process.execPath, [join(root, 'bin', 'ktap'), '-e', `trace probe:${libc}:* { }`], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  ktap.stdout.on('data', (chunk) => (output += chunk));
  ktap.stderr.on('data', (chunk) => (output += chunk));
  const exited = new Promise((resolve) => ktap.on('exit', (code, how) => resolve({ code, how, at: performance.now() })));
  const started = performance.now();
  let state = '';
  while (ktap.exitCode === null) {
    state = ready(ktap.pid, output);
    if (state) break;
    await sleep(20);
  }
  const guardian = guardianOf(ktap.pid);
  const wasProbed = mallocProbed(ktap.pid);
  const signalled = performance.now();
  ktap.kill(signal);
  let unprobed = wasProbed ? null : 0;
  const watchMalloc = (async () => {
    while (unprobed === null && performance.now() - signalled < 300_000) {
      if (!mallocProbed(ktap.pid)) unprobed = performance.now() - signalled;
      else await sleep(10);
    }
  })();
  const end = await exited;
  const alive = () => guardian !== undefined && existsSync(`/proc/${guardian}`);
  while ((instances(ktap.pid).length > 0 || definitions(ktap.pid) > 0 || alive()) && performance.now() - signalled < 300_000) await sleep(50);
  const gone = performance.now() - signalled;
  await watchMalloc;
  return {
    state,
    after: (signalled - started) / 1000,
    exitMs: end.at - signalled,
    exit: end.code ?? end.how,
    mallocMs: unprobed,
    goneS: gone / 1000,
    left: instances(ktap.pid).length + definitions(ktap.pid),
    guardianLeft: alive(),
    output,
  };
}

/**
 * Runs the moments wanted (`defining`, `enabling`, `banner`, `running`); LOG gets each line of the
 * table as it is measured. Returns the results by moment.
 */
export async function measureAttachInterrupt({
  definedAt = 1000, enabledAt = 300, signal = 'SIGINT', moments: wanted = ['defining', 'enabling', 'banner', 'running'], log = (line) => console.log(line),
} = {}) {
  const libc = libcPath();
  spawnSync(process.execPath, [join(root, 'build.mjs')], { cwd: root, stdio: 'ignore' });
  log(`${signal} during and after the attach of probe:${libc}:*`);
  log(`${'when'.padEnd(30)} ${'state at the signal'.padEnd(20)} ${'after'.padStart(7)} ${'→ exit'.padStart(9)} ${'malloc free'.padStart(12)} ${'all gone'.padStart(9)}  exit`);
  const moments = [
    ['defining', 'while the probes are defined', (pid) => (definitions(pid) >= definedAt ? `${definitions(pid)} defined` : '')],
    ['enabling', 'while they are enabled', (pid) => (enabled(pid) >= enabledAt ? `${enabled(pid)} enabled` : '')],
    ['banner', 'right after the banner', (pid, output) => (output.includes('Tracing...') ? `${enabled(pid)} enabled` : '')],
    ['running', '3 s after the banner', (() => {
      let bannerAt;
      return (pid, output) => {
        if (!output.includes('Tracing...')) return '';
        bannerAt ??= performance.now();
        return performance.now() - bannerAt >= 3000 ? `${enabled(pid)} enabled` : '';
      };
    })()],
  ];
  const results = {};
  for (const [name, when, ready] of moments) {
    if (!wanted.includes(name)) continue;
    const result = await interrupt(libc, signal, ready);
    results[name] = result;
    const malloc = result.mallocMs === null ? 'never' : `${result.mallocMs.toFixed(0)} ms`;
    const left = result.left > 0 || result.guardianLeft ? `  LEFT: ${result.left} entries${result.guardianLeft ? ', guardian alive' : ''}` : '';
    log(`${when.padEnd(30)} ${result.state.padEnd(20)} ${result.after.toFixed(1).padStart(5)} s ${result.exitMs.toFixed(0).padStart(6)} ms ` +
      `${malloc.padStart(12)} ${result.goneS.toFixed(1).padStart(7)} s  ${result.exit}${left}`);
  }
  return results;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const why = interruptUnavailable();
  if (why !== null) {
    console.log(`SKIPPED: ${why}`);
    process.exit(0);
  }
  const option = (name, fallback) => {
    const index = process.argv.indexOf(name);
    return index < 0 ? fallback : process.argv[index + 1];
  };
  await measureAttachInterrupt({
    definedAt: Number(option('--defined', 1000)),
    enabledAt: Number(option('--enabled', 300)),
    signal: option('--signal', 'SIGINT'),
    moments: option('--moments', 'defining,enabling,banner,running').split(','),
  });
}
